import Drivers
import NetCore

/// What carries a network's endpoints: one of netctl's drivers, or a CNI plugin (`cni:<type>`),
/// which makes the links, leases and ports itself.
enum NetworkBackend {
    case driver(any NetworkDriver)
    case cni(CNINetwork)

    var addsInterface: Bool {
        switch self {
        case .driver(let driver): driver.addsInterface
        case .cni: true
        }
    }

    /// The sandbox must be the host's own namespace (`host`).
    var joinsHostNamespace: Bool {
        switch self {
        case .driver(let driver): driver.joinsHostNamespace
        case .cni: false
        }
    }

    var offersPublishing: Bool {
        switch self {
        case .driver(let driver): driver.offersPublishing
        case .cni: true // the chain's portmap
        }
    }
}

extension Netctl {
    /// The network's driver, looked up once per operation: the one place that reads
    /// ``NetworkRecord/driver`` to choose code. The bridge driver adds no default route of its
    /// own; the recipe gives each sandbox one where it has none.
    /// The name of the host bridge a network's endpoints hang off, from its record alone
    /// (no socket opened): the bridge driver's, or a `cni:bridge` plugin's.
    static func hostBridge(of network: NetworkRecord) -> String? {
        switch network.driver {
        case .bridge, .overlay: network.bridgeName
        case .cni(let type): CNINetwork(network: network, type: type).hostBridge?.rawValue
        case .null, .host, .macvlan: nil
        }
    }

    func backend(_ network: NetworkRecord) throws -> NetworkBackend {
        if let driver = driverOverride?(network) { return .driver(driver) }
        return switch network.driver {
        case .null: .driver(NullDriver())
        case .host: .driver(HostDriver())
        case .bridge:
            .driver(try BridgeDriver.onHost(options: BridgeOptions(
                bridge: try InterfaceName(network.bridgeName, field: "bridge name"),
                mtu: network.options[NetworkOption.mtu].flatMap(UInt32.init), isGateway: true, hairpin: true)))
        case .macvlan:
            .driver(try MacvlanDriver.onHost(options: MacvlanOptions(
                parent: try network.options[NetworkOption.parent].map { try InterfaceName($0, field: NetworkOption.parent) },
                modeName: network.options[NetworkOption.macvlanMode], mtu: network.options[NetworkOption.mtu].flatMap(UInt32.init),
                field: NetworkOption.macvlanMode)))
        case .overlay:
            // On each host an overlay network is a bridge network on the host's share; the
            // VXLAN device and the routes to the other hosts are the agent's.
            .driver(try BridgeDriver.onHost(options: BridgeOptions(
                bridge: try InterfaceName(network.bridgeName, field: "bridge name"),
                mtu: network.options[NetworkOption.mtu].flatMap(UInt32.init), isGateway: true, hairpin: true)))
        case .cni(let type): .cni(CNINetwork(network: network, type: type, names: names))
        }
    }
}
