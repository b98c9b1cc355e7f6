import CNI
import Drivers
import Namespaces
import NetCore

/// `loopback`: brings `lo` up in the container's namespace.
struct LoopbackPlugin: CNIPlugin {
    func add(_ request: CNIRequest) throws -> CNIResult {
        let netns = try request.requireNetns()
        let namespace = try openNamespace(netns)
        try HostLinks.setLoopback(in: namespace, up: true)
        var result = CNIResult()
        result.interfaces = [CNIResult.Interface(name: "lo", mac: "00:00:00:00:00:00", sandbox: netns)]
        let present = Set(try HostLinks.loopback(in: namespace).addresses)
        for address in ["127.0.0.1/8", "::1/128"].compactMap(CIDR.init) where present.contains(address) {
            result.ips.append(CNIResult.IPConfig(address: address, interface: 0))
        }
        return result
    }

    /// Brings `lo` down, as the reference plugin does; a namespace that is gone is success.
    func delete(_ request: CNIRequest) throws {
        guard let netns = request.netns, let namespace = try openNamespaceIfPresent(netns) else { return }
        try HostLinks.setLoopback(in: namespace, up: false)
    }

    /// `lo` must be up with the addresses of `prevResult` (127.0.0.1/8 without one).
    func check(_ request: CNIRequest) throws {
        let netns = try request.requireNetns()
        let lo = try HostLinks.loopback(in: try openNamespace(netns))
        guard lo.isUp else {
            throw CNIError(.internal, "lo is not up in \(netns)")
        }
        let expected = try request.config.prevResult.map { try CNIResult(json: $0).ips.map(\.address) } ?? ["127.0.0.1/8"].compactMap(CIDR.init)
        let present = Set(lo.addresses)
        for address in expected where !present.contains(address) {
            throw CNIError(.internal, "lo lacks address \(address) in \(netns)")
        }
    }

    /// Nothing to collect: the plugin keeps no state outside the namespace.
    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws {}

    func status(_ request: CNIRequest) throws {}
}
