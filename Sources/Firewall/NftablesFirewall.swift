#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Namespaces
import NetCore

/// The firewall driver: renders each operation as one nftables batch and applies it through
/// libnftables as a single transaction, in the table `inet netctl` only (see ``Ruleset``).
///
/// All operations of every process are serialized by a file lock, because some of them read
/// the table before they change it (removing a network, and the rare slow paths).
/// Not `Sendable`: use one instance from one thread at a time.
public final class NftablesFirewall: FirewallDriver {
    /// Shared by every process that changes the firewall.
    public static let defaultLockPath = "/run/netctl/firewall.lock"

    public var name: String { "nftables" }

    private let transport: any NftablesTransport
    private let host: any FirewallHost
    private let lock: FileLock?
    /// Makes the writer of published ports' map elements, on their first batch.
    private let makeElements: (() throws -> NftnlElements)?
    private var elements: NftnlElements?
    let planner = FirewallPlanner()

    /// - Parameters:
    ///   - transport: where batches go.
    ///   - host: the host's addresses and sysctls.
    ///   - lock: held around every operation; `nil` when the caller serializes.
    ///   - elements: makes the writer that takes the batches of published ports instead of
    ///     `transport` (see ``NftnlElements``); `nil` sends every batch to `transport`.
    public init(transport: any NftablesTransport, host: any FirewallHost, lock: FileLock?,
                elements: (() throws -> NftnlElements)? = nil) {
        self.transport = transport
        self.host = host
        self.lock = lock
        makeElements = elements
    }

    /// Opens the lock for `namespace` (the calling thread's when `nil`); libnftables on the
    /// first batch that needs it, and a netfilter socket for the element writer on the first
    /// batch of published ports.
    ///
    /// - Parameters:
    ///   - lockPath: created with its directory when missing; `nil` for no lock.
    ///   - host: the addresses and sysctls of that namespace.
    /// - Throws: ``NetworkError`` when the lock cannot be opened.
    public static func open(in namespace: NetNamespace?, lockPath: String?, host: any FirewallHost) throws -> NftablesFirewall {
        var lock: FileLock?
        if let lockPath {
            try makeParentDirectory(of: lockPath)
            lock = try FileLock(path: lockPath)
            PhaseTrace.mark("firewall lock file opened")
        }
        return NftablesFirewall(transport: DeferredLibNftables(namespace: namespace), host: host, lock: lock,
                                elements: { try NftnlElements(namespace: namespace) })
    }

    // MARK: FirewallDriver

    public func addNetwork(_ network: FirewallNetwork) throws {
        if let tunnel = network.tunnel, tunnel == network.bridge {
            throw NetworkError.invalid("tunnel of network \"\(network.name)\"", tunnel.rawValue, "is the network's bridge")
        }
        try exclusively {
            if network.localhostDNAT {
                // Fail before changing anything when the bridge (and so its sysctl) is missing.
                _ = try host.readSysctl(Self.routeLocalnet(network))
            }
            try apply(planner.addNetwork(network), "add network \"\(network.name)\"")
            if network.localhostDNAT {
                // Only after the guard rule exists: never a moment with route_localnet and no guard.
                try host.writeSysctl(Self.routeLocalnet(network), "1")
            }
        }
    }

    public func addSharedRules() throws {
        try exclusively { try apply(planner.addSharedRules(), "add the shared chains") }
    }

    public func removeNetwork(_ network: FirewallNetwork, keepingPortsTo kept: Set<IPAddress>) throws {
        try exclusively {
            let listing = try listTable()
            // Whatever the caller's copy of the network says: the table knows whether its
            // bridge has localhost DNAT, and the sysctl must never outlive the guard rule.
            let bridge = Nftables.Expression.symbol(network.bridge.rawValue)
            if network.localhostDNAT || listing?.contains(bridge, in: Ruleset.localnetBridges) == true {
                do {
                    try host.writeSysctl(Self.routeLocalnet(network), "0")
                } catch let error as NetworkError where error.code == .notFound {
                    // The bridge is gone already, and its sysctl with it.
                }
            }
            let batch = planner.removeNetwork(network, listing: listing, keepingPortsTo: kept)
            guard !batch.isEmpty else { return }
            try apply(batch, "remove network \"\(network.name)\"")
        }
    }

    public func publish(_ ports: [PublishedPort], on network: FirewallNetwork) throws {
        guard !ports.isEmpty else { return }
        try exclusively {
            PhaseTrace.mark("firewall lock held")
            // Only the families of the ports: every veth on the host has an IPv6 link-local
            // address, so a dump of both would grow with the containers attached.
            let families = Set(ports.map(\.containerAddress.family))
            let addresses = uniqued(try host.localAddresses(family: families.count == 1 ? families.first : nil))
            PhaseTrace.mark("host addresses dumped")
            var claims = PortClaims()
            let entries = try PortEntry.entries(for: ports, on: network, hostAddresses: Set(addresses), claims: &claims)
            guard !entries.isEmpty else { return }
            // A link-local address cannot be a published port's host IP (it needs a zone),
            // so there is nothing to collide with there.
            let probed = addresses.filter { !$0.isIPv6LinkLocal }
            do {
                let batch = planner.publish(entries, probing: probed)
                PhaseTrace.mark("batch planned")
                try run(batch)
                PhaseTrace.mark("nftables transaction")
            } catch let error as NftablesError where error.isAlreadyExists {
                let listing = try? listTable()
                let message = listing.flatMap { planner.conflict(for: entries, in: $0) }
                throw NetworkError(code: .alreadyExists, message: message ?? "a port of \(ports.map(\.mapping.description)) is already published", cause: error)
            } catch let error as NftablesError {
                throw NetworkError(code: .system, message: "nftables refused to publish \(ports.map(\.mapping.description))", cause: error)
            }
        }
    }

    public func unpublish(_ ports: [PublishedPort], from network: FirewallNetwork) throws {
        let entries = PortEntry.entriesForRemoval(of: ports, on: network)
        guard !entries.isEmpty else { return }
        try exclusively {
            do {
                let batch = planner.unpublish(entries)
                PhaseTrace.mark("batch planned")
                try run(batch)
                PhaseTrace.mark("nftables transaction")
            } catch let error as NftablesError where error.isNotFound {
                return // No table or map: nothing was published.
            } catch let error as NftablesError where error.isAlreadyExists {
                // A key holds someone else's mapping now: remove only what is still ours.
                guard let listing = try listTable() else { return }
                let batch = planner.unpublish(entries, listing: listing)
                guard !batch.isEmpty else { return }
                try apply(batch, "unpublish \(ports.map(\.mapping.description))")
            } catch let error as NftablesError {
                throw NetworkError(code: .system, message: "nftables refused to unpublish \(ports.map(\.mapping.description))", cause: error)
            }
        }
    }

    public func setTunnelPeers(port: UInt16, peers: Set<IPAddress>) throws {
        guard port != 0 else { throw NetworkError.invalid("tunnel port", "0", "is not a UDP port") }
        try exclusively {
            let batch = planner.setTunnelPeers(port: port, peers: peers, listing: try listTable())
            try apply(batch, "accept UDP port \(port) only from \(peers.count) tunnel peers")
        }
    }

    public func removeTunnelPort(_ port: UInt16) throws {
        try exclusively {
            let batch = planner.removeTunnelPort(port, listing: try listTable())
            guard !batch.isEmpty else { return }
            try apply(batch, "stop filtering tunnel port \(port)")
        }
    }

    public func reload(_ state: FirewallState) throws {
        var claims = PortClaims()
        var interfaces = Set<InterfaceName>()
        var networks: [(network: FirewallNetwork, entries: [PortEntry], hasRules: Bool)] = []
        for entry in state.networks {
            if entry.hasRules {
                for (role, interface) in zip(["bridge", "tunnel"], entry.network.interfaces) {
                    guard interfaces.insert(interface).inserted else {
                        throw NetworkError.invalid("\(role) of network \"\(entry.network.name)\"", interface.rawValue,
                                                   "is used by another network in the state")
                    }
                }
            }
            networks.append((entry.network, try PortEntry.entries(for: entry.publishedPorts, on: entry.network,
                                                                    hostAddresses: nil, claims: &claims), entry.hasRules))
        }
        if state.tunnelPeers.keys.contains(0) { throw NetworkError.invalid("tunnel port", "0", "is not a UDP port") }
        try exclusively {
            try apply(planner.reload(networks, tunnelPeers: state.tunnelPeers), "reload the firewall")
            for (network, _, hasRules) in networks where hasRules && network.localhostDNAT {
                do {
                    try host.writeSysctl(Self.routeLocalnet(network), "1")
                } catch let error as NetworkError where error.code == .notFound {
                    // The bridge is not back yet; adding the network again will set it.
                }
            }
        }
    }

    public func isAvailable() -> Bool {
        (try? transport.run(#"{"nftables":[{"list":{"tables":null}}]}"#)) != nil
    }

    // MARK: Helpers

    /// The table as it is now, or `nil` when it does not exist.
    func listTable() throws -> TableListing? {
        try TableListing.fetch(Ruleset.table, through: transport)
    }

    /// `batch` as one transaction: through the element writer when it holds only the elements
    /// of published ports (and declarations), else through `transport`. When the writer's batch
    /// finds the table or a map missing, none of it happened, and `transport` gets the whole
    /// batch, whose declarations make them.
    private func run(_ batch: Nftables.Batch) throws {
        if let makeElements {
            do {
                let writer = try elements ?? makeElements()
                elements = writer
                if try writer.apply(batch) { return }
            } catch let error as NftablesError where error.isNotFound {
                // Below, declarations included.
            } catch let error as NetworkError where error.code == .system && elements == nil {
                // No netfilter socket for the writer: libnftables does it all.
            }
        }
        _ = try transport.run(batch.text)
    }

    private func apply(_ batch: Nftables.Batch, _ operation: String) throws {
        do {
            _ = try transport.run(batch.text)
        } catch let error as NftablesError {
            throw NetworkError(code: error.isAlreadyExists ? .alreadyExists : .system,
                               message: "nftables refused to \(operation)", cause: error)
        }
    }

    private func exclusively<T>(_ body: () throws -> T) throws -> T {
        guard let lock else { return try body() }
        return try lock.withLock(body)
    }

    private static func routeLocalnet(_ network: FirewallNetwork) -> String {
        "net/ipv4/conf/\(network.bridge.rawValue)/route_localnet"
    }

    private func uniqued(_ addresses: [IPAddress]) -> [IPAddress] {
        var seen = Set<IPAddress>()
        return addresses.filter { seen.insert($0).inserted }
    }

    /// `mkdir -p` of the lock's directory (mode 0755, as `/run/netctl` is shared).
    private static func makeParentDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        do {
            try makeDirectories(String(path[..<slash]), mode: 0o755)
        } catch let error as SystemCallError {
            throw NetworkError(code: .system, message: "cannot create \"\(error.subject)\"", cause: error.errno)
        }
    }
}
