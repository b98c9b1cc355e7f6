import Firewall
import NetCore

/// How the registry keeps firewall networks and published ports in the store: as JSON text,
/// so the columns stay readable with `sqlite3` and the format can grow without migrations.
extension FirewallNetwork {
    var record: JSON {
        var record: JSONObject = [
            "name": .string(name), "bridge": .string(bridge.rawValue),
            "subnets": .array(subnets.map { .string($0.description) }),
            "masquerade": .bool(masquerade), "internal": .bool(isInternal), "localhostDNAT": .bool(localhostDNAT),
        ]
        // Only when there is one: a network without stays the text it always was.
        if let tunnel { record["tunnel"] = .string(tunnel.rawValue) }
        return .object(record)
    }

    init(record: JSON) throws {
        guard let name = record["name"]?.stringValue, let bridge = record["bridge"]?.stringValue,
              let subnets = record["subnets"]?.arrayValue else {
            throw NetworkError(code: .internalError, message: "stored firewall network is malformed: \(record)")
        }
        self.init(name: name, bridge: try InterfaceName(bridge),
                  subnets: try subnets.map { try CIDR(parsing: $0.stringValue ?? "", field: "stored subnet") },
                  masquerade: record["masquerade"]?.boolValue ?? false, isInternal: record["internal"]?.boolValue ?? false,
                  localhostDNAT: record["localhostDNAT"]?.boolValue ?? false,
                  tunnel: try record["tunnel"]?.stringValue.map { try InterfaceName($0, field: "stored tunnel") })
    }

    /// One definition for every attachment that shares the bridge: all their subnets, each
    /// option on when any attachment asked for it, and the first tunnel any of them names.
    static func merged(_ networks: [FirewallNetwork]) -> FirewallNetwork? {
        guard var merged = networks.first else { return nil }
        for network in networks.dropFirst() {
            for subnet in network.subnets where !merged.subnets.contains(subnet) { merged.subnets.append(subnet) }
            merged.masquerade = merged.masquerade || network.masquerade
            merged.isInternal = merged.isInternal || network.isInternal
            merged.localhostDNAT = merged.localhostDNAT || network.localhostDNAT
            merged.tunnel = merged.tunnel ?? network.tunnel
        }
        return merged
    }
}

extension PublishedPort {
    static func records(_ ports: [PublishedPort]) -> JSON {
        .array(ports.map { ["mapping": .string($0.mapping.description), "container": .string($0.containerAddress.description),
                            "owner": .string($0.owner)] })
    }

    static func from(records: JSON) throws -> [PublishedPort] {
        try (records.arrayValue ?? []).map { record in
            try PublishedPort(parsing: record["mapping"]?.stringValue ?? "",
                              containerAddress: IPAddress(parsing: record["container"]?.stringValue ?? "", field: "stored container address"),
                              owner: record["owner"]?.stringValue ?? "")
        }
    }
}
