import Cluster
import NetCore
import NetctlModel

/// The cluster-wide halves of `network create` and `network rm` for overlay networks, run by
/// `netctld overlay` for the CLI with the etcd endpoints this host's agent recorded.
public struct OverlayOperations: Sendable {
    let client: EtcdClient
    let keys: OverlayKeys

    /// The first VNI netctl picks itself (Docker's swarm allocates from 4096 too).
    static let firstAutomaticVNI: UInt32 = 4096

    public init(agent: OverlayAgentRecord) throws {
        client = try EtcdClient(EtcdConfiguration(endpoints: agent.endpoints, caFile: agent.caFile,
                                                  certFile: agent.certFile, keyFile: agent.keyFile))
        keys = OverlayKeys(prefix: agent.prefix)
    }

    public func shutdown() async { try? await client.shutdown() }

    /// Puts the network's config (and its VNI's claim) into etcd, if neither is taken.
    /// A VNI of 0 means the first free one from 4096.
    public func create(name: String, config: OverlayNetworkConfig) async throws -> OverlayNetworkConfig {
        let existing = try await client.range(keys.networks, prefix: true)
        for kv in existing.kvs {
            guard case .config(let other) = keys.kind(of: kv.key), let otherConfig = try? OverlayNetworkConfig(json: JSON(parsing: kv.value)) else { continue }
            if other == name { throw NetworkError(code: .alreadyExists, message: "overlay network \"\(name)\" already exists") }
            if otherConfig.subnet.overlaps(config.subnet) {
                throw NetworkError.invalid("--subnet", config.subnet.description, "overlaps \(otherConfig.subnet) of overlay network \"\(other)\"")
            }
        }
        let automatic = config.vni == 0
        var config = config
        if automatic {
            let used = Set(try await client.range(keys.vnis, prefix: true).kvs.compactMap { kv -> UInt32? in
                if case .vni(let vni) = keys.kind(of: kv.key) { return vni } else { return nil }
            })
            config.vni = (Self.firstAutomaticVNI...).first { !used.contains($0) } ?? Self.firstAutomaticVNI
        }
        for _ in 0..<16 {
            let result = try await client.txn(
                [.versionEquals(key: keys.config(name), 0), .versionEquals(key: keys.vni(config.vni), 0)],
                success: [.put(key: keys.config(name), value: config.json.serialized(), lease: nil),
                          .put(key: keys.vni(config.vni), value: name, lease: nil)],
                failure: [.range(key: keys.config(name), prefix: false), .range(key: keys.vni(config.vni), prefix: false)])
            if result.succeeded { return config }
            if result.ranges.first?.isEmpty == false {
                throw NetworkError(code: .alreadyExists, message: "overlay network \"\(name)\" already exists")
            }
            let holder = result.ranges.dropFirst().first?.first?.value ?? "another network"
            guard automatic else {
                throw NetworkError.invalid("-o vni", String(config.vni), "is used by overlay network \"\(holder)\"")
            }
            config.vni += 1 // taken meanwhile: the next one
        }
        throw NetworkError(code: .busy, message: "no free VXLAN network identifier found for \"\(name)\": too many networks made at once; try again")
    }

    /// Deletes the network from etcd once no host has endpoints on it; refused, naming the
    /// hosts, while some do. `localHost` reports `localEndpoints` for itself (its share may lag).
    /// A network that is not in etcd is success.
    public func remove(name: String, localHost: String, localEndpoints: Int) async throws {
        for _ in 0..<16 {
            let range = try await client.range(keys.network(name), prefix: true)
            guard let config = range.kvs.first(where: { $0.key == keys.config(name) }) else { return }
            let shares = range.kvs.filter { $0.key.hasPrefix(keys.shares(name)) }.compactMap { kv in
                (try? OverlayShare(json: JSON(parsing: kv.value))).map { (share: $0, kv: kv) }
            }
            let busy = shares.compactMap { entry -> String? in
                let count = entry.share.hostID == localHost ? localEndpoints : entry.share.endpoints
                return count > 0 ? "\(entry.share.hostName) (\(entry.share.underlay)): \(count)" : nil
            }
            guard busy.isEmpty else {
                throw NetworkError(code: .busy, message: "overlay network \"\(name)\" has endpoints on \(busy.count == 1 ? "host" : "hosts") \(busy.joined(separator: ", ")); disconnect them first")
            }
            let vni = (try? OverlayNetworkConfig(json: JSON(parsing: config.value)))?.vni
            // Nothing moved since the check: no share changed its count, no share came.
            var compares = shares.map { EtcdCompare.modRevisionEquals(key: $0.kv.key, $0.kv.modRevision) }
            compares.append(.modRevisionEquals(key: config.key, config.modRevision))
            var operations = [EtcdOperation.delete(key: keys.network(name), prefix: true)]
            if let vni { operations.append(.delete(key: keys.vni(vni), prefix: false)) }
            let result = try await client.txn(compares, success: operations, failure: [])
            if result.succeeded {
                // A share that came between the range and the txn would fail a compare; one
                // whose key is new is caught by the prefix delete.
                return
            }
        }
        throw NetworkError(code: .busy, message: "overlay network \"\(name)\" kept changing while it was being removed; try again")
    }
}
