import Firewall
import Namespaces
import NetCore
import Netlink
import ProxyClient
import Store

/// The firewall as both front ends use it: network rules reference-counted by the attachments
/// that need them, published ports with the userland proxy that serves what DNAT cannot, and
/// the store that lets a flushed ruleset be rebuilt and lets GC find what is stale.
///
/// Every change runs inside one immediate store transaction, which serializes it against
/// every other process: the store and the ruleset never disagree about who owns what.
/// Not `Sendable`: one per process, used from one thread at a time.
public final class FirewallRegistry {
    private let store: StateStore
    private let firewall: any FirewallDriver
    private let proxyExecutable: String?
    private let namespace: NetNamespace?
    /// The identity (`DEVICE:INODE`) of the namespace whose ruleset this registry changes:
    /// its records are counted apart from another namespace's on a bridge of the same name.
    private let hostNamespace: String
    /// Opened on the first UDP mapping.
    private var conntrack: ConntrackSocket?
    /// Proxies started in the store transaction under way, kept once it has committed.
    private var pendingProxies: [PendingProxy] = []
    /// Where what went wrong after an operation took effect is told (stderr by default).
    public var warn: (String) -> Void = { message in writeAll("warning: \(message)\n", to: 2) }

    /// - Parameters:
    ///   - proxyExecutable: `netctl-proxy`; `nil` when loopback is served by DNAT or not at
    ///     all (the CNI plugins, whose runtimes may hold the host ports themselves).
    ///   - namespace: the host namespace the firewall works in, where `::1` is looked for and
    ///     UDP conntrack entries are flushed; `nil` for the calling thread's. Proxies start
    ///     in the calling thread's namespace.
    public init(store: StateStore, firewall: any FirewallDriver, proxyExecutable: String?, namespace: NetNamespace? = nil) {
        self.store = store
        self.firewall = firewall
        self.proxyExecutable = proxyExecutable
        self.namespace = namespace
        let identity = namespace?.identity ?? NetNamespace.Identity.of(path: "/proc/thread-self/ns/net")
        hostNamespace = identity.map { "\($0.device):\($0.inode)" } ?? ""
    }

    /// As the public initializer, with the host namespace's identity given (tests simulate
    /// several hosts sharing one store).
    init(store: StateStore, firewall: any FirewallDriver, hostNamespace: String) {
        self.store = store
        self.firewall = firewall
        proxyExecutable = nil
        namespace = nil
        self.hostNamespace = hostNamespace
    }

    // MARK: Networks

    /// Installs `network`'s rules on behalf of the network itself (a `netctl network`), so
    /// they stay while no container is attached. Idempotent.
    ///
    /// - Parameter uncommitted: for a caller whose own store transaction this runs in: what
    ///   to undo in the ruleset when that transaction does not commit (the record goes then).
    public func addNetwork(_ network: FirewallNetwork, name: String, ifNotCommitted uncommitted: inout UndoStack) throws {
        try store.database.immediateTransaction {
            let key = Key(network: name, containerID: "", interface: "")
            if let installed = try install(network, for: key, usesRules: true) {
                uncommitted.push("remove network \(name)") { try self.firewall.removeNetwork(installed) }
            }
            try rows.insert(Row(key: key, network: network, usesRules: true, ports: [], proxyPID: nil))
        }
    }

    /// ``addNetwork(_:name:ifNotCommitted:)`` in a transaction of its own.
    public func addNetwork(_ network: FirewallNetwork, name: String) throws {
        try UndoStack.transaction { undo in try addNetwork(network, name: name, ifNotCommitted: &undo) }
    }

    /// Removes what ``addNetwork(_:name:)`` made, and the rules when no attachment needs them.
    /// Idempotent.
    public func removeNetwork(name: String) throws {
        try detach(Key(network: name, containerID: "", interface: ""))
    }

    // MARK: Tunnels

    /// Accepts UDP to `port` (an overlay's VXLAN port) from exactly `peers` (the other hosts'
    /// underlay addresses) and drops it from anyone else, and records them so ``reload()``
    /// puts them back. Replaces what the port had; other UDP ports are untouched. Idempotent.
    public func setTunnelPeers(port: UInt16, peers: Set<IPAddress>) throws {
        guard port != 0 else { throw NetworkError.invalid("tunnel port", "0", "is not a UDP port") }
        try changeTunnelPort(port, "accept port \(port) only from its peers") { rows in
            try rows.replace(port: port, peers: peers)
            try firewall.setTunnelPeers(port: port, peers: peers)
        }
    }

    /// Stops filtering `port` and forgets its peers: UDP to it passes untouched again.
    /// Removing a port that is not filtered is success.
    public func removeTunnelPort(_ port: UInt16) throws {
        try changeTunnelPort(port, "stop filtering port \(port)") { rows in
            try rows.delete(port: port)
            try firewall.removeTunnelPort(port)
        }
    }

    /// The recorded tunnel ports of this host namespace, each with its peers.
    public func tunnelPeers() throws -> [UInt16: Set<IPAddress>] {
        try tunnelRows.all()
    }

    /// Runs `change` (the record and the ruleset) in one store transaction; when that does
    /// not commit, the ruleset gets back what the port had.
    private func changeTunnelPort(_ port: UInt16, _ operation: String, _ change: (TunnelPeerRows) throws -> Void) throws {
        var uncommitted = UndoStack()
        do {
            try store.database.immediateTransaction {
                let rows = tunnelRows
                let previous = try rows.peers(port: port)
                try change(rows)
                uncommitted.push("undo: \(operation)") {
                    if let previous {
                        try self.firewall.setTunnelPeers(port: port, peers: previous)
                    } else {
                        try self.firewall.removeTunnelPort(port)
                    }
                }
            }
        } catch {
            _ = uncommitted.unwind()
            throw error
        }
        uncommitted.commit()
    }

    // MARK: Attachments

    /// Publishes `ports` for one attachment and, when `usesRules`, installs (or widens) its
    /// network's masquerade, isolation and hairpin rules. All or nothing; repeating it
    /// replaces what the attachment had.
    ///
    /// - Returns: the ports as published by DNAT (the proxy serves the rest).
    /// - Throws: ``NetworkError`` naming the mapping that is taken, malformed or unservable.
    @discardableResult
    public func attach(_ attachment: AttachmentID, network: FirewallNetwork, usesRules: Bool = true,
                       ports: [PortMapping], containerAddresses: [IPAddress]) throws -> [PublishedPort] {
        let key = Key(attachment)
        let plan = try PortPlan(ports, containerAddresses: containerAddresses, network: network,
                                owner: attachment.containerID, hostHasIPv6Loopback: hostHasIPv6Loopback())
        // What goes back out of the ruleset when the transaction does not commit (its COMMIT
        // failed): the record is gone then, and nothing may be left that no record knows.
        var uncommitted = UndoStack()
        // A failure is returned out of the transaction rather than thrown through it: when a
        // repeated attach fails, the attachment's earlier state is put back and that must commit.
        let failure: (any Error)?
        do {
            failure = try keepingProxies {
                PhaseTrace.mark("store write lock")
                let previous = try rows.find(key)
                if previous != nil { try tearDown(key) }
                do {
                    try establish(Row(key: key, network: network, usesRules: usesRules, ports: plan.dnat, proxyRules: plan.proxy),
                                  ifNotCommitted: &uncommitted)
                    return nil
                } catch {
                    guard let previous else { throw error }
                    do {
                        try establish(withProxyRules(previous), ifNotCommitted: &uncommitted)
                    } catch let restoring {
                        // Nothing of either is left: the teardown above commits, and so does the
                        // absence of the record.
                        return NetworkError(code: .system, message: "\(error); putting back what \(key) had failed too: \(restoring)", cause: error)
                    }
                    return error
                }
            }
        } catch {
            _ = uncommitted.unwind()
            throw error
        }
        uncommitted.commit()
        if let failure { throw failure }
        flushConntrack(ports)
        return plan.dnat
    }

    /// Unpublishes the attachment's ports, stops its proxy and drops its claim on the network's
    /// rules, removing them with the last claim. Missing is success; on errors it goes on with
    /// the rest, keeps the record so a retry (or GC) can finish, and reports them all.
    public func detach(_ attachment: AttachmentID) throws {
        try detach(Key(attachment))
    }

    /// Removes `network`'s rules when no record claims rules on its bridge: what an attach
    /// killed between changing the ruleset and committing its record left (one that committed
    /// is removed by ``detach(_:)``). Checked in one store transaction with the removal: an
    /// attach under way holds the store's write lock while it changes the ruleset, so it is
    /// never taken for such a leftover.
    public func dropUnclaimedRules(of network: FirewallNetwork) throws {
        let nobody = Key(network: "", containerID: "", interface: "")
        try store.database.immediateTransaction {
            guard try rows.ruleHolders(bridge: network.bridge, except: nobody).isEmpty else { return }
            try firewall.removeNetwork(network, keepingPortsTo: try rows.portOnlyAddresses(bridge: network.bridge, except: nobody))
        }
    }

    /// Whether the attachment has a record (an attach of it committed, and no detach since).
    public func isRecorded(_ attachment: AttachmentID) throws -> Bool {
        try rows.find(Key(attachment)) != nil
    }

    /// Takes down what an attach cut short may have left in the kernel with no record (its
    /// process killed before the transaction that records it committed): the DNAT entries
    /// of `ports` to `containerAddresses`, removed only where they still point there. Nothing
    /// when the attachment has a record: ``detach(_:)`` is for that.
    public func unpublishUnrecorded(_ attachment: AttachmentID, network: FirewallNetwork, ports: [PortMapping],
                                    containerAddresses: [IPAddress]) throws {
        guard !ports.isEmpty, !containerAddresses.isEmpty, try !isRecorded(attachment) else { return }
        let plan = try PortPlan(ports, containerAddresses: containerAddresses, network: network,
                                owner: attachment.containerID, hostHasIPv6Loopback: false)
        if !plan.dnat.isEmpty { try firewall.unpublish(plan.dnat, from: network) }
    }

    /// Detaches every attachment of `network` whose container and interface are not in
    /// `keep` (CNI GC's valid attachments), and returns them. Goes on past an attachment
    /// that cannot be detached (its record stays for the next GC) and then reports them all.
    public func gc(network: String, keep: Set<AttachmentID>) throws -> [AttachmentID] {
        let kept = Set(keep.map(Key.init))
        var removed: [AttachmentID] = []
        var failures: [(name: String, error: any Error)] = []
        for row in try rows.all(network: network) where !row.key.isNetwork && !kept.contains(row.key) {
            do {
                try detach(row.key)
                if let id = row.key.attachmentID { removed.append(id) }
            } catch {
                failures.append(("\(row.key)", error))
            }
        }
        if !failures.isEmpty {
            throw NetworkError.teardown("collecting the firewall state of network \"\(network)\"", failures: failures)
        }
        return removed
    }

    /// Every attachment with its published ports and proxy, for `netctl port ls`.
    public func published() throws -> [(attachment: AttachmentID, ports: [PublishedPort], proxyPID: Int32?)] {
        try rows.all().compactMap { row in row.key.attachmentID.map { ($0, row.ports, row.proxyPID) } }
    }

    /// Rebuilds the whole table (networks, published ports, tunnel peers) from the store in
    /// one transaction (after `nft flush ruleset`), and restarts proxies that are no longer running.
    public func reload() throws {
        try keepingProxies {
            let all = try rows.allOfThisHost()
            var state = FirewallState()
            var ruled = Set<String>()
            for bridge in Set(all.filter(\.usesRules).map(\.network.bridge.rawValue)).sorted() {
                let sharing = all.filter { $0.usesRules && $0.network.bridge.rawValue == bridge }
                guard let merged = FirewallNetwork.merged(sharing.map(\.network)) else { continue }
                state.networks.append(.init(merged, publishedPorts: sharing.flatMap(\.ports)))
                ruled.insert(bridge)
            }
            for row in all where !row.usesRules && !row.ports.isEmpty {
                state.networks.append(.init(row.network, publishedPorts: row.ports, hasRules: false))
            }
            state.tunnelPeers = try tunnelRows.all()
            try firewall.reload(state)
            for var row in all where row.proxyPID.map({ !ProxyProcess.isProxy(pid: $0) }) ?? false {
                row = try withProxyRules(row)
                row.proxyPID = try startProxy(row.proxyRules)?.pid
                try rows.insert(row)
            }
        }
    }

    // MARK: Pieces

    private var rows: FirewallRows { FirewallRows(database: store.database, hostNamespace: hostNamespace) }
    private var tunnelRows: TunnelPeerRows { TunnelPeerRows(database: store.database, hostNamespace: hostNamespace) }

    private func detach(_ key: Key) throws {
        var mappings: [PortMapping] = []
        try store.database.immediateTransaction {
            PhaseTrace.mark("store write lock")
            guard let row = try rows.find(key) else { return }
            mappings = row.ports.map(\.mapping)
            try tearDown(key)
        }
        flushConntrack(mappings)
    }

    /// Removes the attachment's ports, proxy and rule claim, then its row; best effort.
    private func tearDown(_ key: Key) throws {
        guard let row = try rows.find(key) else { return }
        var errors: [any Error] = []
        if !row.ports.isEmpty {
            do { try firewall.unpublish(row.ports, from: row.network) } catch { errors.append(error) }
        }
        if let pid = row.proxyPID {
            do { try ProxyProcess.stop(pid: pid) } catch { errors.append(error) }
        }
        if errors.isEmpty { try rows.delete(key) }
        if row.usesRules {
            let others = try rows.hasRuleHolder(bridge: row.network.bridge, except: key)
            do {
                if !others {
                    let kept = try rows.portOnlyAddresses(bridge: row.network.bridge, except: key)
                    try firewall.removeNetwork(row.network, keepingPortsTo: kept)
                }
            } catch { errors.append(error) }
        }
        if let first = errors.first {
            throw NetworkError(code: .system, message: "cannot fully remove the firewall state of \(key): "
                + errors.map { "\($0)" }.joined(separator: "; "), cause: first)
        }
    }

    /// Installs what `row` holds (its claim on the network's rules, its DNAT ports, a proxy
    /// for its proxy rules) and records it, with the proxy's PID. All or nothing.
    ///
    /// - Parameter uncommitted: where the ruleset changes it made are undone when the caller's
    ///   store transaction then fails to commit.
    private func establish(_ row: Row, ifNotCommitted uncommitted: inout UndoStack) throws {
        // Its own failures it undoes itself; once it has succeeded, what it changed is the
        // caller's to undo if the transaction then fails.
        let installed: FirewallNetwork? = try UndoStack.transaction { undo in
            let installed = try install(row.network, for: row.key, usesRules: row.usesRules, undo: &undo)
            PhaseTrace.mark("network rules checked")
            if !row.ports.isEmpty {
                if !row.usesRules { try firewall.addSharedRules() }
                try firewall.publish(row.ports, on: row.network)
                undo.push("unpublish \(row.ports.count) ports") { try self.firewall.unpublish(row.ports, from: row.network) }
            }
            var row = row
            if let proxy = try startProxy(row.proxyRules) {
                row.proxyPID = proxy.pid
                undo.push("stop proxy \(proxy.pid)") { try Self.stop(proxy) }
            }
            try rows.insert(row)
            return installed
        }
        if let installed { uncommitted.push("remove network \(row.network.name)") { try self.firewall.removeNetwork(installed) } }
        if !row.ports.isEmpty {
            uncommitted.push("unpublish \(row.ports.count) ports") { try self.firewall.unpublish(row.ports, from: row.network) }
        }
    }

    /// `row`, with proxy rules when it has a proxy but was written before the store kept
    /// them (version 4): what its DNAT ports leave to the proxy, planned again (mappings only
    /// the proxy served are not among them; the row does not hold those).
    private func withProxyRules(_ row: Row) throws -> Row {
        guard row.proxyRules.isEmpty, row.proxyPID != nil else { return row }
        var row = row
        row.proxyRules = try PortPlan(row.ports.map(\.mapping), containerAddresses: row.ports.map(\.containerAddress),
                                      network: row.network, owner: row.key.containerID,
                                      hostHasIPv6Loopback: hostHasIPv6Loopback()).proxy
        return row
    }

    /// Adds the rules of `network` merged with every other claim on its bridge, when `usesRules`.
    /// - Returns: the rules it put in place where there were none (to remove if what asked
    ///   for them does not commit), else `nil`.
    @discardableResult
    private func install(_ network: FirewallNetwork, for key: Key, usesRules: Bool) throws -> FirewallNetwork? {
        try UndoStack.transaction { undo in try install(network, for: key, usesRules: usesRules, undo: &undo) }
    }

    private func install(_ network: FirewallNetwork, for key: Key, usesRules: Bool, undo: inout UndoStack) throws -> FirewallNetwork? {
        guard usesRules else { return nil }
        // Another record with this very definition: the merged rules already hold all of it
        // (merging is a union), whatever else the bridge's other records add.
        if try rows.hasRuleHolder(bridge: network.bridge, definition: network, except: key) { return nil }
        let others = try rows.ruleHolders(bridge: network.bridge, except: key)
        guard let merged = FirewallNetwork.merged(others + [network]) else { return nil }
        // Most attachments join a network whose rules are in place as they are: one more
        // container on a bridge costs no ruleset change at all.
        if let installed = FirewallNetwork.merged(others), installed == merged { return nil }
        try firewall.addNetwork(merged)
        guard others.isEmpty else { return nil }
        undo.push("remove network \(network.name)") { try self.firewall.removeNetwork(merged) }
        return merged
    }

    /// Starts a proxy that serves once the store transaction recording its PID has
    /// committed (``keepingProxies(_:)``): one started by a process killed before that exits.
    private func startProxy(_ rules: [ForwardRule]) throws -> PendingProxy? {
        guard !rules.isEmpty, let proxyExecutable else { return nil }
        let proxy = try ProxyProcess.startPending(executable: proxyExecutable, rules: rules)
        pendingProxies.append(proxy)
        return proxy
    }

    /// Runs `body` in one store transaction; the proxies it started are kept once it has
    /// committed, and stopped when it has not.
    private func keepingProxies<T>(_ body: () throws -> T) throws -> T {
        defer { pendingProxies = [] }
        do {
            let result = try store.database.immediateTransaction(body)
            for proxy in pendingProxies { proxy.keep() }
            return result
        } catch {
            for proxy in pendingProxies { try? Self.stop(proxy) }
            throw error
        }
    }

    /// Lets a proxy that was never kept go (it exits at once), then waits for it.
    private static func stop(_ proxy: PendingProxy) throws {
        proxy.release()
        try ProxyProcess.stop(pid: proxy.pid)
    }

    /// Asked only when there is a proxy to listen there: it costs an address dump.
    private func hostHasIPv6Loopback() -> Bool {
        guard proxyExecutable != nil else { return false }
        let socket = try? namespace.map(RouteSocket.open(in:)) ?? RouteSocket.open()
        let addresses = (try? socket?.addresses(of: "lo", family: .v6)) ?? nil
        return addresses?.contains { $0.address.address == .v6(.loopback) } ?? false
    }

    /// Stale UDP flows would keep sending a changed mapping's traffic to the old container.
    /// The mapping itself is already in place, so a failure here is a warning, not an error.
    private func flushConntrack(_ mappings: [PortMapping]) {
        let filters = mappings.filter { $0.transport == .udp }.map { mapping in
            ConntrackFilter(transport: .udp, destinationPorts: mapping.hostPorts,
                            destination: mapping.hostIP.flatMap { $0.isUnspecified ? nil : $0 })
        }
        guard !filters.isEmpty else { return }
        do {
            let conntrack = try self.conntrack ?? namespace.map(ConntrackSocket.open(in:)) ?? ConntrackSocket.open()
            // Kept with the registry: a netfilter socket closed right after a commit waits
            // for the kernel's reclaim (see `NetfilterSocketRelease`).
            self.conntrack = conntrack
            _ = try conntrack.deleteFlows(matchingAny: filters)
        } catch {
            warn("cannot flush the UDP conntrack entries of \(mappings.map(\.description).joined(separator: ", ")): \(error)")
        }
    }
}

