import NetCore

/// An ADD result, independent of the spec version it is read from or printed in.
public struct CNIResult: Sendable, Hashable {
    public struct Interface: Sendable, Hashable {
        public var name: String
        public var mac: String?
        public var mtu: Int?
        /// The netns path for interfaces inside the container; `nil` on the host.
        public var sandbox: String?
        public var socketPath: String?
        public var pciID: String?

        public init(name: String, mac: String? = nil, mtu: Int? = nil, sandbox: String? = nil) {
            self.name = name
            self.mac = mac
            self.mtu = mtu
            self.sandbox = sandbox
        }
    }

    public struct IPConfig: Sendable, Hashable {
        public var address: CIDR
        public var gateway: IPAddress?
        /// Index into ``CNIResult/interfaces``.
        public var interface: Int?

        public init(address: CIDR, gateway: IPAddress? = nil, interface: Int? = nil) {
            self.address = address
            self.gateway = gateway
            self.interface = interface
        }
    }

    public struct Route: Sendable, Hashable {
        public var destination: CIDR
        public var gateway: IPAddress?
        public var mtu: Int?
        public var advmss: Int?
        public var priority: Int?
        public var table: Int?
        public var scope: Int?

        public init(destination: CIDR, gateway: IPAddress? = nil) {
            self.destination = destination
            self.gateway = gateway
        }
    }

    public struct DNS: Sendable, Hashable {
        public var nameservers: [String] = []
        public var domain: String?
        public var search: [String] = []
        public var options: [String] = []

        public init() {}
        public var isEmpty: Bool { nameservers.isEmpty && domain == nil && search.isEmpty && options.isEmpty }
    }

    public var interfaces: [Interface] = []
    public var ips: [IPConfig] = []
    public var routes: [Route] = []
    public var dns = DNS()

    public init() {}
}

// MARK: - Printing

extension CNIResult {
    /// The result as `version` prints it: `ips[].version` before 1.0.0, interface MTU,
    /// socket path and PCI ID from 1.0.0 on, empty members left out.
    public func json(version: CNIVersion) -> JSON {
        var object: JSONObject = ["cniVersion": .string(version.description)]
        if !interfaces.isEmpty {
            object["interfaces"] = .array(interfaces.map { interface in
                var entry: JSONObject = ["name": .string(interface.name)]
                entry["mac"] = interface.mac.map(JSON.string)
                if version.hasInterfaceDetails {
                    entry["mtu"] = interface.mtu.map { .int(Int64($0)) }
                }
                entry["sandbox"] = interface.sandbox.map(JSON.string)
                if version.hasInterfaceDetails {
                    entry["socketPath"] = interface.socketPath.map(JSON.string)
                    entry["pciID"] = interface.pciID.map(JSON.string)
                }
                return .object(entry)
            })
        }
        if !ips.isEmpty {
            object["ips"] = .array(ips.map { ip in
                var entry = JSONObject()
                if version.hasIPVersionField { entry["version"] = .string(ip.address.family == .v4 ? "4" : "6") }
                entry["interface"] = ip.interface.map { .int(Int64($0)) }
                entry["address"] = .string(ip.address.description)
                entry["gateway"] = ip.gateway.map { .string($0.description) }
                return .object(entry)
            })
        }
        if !routes.isEmpty {
            object["routes"] = .array(routes.map { route in
                var entry: JSONObject = ["dst": .string(route.destination.description)]
                entry["gw"] = route.gateway.map { .string($0.description) }
                for (key, value) in [("mtu", route.mtu), ("advmss", route.advmss), ("priority", route.priority),
                                     ("table", route.table), ("scope", route.scope)] {
                    entry[key] = value.map { .int(Int64($0)) }
                }
                return .object(entry)
            })
        }
        if !dns.isEmpty {
            var entry = JSONObject()
            if !dns.nameservers.isEmpty { entry["nameservers"] = .array(dns.nameservers.map(JSON.string)) }
            entry["domain"] = dns.domain.map(JSON.string)
            if !dns.search.isEmpty { entry["search"] = .array(dns.search.map(JSON.string)) }
            if !dns.options.isEmpty { entry["options"] = .array(dns.options.map(JSON.string)) }
            object["dns"] = .object(entry)
        }
        return .object(object)
    }
}

// MARK: - Reading

extension CNIResult {
    /// Reads a result (a `prevResult`, or a delegate's output) of any supported version.
    ///
    /// - Throws: ``CNIError`` code 6 naming the member that does not decode.
    public init(json: JSON) throws {
        guard let object = json.objectValue else {
            throw CNIError(.decodingFailure, "a result must be a JSON object", details: "got \(json.kindName)")
        }
        func fail(_ what: String, _ value: JSON) -> CNIError {
            CNIError(.decodingFailure, "cannot decode result member \(what): \(value.serialized())")
        }
        func int(_ value: JSON?) -> Int? { value?.intValue.map { Int($0) } }

        for entry in object["interfaces"]?.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue else { throw fail("interfaces[].name", entry) }
            var interface = Interface(name: name, mac: entry["mac"]?.stringValue, mtu: int(entry["mtu"]), sandbox: entry["sandbox"]?.stringValue)
            interface.socketPath = entry["socketPath"]?.stringValue
            interface.pciID = entry["pciID"]?.stringValue
            interfaces.append(interface)
        }
        for entry in object["ips"]?.arrayValue ?? [] {
            guard let text = entry["address"]?.stringValue, let address = CIDR(text) else { throw fail("ips[].address", entry) }
            var gateway: IPAddress?
            if let text = entry["gateway"]?.stringValue {
                guard let parsed = IPAddress(text) else { throw fail("ips[].gateway", entry) }
                gateway = parsed
            }
            ips.append(IPConfig(address: address, gateway: gateway, interface: int(entry["interface"])))
        }
        for entry in object["routes"]?.arrayValue ?? [] {
            guard let text = entry["dst"]?.stringValue, let destination = CIDR(text) else { throw fail("routes[].dst", entry) }
            var route = Route(destination: destination)
            if let text = entry["gw"]?.stringValue {
                guard let gateway = IPAddress(text) else { throw fail("routes[].gw", entry) }
                route.gateway = gateway
            }
            route.mtu = int(entry["mtu"])
            route.advmss = int(entry["advmss"])
            route.priority = int(entry["priority"])
            route.table = int(entry["table"])
            route.scope = int(entry["scope"])
            routes.append(route)
        }
        if let entry = object["dns"]?.objectValue {
            dns.nameservers = entry["nameservers"]?.arrayValue?.compactMap(\.stringValue) ?? []
            dns.domain = entry["domain"]?.stringValue
            dns.search = entry["search"]?.arrayValue?.compactMap(\.stringValue) ?? []
            dns.options = entry["options"]?.arrayValue?.compactMap(\.stringValue) ?? []
        }
    }
}
