import Cluster
import NetCore
import NetctlModel

/// The agent's copy of everything under the prefix: filled by a range, kept by the watch.
/// DELETE events carry only the key, so what a removal tears down comes from here.
struct OverlaySnapshot {
    let keys: OverlayKeys
    private(set) var values: [String: EtcdKeyValue] = [:]

    init(keys: OverlayKeys) {
        self.keys = keys
    }

    mutating func replace(with kvs: [EtcdKeyValue]) {
        values = Dictionary(kvs.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
    }

    mutating func apply(_ events: [EtcdEvent]) {
        for event in events {
            switch event.kind {
            case .put: values[event.kv.key] = event.kv
            case .delete: values[event.kv.key] = nil
            }
        }
    }

    mutating func store(_ kv: EtcdKeyValue) {
        values[kv.key] = kv
    }

    /// The networks, by name; a config that does not parse is skipped (and said once by the caller).
    var networks: [String: OverlayNetworkConfig] {
        var result: [String: OverlayNetworkConfig] = [:]
        for (key, kv) in values {
            guard case .config(let name) = keys.kind(of: key),
                  let config = try? OverlayNetworkConfig(json: JSON(parsing: kv.value)) else { continue }
            result[name] = config
        }
        return result
    }

    /// The shares of `network` with the lease each is on.
    func shares(of network: String) -> [(share: OverlayShare, kv: EtcdKeyValue)] {
        values.filter { $0.key.hasPrefix(keys.shares(network)) }.compactMap { _, kv in
            (try? OverlayShare(json: JSON(parsing: kv.value))).map { ($0, kv) }
        }.sorted { $0.share.subnet.description < $1.share.subnet.description }
    }

    /// Underlay addresses of the hosts with a share on a network that uses `port`.
    func tunnelPeers() -> [UInt16: Set<IPAddress>] {
        var result: [UInt16: Set<IPAddress>] = [:]
        for (name, config) in networks {
            result[config.port, default: []].formUnion(shares(of: name).map(\.share.underlay))
        }
        return result
    }
}
