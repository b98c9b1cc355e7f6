import NetCore

/// An overlay network as every host sees it: the value of its `config` key in etcd, written
/// once by `network create` (create-if-absent) and never changed after.
public struct OverlayNetworkConfig: Sendable, Hashable {
    public var id: String
    /// The whole network, cut into per-host shares.
    public var subnet: CIDR
    /// The prefix length of one host's share.
    public var shareLength: Int
    public var vni: UInt32
    /// The VXLAN UDP port.
    public var port: UInt16
    /// `--mtu`: every host uses it; without it each host takes its underlay's MTU minus 50.
    public var mtu: UInt32?
    public var isInternal: Bool
    public var labels: [String: String]
    public var created: Int64

    public static let defaultPort: UInt16 = 4789
    /// The VXLAN, UDP, IPv4 and inner Ethernet headers around every inner packet.
    public static let encapsulationOverhead: UInt32 = 50

    public init(id: String, subnet: CIDR, shareLength: Int, vni: UInt32, port: UInt16 = OverlayNetworkConfig.defaultPort,
                mtu: UInt32? = nil, isInternal: Bool = false, labels: [String: String] = [:], created: Int64 = 0) {
        self.id = id
        self.subnet = subnet
        self.shareLength = shareLength
        self.vni = vni
        self.port = port
        self.mtu = mtu
        self.isInternal = isInternal
        self.labels = labels
        self.created = created
    }

    /// A host's share when the request names none: a /24, or two bits more than a network
    /// smaller than a /22 (so it still holds four hosts).
    public static func defaultShareLength(for subnet: CIDR) -> Int {
        subnet.prefixLength <= 22 ? 24 : min(subnet.prefixLength + 2, 30)
    }

    public var json: JSON {
        var object: JSONObject = ["Id": .string(id), "Subnet": .string(subnet.description), "HostSubnetSize": .int(Int64(shareLength)),
                                  "VNI": .int(Int64(vni)), "Port": .int(Int64(port)), "Internal": .bool(isInternal),
                                  "Created": .int(created)]
        if let mtu { object["MTU"] = .int(Int64(mtu)) }
        if !labels.isEmpty { object["Labels"] = .object(JSONObject(labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })) }
        return .object(object)
    }

    public init(json: JSON) throws {
        guard let id = json["Id"]?.stringValue, let subnet = json["Subnet"]?.stringValue.flatMap(CIDR.init),
              let length = json["HostSubnetSize"]?.intValue, let vni = json["VNI"]?.intValue.flatMap(UInt32.init(exactly:)),
              let port = json["Port"]?.intValue.flatMap(UInt16.init(exactly:)) else {
            throw NetworkError(code: .internalError, message: "overlay network config is malformed: \(json)")
        }
        var labels: [String: String] = [:]
        for (key, value) in json["Labels"]?.objectValue ?? JSONObject() { labels[key] = value.stringValue }
        self.init(id: id, subnet: subnet, shareLength: Int(length), vni: vni, port: port,
                  mtu: json["MTU"]?.intValue.flatMap(UInt32.init(exactly:)), isInternal: json["Internal"]?.boolValue ?? false,
                  labels: labels, created: json["Created"]?.intValue ?? 0)
    }
}

/// One host's slice of an overlay network: the value of its share key in etcd, on that host's
/// lease, so it goes when the host does.
public struct OverlayShare: Sendable, Hashable {
    public var subnet: CIDR
    /// The host's ID (random, kept in its store) and name (for people).
    public var hostID: String
    public var hostName: String
    /// Where the host's VXLAN packets come from and go to.
    public var underlay: IPAddress
    /// The MAC of the host's VXLAN device: the neighbour entry of its gateway (`.0`).
    public var vtepMAC: MACAddress
    /// Endpoints the host has on the network (kept current by its agent, for `network rm`).
    public var endpoints: Int

    public init(subnet: CIDR, hostID: String, hostName: String, underlay: IPAddress, vtepMAC: MACAddress, endpoints: Int = 0) {
        self.subnet = subnet
        self.hostID = hostID
        self.hostName = hostName
        self.underlay = underlay
        self.vtepMAC = vtepMAC
        self.endpoints = endpoints
    }

    /// The share's first address: on the host's VXLAN device, the next hop of the others' routes.
    public var tunnelAddress: IPAddress { subnet.networkAddress }

    /// The key's last part: `10.200.1.0-24`, as flannel names its leases.
    public var keyName: String { "\(subnet.networkAddress)-\(subnet.prefixLength)" }

    public var json: JSON {
        ["Subnet": .string(subnet.description), "Host": .string(hostID), "HostName": .string(hostName),
         "Underlay": .string(underlay.description), "VtepMAC": .string(vtepMAC.description), "Endpoints": .int(Int64(endpoints))]
    }

    public init(json: JSON) throws {
        guard let subnet = json["Subnet"]?.stringValue.flatMap(CIDR.init), let host = json["Host"]?.stringValue,
              let underlay = json["Underlay"]?.stringValue.flatMap(IPAddress.init),
              let mac = json["VtepMAC"]?.stringValue.flatMap({ try? MACAddress(parsing: $0) }) else {
            throw NetworkError(code: .internalError, message: "overlay share is malformed: \(json)")
        }
        self.init(subnet: subnet, hostID: host, hostName: json["HostName"]?.stringValue ?? host, underlay: underlay, vtepMAC: mac,
                  endpoints: Int(json["Endpoints"]?.intValue ?? 0))
    }
}

/// What the agent on this host recorded for the local commands: who this host is in the
/// overlay, how to reach etcd, and the underlay.
public struct OverlayAgentRecord: Sendable, Hashable {
    public var hostID: String
    public var hostName: String
    public var endpoints: [String]
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var prefix: String
    public var underlay: IPAddress
    public var underlayInterface: String
    public var underlayMTU: UInt32
    /// The etcd lease the host's keys are on (reused by an agent restarted within its TTL).
    public var lease: Int64
    public var leaseTTL: Int64
    /// The running agent, so a command can tell whether one is there.
    public var process: ReservingProcess?

    public init(hostID: String, hostName: String, endpoints: [String], caFile: String? = nil, certFile: String? = nil,
                keyFile: String? = nil, prefix: String, underlay: IPAddress, underlayInterface: String, underlayMTU: UInt32,
                lease: Int64 = 0, leaseTTL: Int64 = 0, process: ReservingProcess? = nil) {
        self.hostID = hostID
        self.hostName = hostName
        self.endpoints = endpoints
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.prefix = prefix
        self.underlay = underlay
        self.underlayInterface = underlayInterface
        self.underlayMTU = underlayMTU
        self.lease = lease
        self.leaseTTL = leaseTTL
        self.process = process
    }

    /// Whether the agent that wrote it still runs.
    public var isRunning: Bool { process.map { !$0.isGone } ?? false }

    var json: JSON {
        var object: JSONObject = ["HostId": .string(hostID), "HostName": .string(hostName), "Endpoints": .array(endpoints.map(JSON.string)),
                                  "Prefix": .string(prefix), "Underlay": .string(underlay.description),
                                  "UnderlayInterface": .string(underlayInterface), "UnderlayMTU": .int(Int64(underlayMTU)),
                                  "Lease": .string(String(lease)), "LeaseTTL": .int(leaseTTL)]
        if let caFile { object["CACert"] = .string(caFile) }
        if let certFile { object["Cert"] = .string(certFile) }
        if let keyFile { object["Key"] = .string(keyFile) }
        if let process { object["Process"] = process.json }
        return .object(object)
    }

    init(json: JSON) throws {
        guard let host = json["HostId"]?.stringValue, let prefix = json["Prefix"]?.stringValue,
              let underlay = json["Underlay"]?.stringValue.flatMap(IPAddress.init) else {
            throw NetworkError(code: .internalError, message: "the overlay agent's record is malformed: \(json)")
        }
        self.init(hostID: host, hostName: json["HostName"]?.stringValue ?? host,
                  endpoints: (json["Endpoints"]?.arrayValue ?? []).compactMap(\.stringValue),
                  caFile: json["CACert"]?.stringValue, certFile: json["Cert"]?.stringValue, keyFile: json["Key"]?.stringValue,
                  prefix: prefix, underlay: underlay, underlayInterface: json["UnderlayInterface"]?.stringValue ?? "",
                  underlayMTU: json["UnderlayMTU"]?.intValue.flatMap(UInt32.init(exactly:)) ?? 1500,
                  lease: json["Lease"]?.stringValue.flatMap(Int64.init) ?? 0, leaseTTL: json["LeaseTTL"]?.intValue ?? 0,
                  process: json["Process"].flatMap(ReservingProcess.init(json:)))
    }
}
