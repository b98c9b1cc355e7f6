import Firewall
import NetCore
import ProxyClient

/// Splits an attachment's `-p` mappings between DNAT and the userland proxy.
///
/// DNAT serves every host address of the container's family. The proxy serves what DNAT
/// cannot: loopback (unless the network opted into localhost DNAT, IPv4 only), and a host IP
/// of a family the container has no address of. SCTP is DNAT only.
struct PortPlan: Equatable {
    var dnat: [PublishedPort] = []
    var proxy: [ForwardRule] = []

    /// - Parameters:
    ///   - owner: recorded with each DNAT entry (the container ID).
    ///   - hostHasIPv6Loopback: whether `::1` exists here, so the proxy may listen on it.
    /// - Throws: ``NetworkError`` naming a mapping that nothing can serve.
    init(_ mappings: [PortMapping], containerAddresses: [IPAddress], network: FirewallNetwork,
         owner: String, hostHasIPv6Loopback: Bool) throws {
        let v4 = containerAddresses.first { $0.family == .v4 }
        let v6 = containerAddresses.first { $0.family == .v6 }
        guard v4 != nil || v6 != nil else {
            if let mapping = mappings.first {
                throw NetworkError.invalid("port mapping", mapping.description, "the container has no IP address to publish it to")
            }
            return
        }
        for mapping in mappings {
            let before = (dnat.count, proxy.count)
            let wanted = mapping.hostIP
            let isAny = wanted.map(\.isUnspecified) ?? true
            if isAny {
                for container in [v4, v6].compactMap({ $0 }) where wanted == nil || wanted?.family == container.family {
                    dnat.append(PublishedPort(mapping: mapping, containerAddress: container, owner: owner))
                }
                if wanted?.family != .v6, let v4, !network.localhostDNAT {
                    try addProxy(mapping, listen: .v4(.loopback), target: v4)
                }
                if wanted?.family != .v4, hostHasIPv6Loopback, let target = v6 ?? v4 {
                    try addProxy(mapping, listen: .v6(.loopback), target: target)
                }
            } else if let hostIP = wanted {
                let sameFamily = hostIP.family == .v4 ? v4 : v6
                if let sameFamily {
                    let port = PublishedPort(mapping: mapping, containerAddress: sameFamily, owner: owner)
                    if port.isServedByDNAT(on: network) {
                        dnat.append(port)
                    } else {
                        try addProxy(mapping, listen: hostIP, target: sameFamily)
                    }
                } else if let other = v4 ?? v6 {
                    try addProxy(mapping, listen: hostIP, target: other)
                }
            }
            if (dnat.count, proxy.count) == before {
                throw NetworkError.invalid("port mapping", mapping.description,
                                           "cannot be served: the container has no address it could be forwarded to")
            }
        }
    }

    private mutating func addProxy(_ mapping: PortMapping, listen: IPAddress, target: IPAddress) throws {
        guard mapping.transport != .sctp else {
            if mapping.hostIP == listen {
                throw NetworkError(code: .unsupported, message:
                    "cannot publish \"\(mapping)\": SCTP is served by DNAT only, which does not reach \(listen)")
            }
            return
        }
        proxy += try ForwardRule.rules(for: mapping, containerAddress: target, listenAddress: listen)
    }
}
