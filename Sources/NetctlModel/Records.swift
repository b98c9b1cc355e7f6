import NetCore

/// What kind of network a netctl network is.
public enum DriverKind: Sendable, Hashable, CustomStringConvertible {
    /// A namespace with only `lo` up: connecting adds no interface.
    case null
    /// The host's own namespace: nothing to create, no isolation, no published ports.
    case host
    case bridge
    case macvlan
    /// A network across hosts: a bridge on each host, VXLAN between them, the hosts' shares
    /// of its subnet kept in etcd by `netctl agent`.
    case overlay
    /// Any CNI plugin found in the CNI directories, run through the CNI runtime.
    case cni(String)

    /// - Parameter field: how the caller names the field, for the error.
    public init(parsing text: String, field: String = FieldNames().driver) throws {
        switch text {
        case "null", "none": self = .null
        case "host": self = .host
        case "bridge": self = .bridge
        case "macvlan": self = .macvlan
        case "overlay": self = .overlay
        default:
            guard text.hasPrefix("cni:"), text.count > 4 else {
                throw NetworkError.invalid(field, text, "must be one of null, host, bridge, macvlan, overlay, cni:<plugin type>")
            }
            self = .cni(String(text.dropFirst(4)))
        }
    }

    /// Whether its endpoints hang off a Linux bridge netctl makes on this host, with the
    /// gateway on it: bridge networks, and overlay networks on each host.
    public var hasHostBridge: Bool {
        switch self {
        case .bridge, .overlay: true
        case .null, .host, .macvlan, .cni: false
        }
    }

    /// Whether one network spans hosts (overlay): made and removed through every host's agent,
    /// with shares of its subnet per host, and never removed as a side effect on one host.
    public var spansHosts: Bool {
        switch self {
        case .overlay: true
        case .null, .host, .bridge, .macvlan, .cni: false
        }
    }

    /// Whether its endpoints take addresses from its subnets (not null or host: they add no
    /// interface, so a subnet, a range or a gateway means nothing there).
    public var hasAddresses: Bool {
        switch self {
        case .bridge, .macvlan, .overlay, .cni: true
        case .null, .host: false
        }
    }

    public var description: String {
        switch self {
        case .null: "null"
        case .host: "host"
        case .bridge: "bridge"
        case .macvlan: "macvlan"
        case .overlay: "overlay"
        case .cni(let type): "cni:\(type)"
        }
    }
}

/// One subnet of a network with the parts of it netctl hands out.
public struct SubnetSpec: Sendable, Hashable {
    public var subnet: CIDR
    /// `--ip-range`: addresses are handed out from here only.
    public var ipRange: CIDR?
    public var gateway: IPAddress?

    public init(subnet: CIDR, ipRange: CIDR? = nil, gateway: IPAddress? = nil) {
        self.subnet = subnet
        self.ipRange = ipRange
        self.gateway = gateway
    }
}

/// A network as `netctl network create` made it.
public struct NetworkRecord: Sendable, Hashable {
    public var name: String
    public var id: String
    public var driver: DriverKind
    public var subnets: [SubnetSpec]
    /// `--aux-address name=ip`: never handed out.
    public var auxAddresses: [String: IPAddress]
    /// `-o key=value` driver options, Docker's names where Docker has one.
    public var options: [String: String]
    public var labels: [String: String]
    public var isInternal: Bool
    public var ipv6: Bool
    public var created: Int64
    /// Host links a `cni:` network's plugin made with its first endpoints (a bridge that did
    /// not exist before): `network rm` deletes them when nothing else uses them.
    public var createdLinks: [String] = []
    /// Set by `network rm` of a `cni:` network before the plugins' GC, which runs outside the
    /// store transaction: from then on no connect reserves an endpoint on it.
    public var isBeingRemoved = false
    /// Whether netctl's resolver answers the names of its sandboxes at its gateways (bridge
    /// networks, unless made with `--disable-dns`).
    public var dnsEnabled = false
    /// The Docker networks it carries (not stored with it: read from Docker's records).
    public var dockerNetworks: [DockerNetworkRecord] = []
    /// An overlay network's hosts and their shares, as this host's agent last saw them in etcd
    /// (not stored with it: read from the agent's records).
    public var overlayShares: [OverlayShare] = []

    /// The Linux bridge of a bridge network: `com.docker.network.bridge.name`, or `br-` and
    /// twelve digits of the ID as Docker names it.
    public var bridgeName: String { options["com.docker.network.bridge.name"] ?? "br-" + id.prefix(12) }

    /// Whether its endpoints get an interface in the sandbox (not null or host: those add none).
    public var addsInterfaces: Bool { driver.hasAddresses }

    /// Whether netctl's own drivers give its endpoints an interface, addresses and routes
    /// (bridge and macvlan; a CNI plugin's routes are its own business).
    public var netctlMakesItsInterfaces: Bool {
        switch driver {
        case .bridge, .macvlan, .overlay: true
        case .null, .host, .cni: false
        }
    }
}

/// A network namespace netctl knows: made by `sandbox create` (owned, removed with it) or
/// given by path (a runtime's, left alone).
public struct SandboxRecord: Sendable, Hashable {
    public var name: String
    public var id: String
    public var path: String
    public var isOwned: Bool
    /// `container:<other>`: the sandbox whose namespace this one shares.
    public var sharesWith: String?
    public var created: Int64
}

/// A sandbox's attachment to a network.
public struct EndpointRecord: Sendable, Hashable {
    public var network: String
    public var sandbox: String
    /// The interface's name in the sandbox; empty for a network that adds none (null, host).
    public var interface: String
    public var addresses: [CIDR]
    public var mac: String?
    public var aliases: [String]
    public var ports: [PortMapping]
    /// Set while `connect` sets the endpoint up; a row whose process has gone is an abandoned
    /// connect, which the next connect of the pair or `gc` takes down.
    public var reservedBy: ReservingProcess? = nil
    /// The resolver the sandbox asks for names on this network (its gateways), when the
    /// network has DNS.
    public var nameservers: [IPAddress] = []
    /// Docker's endpoint ID, for an endpoint Docker made through the plugin (its sandbox is
    /// then Docker's container name, or the endpoint's short ID until dockerd told it).
    public var dockerEndpointID: String? = nil
}
