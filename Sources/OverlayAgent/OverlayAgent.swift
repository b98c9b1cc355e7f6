import Cluster
import NetCore
import NetctlModel

/// How `netctl agent` was started.
public struct AgentSettings: Sendable {
    public var etcd: EtcdConfiguration
    public var advertise: IPAddress
    public var leaseTTL: Int64
    public var keys: OverlayKeys
    public var hostName: String
    /// The state directory (`NETCTL_STATE_DIR` when `nil`).
    public var stateDirectory: String?

    public init(etcd: EtcdConfiguration, advertise: IPAddress, leaseTTL: Int64 = 20, keys: OverlayKeys = OverlayKeys(),
                hostName: String, stateDirectory: String? = nil) {
        self.etcd = etcd
        self.advertise = advertise
        self.leaseTTL = leaseTTL
        self.keys = keys
        self.hostName = hostName
        self.stateDirectory = stateDirectory
    }
}

/// The overlay agent of one host: it holds the host's etcd lease, takes the host's share of
/// every overlay network with a create-if-absent transaction, watches everything under the
/// prefix and makes this host's kernel and store match it (VXLAN devices, one neighbour, FDB
/// entry and route per other host, the firewall's allowed VXLAN sources, the records the local
/// commands read).
///
/// Stopping it (task cancellation) keeps the lease: an agent started again within the TTL
/// carries on with the same shares, and the containers never notice.
public actor OverlayAgent {
    let settings: AgentSettings
    let client: EtcdClient
    let model: Netctl
    let log: @Sendable (String) -> Void
    var keys: OverlayKeys { settings.keys }

    private var record: OverlayAgentRecord
    private var snapshot: OverlaySnapshot
    private var revision: Int64 = 0
    private var reconciling = false
    private var reconcileAgain = false
    private var appliedTunnelPeers: [UInt16: Set<IPAddress>] = [:]
    private var reportedProblems = Set<String>()

    public init(settings: AgentSettings, log: @escaping @Sendable (String) -> Void) throws {
        self.settings = settings
        self.log = log
        client = try EtcdClient(settings.etcd)
        model = try Netctl(stateDirectory: settings.stateDirectory)
        let underlay = try model.overlayUnderlay(of: settings.advertise)
        record = OverlayAgentRecord(
            hostID: try model.overlayHostID(), hostName: settings.hostName, endpoints: settings.etcd.endpoints,
            caFile: settings.etcd.caFile, certFile: settings.etcd.certFile, keyFile: settings.etcd.keyFile,
            prefix: settings.keys.prefix, underlay: settings.advertise, underlayInterface: underlay.name, underlayMTU: underlay.mtu,
            leaseTTL: settings.leaseTTL, process: ReservingProcess.current())
        snapshot = OverlaySnapshot(keys: settings.keys)
    }

    /// Runs until cancelled.
    public func run() async throws {
        try await join()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.watchLoop() }
            group.addTask { try await self.keepAliveLoop() }
            group.addTask { try await self.endpointLoop() }
            group.addTask { try await self.resyncLoop() }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    // MARK: Membership

    /// Takes the lease (the previous one when it is still alive), announces the host, records
    /// what the local commands need, and reconciles everything once.
    private func join() async throws {
        let previous = try model.overlayAgent()
        if let previous, previous.lease != 0, previous.hostID == record.hostID,
           let remaining = try? await client.timeToLive(previous.lease), remaining > 0 {
            record.lease = previous.lease
            _ = try await client.keepAlive(previous.lease)
            log("kept lease \(String(previous.lease, radix: 16)) (\(remaining) s were left): the host's shares stay")
        } else {
            try await takeNewLease()
        }
        try await announce()
        try await relist()
    }

    private func takeNewLease() async throws {
        let lease = try await client.grantLease(ttl: settings.leaseTTL)
        record.lease = lease.id
        log("took lease \(String(lease.id, radix: 16)) with TTL \(lease.ttl) s")
    }

    /// The host key, on the lease, and the local record.
    private func announce() async throws {
        let value: JSON = ["Name": .string(record.hostName), "Underlay": .string(record.underlay.description)]
        _ = try await client.put(keys.host(record.hostID), value.serialized(), lease: record.lease)
        try model.recordOverlayAgent(record)
        log("host \(record.hostName) (\(record.hostID)) at \(record.underlay) on \(record.underlayInterface), MTU \(record.underlayMTU)")
    }

    /// Reads everything under the prefix again and reconciles fully.
    private func relist() async throws {
        let range = try await client.range(keys.root, prefix: true)
        snapshot.replace(with: range.kvs)
        revision = range.revision
        await reconcile()
    }

    /// A full re-list and reconcile every minute, beside the watch: it repairs what the watch
    /// cannot show (an entry someone deleted from the kernel by hand, a deletion etcd compacted
    /// away exactly at the revision a watch resumed from).
    private func resyncLoop() async throws {
        while true {
            try await Task.sleep(for: Self.resyncInterval)
            do { try await relist() } catch { log("periodic re-list failed (will retry): \(error)") }
        }
    }

    static let resyncInterval = Duration.seconds(60)

    private func keepAliveLoop() async throws {
        let interval = Duration.milliseconds(max(settings.leaseTTL * 1000 / 3, 500))
        while true {
            try await Task.sleep(for: interval)
            do {
                _ = try await client.keepAlive(record.lease)
            } catch EtcdError.leaseNotFound {
                // Gone (this host was cut off longer than the TTL): its keys went with it. A
                // new lease, and the shares again through the transaction, the old ones first.
                log("lease \(String(record.lease, radix: 16)) expired: taking a new one and the shares again")
                do {
                    try await takeNewLease()
                    try await announce()
                    try await relist()
                } catch {
                    log("cannot rejoin yet: \(error)")
                }
            } catch {
                log("keepalive failed (will retry): \(error)")
            }
        }
    }

    // MARK: Watch

    private func watchLoop() async throws {
        var backoff = Duration.milliseconds(100)
        while true {
            try Task.checkCancellation()
            do {
                for try await message in client.watch(prefix: keys.root, fromRevision: revision + 1) {
                    backoff = .milliseconds(100)
                    switch message {
                    case .events(let revision, let events):
                        // Older than a re-list made meanwhile: the snapshot already has it.
                        guard revision > self.revision else { continue }
                        snapshot.apply(events)
                        self.revision = revision
                        await reconcile()
                    case .compacted(let compactRevision):
                        log("watch from revision \(revision + 1) was compacted (at \(compactRevision)): listing again")
                        try await relist()
                    }
                }
                // Ended without an error (compacted, or the server closed it): watch again.
                try await Task.sleep(for: .milliseconds(100))
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                log("watch lost (\(error)); resuming from revision \(revision + 1)")
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    // MARK: Reconcile

    /// Makes this host match the snapshot: a share of every network, the kernel and the store
    /// after it, networks that are gone removed. One at a time; a call during one runs again after.
    private func reconcile() async {
        if reconciling {
            reconcileAgain = true
            return
        }
        reconciling = true
        defer { reconciling = false }
        repeat {
            reconcileAgain = false
            await reconcileOnce()
        } while reconcileAgain
    }

    private func reconcileOnce() async {
        let networks = snapshot.networks
        for (name, config) in networks.sorted(by: { $0.key < $1.key }) {
            do {
                guard let share = try await ownShare(of: name, config: config) else { continue }
                let shares = snapshot.shares(of: name).map(\.share)
                let changes = try model.applyOverlay(OverlayApplication(name: name, config: config, share: share, shares: shares), agent: record)
                for peer in changes.added { log("\(name): peer \(peer) added") }
                for peer in changes.removed { log("\(name): peer \(peer) removed") }
                reportedProblems.remove(name)
            } catch {
                if reportedProblems.insert(name).inserted { log("\(name): \(error)") }
            }
        }
        do {
            for network in try model.localOverlayNetworks() where networks[network.name] == nil {
                try model.removeOverlayLocally(network.name)
                log("\(network.name): removed from this host (gone from etcd)")
            }
        } catch {
            log("removing overlay networks gone from etcd: \(error)")
        }
        applyTunnelPeers()
    }

    /// This host's share of the network: the one it holds, or a new one through the
    /// create-if-absent transaction (the share it had before first). `nil` when none is free.
    private func ownShare(of name: String, config: OverlayNetworkConfig) async throws -> OverlayShare? {
        let shares = snapshot.shares(of: name)
        if let held = shares.first(where: { $0.share.hostID == record.hostID && $0.kv.lease == record.lease }) {
            return held.share
        }
        let recorded = try model.localOverlayNetworks().first { $0.name == name && $0.id == config.id }?.subnets.first?.subnet
        let preferred = shares.first(where: { $0.share.hostID == record.hostID })?.share.subnet ?? recorded
        let taken = Set(shares.filter { $0.share.hostID != record.hostID }.map(\.share.subnet))
        let endpoints = try model.overlayEndpointCounts()[name] ?? 0
        for candidate in ShareSelection.candidates(subnet: config.subnet, shareLength: config.shareLength, taken: taken, preferred: preferred) {
            let share = OverlayShare(subnet: candidate, hostID: record.hostID, hostName: record.hostName, underlay: record.underlay,
                                     vtepMAC: Netctl.vtepMAC(hostID: record.hostID, vni: config.vni), endpoints: endpoints)
            let key = keys.share(name, share)
            // Ours from an earlier lease (an agent restarted after its TTL): replaced only
            // while it is still ours.
            if let stale = shares.first(where: { $0.kv.key == key && $0.share.hostID == record.hostID }) {
                let result = try await client.txn([.modRevisionEquals(key: key, stale.kv.modRevision)],
                                                  success: [.put(key: key, value: share.json.serialized(), lease: record.lease)], failure: [])
                if result.succeeded {
                    log("\(name): share \(candidate) kept on the new lease")
                    return share
                }
                continue
            }
            let outcome = try await client.create(key, share.json.serialized(), lease: record.lease)
            if outcome.created {
                log("\(name): took share \(candidate)")
                snapshot.store(EtcdKeyValue(key: key, value: share.json.serialized(), createRevision: 0, modRevision: 0, version: 1, lease: record.lease))
                return share
            }
            if let current = outcome.current { snapshot.store(current) }
        }
        if reportedProblems.insert("share:\(name)").inserted { log("\(name): no free share of \(config.subnet) for this host") }
        return nil
    }

    /// The firewall takes VXLAN only from the hosts with shares, per port; done when it changed.
    private func applyTunnelPeers() {
        let wanted = snapshot.tunnelPeers().mapValues { $0.subtracting([record.underlay]) }
        guard wanted != appliedTunnelPeers else { return }
        do {
            for (port, peers) in wanted where appliedTunnelPeers[port] != peers {
                try model.setOverlayTunnelPeers(port: port, peers: peers)
            }
            for port in appliedTunnelPeers.keys where wanted[port] == nil {
                try model.removeOverlayTunnelPort(port)
            }
            appliedTunnelPeers = wanted
        } catch {
            log("allowed VXLAN sources: \(error)")
        }
    }

    // MARK: Endpoint counts

    /// Keeps each share's endpoint count current, for `network rm` on other hosts. The share
    /// is rewritten only while it is still this host's on this lease.
    private func endpointLoop() async throws {
        while true {
            try await Task.sleep(for: .seconds(1))
            guard let counts = try? model.overlayEndpointCounts() else { continue }
            for (name, count) in counts {
                guard let held = snapshot.shares(of: name).first(where: { $0.share.hostID == record.hostID && $0.kv.lease == record.lease }),
                      held.share.endpoints != count else { continue }
                var share = held.share
                share.endpoints = count
                _ = try? await client.txn([.leaseEquals(key: held.kv.key, record.lease)],
                                          success: [.put(key: held.kv.key, value: share.json.serialized(), lease: record.lease)], failure: [])
            }
        }
    }
}
