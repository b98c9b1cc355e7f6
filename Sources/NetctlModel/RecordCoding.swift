import NetCore

/// The `definition` column of each model table: JSON, also what `inspect --format json` prints.
extension NetworkRecord {
    public var json: JSON {
        var object: JSONObject = ["Name": .string(name), "Id": .string(id), "Driver": .string(driver.description),
         "Created": .int(created),
         "IPAM": ["Config": .array(subnets.map { subnet in
             var config: JSONObject = ["Subnet": .string(subnet.subnet.description)]
             if let range = subnet.ipRange { config["IPRange"] = .string(range.description) }
             if let gateway = subnet.gateway { config["Gateway"] = .string(gateway.description) }
             return .object(config)
         })],
         "AuxiliaryAddresses": .object(JSONObject(auxAddresses.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.description)) })),
         "Options": .object(JSONObject(options.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
         "Labels": .object(JSONObject(labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
         "Internal": .bool(isInternal), "EnableIPv6": .bool(ipv6)]
        if !createdLinks.isEmpty { object["CreatedLinks"] = .array(createdLinks.map(JSON.string)) }
        if isBeingRemoved { object["Removing"] = .bool(true) }
        object["DNSEnabled"] = .bool(dnsEnabled)
        return .object(object)
    }

    init(json: JSON) throws {
        guard let name = json["Name"]?.stringValue, let id = json["Id"]?.stringValue,
              let driver = json["Driver"]?.stringValue else { throw malformed("network", json) }
        self.init(
            name: name, id: id, driver: try DriverKind(parsing: driver),
            subnets: try (json["IPAM"]?["Config"]?.arrayValue ?? []).map { config in
                SubnetSpec(subnet: try CIDR(parsing: config["Subnet"]?.stringValue ?? "", field: "stored subnet"),
                           ipRange: try config["IPRange"]?.stringValue.map { try CIDR(parsing: $0, field: "stored ip range") },
                           gateway: try config["Gateway"]?.stringValue.map { try IPAddress(parsing: $0, field: "stored gateway") })
            },
            auxAddresses: try strings(json["AuxiliaryAddresses"]).mapValues { try IPAddress(parsing: $0, field: "stored aux address") },
            options: strings(json["Options"]), labels: strings(json["Labels"]),
            isInternal: json["Internal"]?.boolValue ?? false, ipv6: json["EnableIPv6"]?.boolValue ?? false,
            created: json["Created"]?.intValue ?? 0,
            createdLinks: (json["CreatedLinks"]?.arrayValue ?? []).compactMap(\.stringValue),
            isBeingRemoved: json["Removing"]?.boolValue ?? false,
            // Bridge networks made before the resolver have it from now on, as new ones do.
            dnsEnabled: json["DNSEnabled"]?.boolValue ?? (driver == "bridge"))
    }
}

extension SandboxRecord {
    public var json: JSON {
        var object: JSONObject = ["Name": .string(name), "Id": .string(id), "Path": .string(path),
                                  "Owned": .bool(isOwned), "Created": .int(created)]
        if let sharesWith { object["SharesNamespaceWith"] = .string(sharesWith) }
        return .object(object)
    }

    init(json: JSON) throws {
        guard let name = json["Name"]?.stringValue, let id = json["Id"]?.stringValue,
              let path = json["Path"]?.stringValue else { throw malformed("sandbox", json) }
        self.init(name: name, id: id, path: path, isOwned: json["Owned"]?.boolValue ?? false,
                  sharesWith: json["SharesNamespaceWith"]?.stringValue, created: json["Created"]?.intValue ?? 0)
    }
}

extension EndpointRecord {
    public var json: JSON {
        var object: JSONObject = ["Network": .string(network), "Sandbox": .string(sandbox), "Interface": .string(interface),
                                  "Addresses": .array(addresses.map { .string($0.description) }),
                                  "Aliases": .array(aliases.map(JSON.string)),
                                  "Ports": .array(ports.map { .string($0.description) })]
        if let mac { object["MacAddress"] = .string(mac) }
        if let dockerEndpointID { object["DockerEndpointId"] = .string(dockerEndpointID) }
        if !nameservers.isEmpty { object["Nameservers"] = .array(nameservers.map { .string($0.description) }) }
        if let reservedBy { object["ReservedBy"] = reservedBy.json }
        return .object(object)
    }

    init(json: JSON) throws {
        guard let network = json["Network"]?.stringValue, let sandbox = json["Sandbox"]?.stringValue,
              let interface = json["Interface"]?.stringValue else { throw malformed("endpoint", json) }
        self.init(network: network, sandbox: sandbox, interface: interface,
                  addresses: try (json["Addresses"]?.arrayValue ?? []).map { try CIDR(parsing: $0.stringValue ?? "", field: "stored address") },
                  mac: json["MacAddress"]?.stringValue,
                  aliases: (json["Aliases"]?.arrayValue ?? []).compactMap(\.stringValue),
                  ports: try (json["Ports"]?.arrayValue ?? []).map { try PortMapping(parsing: $0.stringValue ?? "") },
                  reservedBy: json["ReservedBy"].flatMap(ReservingProcess.init(json:)),
                  nameservers: (json["Nameservers"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(IPAddress.init) })
    }
}

extension ReservingProcess {
    var json: JSON {
        ["Pid": .int(Int64(pid)), "StartTime": .int(Int64(clamping: startTime)), "PidNamespace": .int(Int64(clamping: pidNamespace))]
    }

    init?(json: JSON) {
        guard let pid = json["Pid"]?.intValue.flatMap(Int32.init(exactly:)),
              let start = json["StartTime"]?.intValue.flatMap(UInt64.init(exactly:)),
              let namespace = json["PidNamespace"]?.intValue.flatMap(UInt64.init(exactly:)) else { return nil }
        self.init(pid: pid, startTime: start, pidNamespace: namespace)
    }
}

private func strings(_ json: JSON?) -> [String: String] {
    var result: [String: String] = [:]
    for (key, value) in json?.objectValue ?? JSONObject() { result[key] = value.stringValue }
    return result
}

private func malformed(_ kind: String, _ json: JSON) -> NetworkError {
    NetworkError(code: .internalError, message: "stored \(kind) is malformed: \(json)")
}
