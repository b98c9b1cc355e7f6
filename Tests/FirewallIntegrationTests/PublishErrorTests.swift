import Firewall
import Foundation
import NetCore
import Testing

/// Bad requests against a real kernel: clear errors, and nothing half-applied.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct PublishErrorTests {
    func code(_ body: () throws -> Void) -> (NetworkError.Code, String)? {
        do {
            try body()
            return nil
        } catch let error as NetworkError {
            return (error.code, error.description)
        } catch {
            return (.internalError, "\(error)")
        }
    }

    @Test func aTakenPortIsRefusedAndTheWholeRequestIsLeftOut() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        try topology.firewall.publish([try topology.port("8080:80", on: network, owner: "first")], on: network)

        let failure = code { try topology.firewall.publish([try topology.port("8081:81", on: network, owner: "second"),
                                                            try topology.port("8080:82", on: network, owner: "second")], on: network) }
        #expect(failure?.0 == .alreadyExists)
        #expect(failure?.1.contains("8080/tcp") == true)
        #expect(failure?.1.contains("first") == true)
        #expect(try topology.host.firewallElements("dnat4_any_addr").count == 1) // 8081 was not added
    }

    @Test func anyAddressAndOneAddressOfTheSamePortCollideBothWays() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        try topology.firewall.publish([try topology.port("8080:80", on: network)], on: network)
        try topology.firewall.publish([try topology.port("\(Topology.hostAddress):9090:80", on: network)], on: network)

        #expect(code { try topology.firewall.publish([try topology.port("\(Topology.hostAddress):8080:80", on: network)], on: network) }?.0 == .alreadyExists)
        let failure = code { try topology.firewall.publish([try topology.port("9090:80", on: network)], on: network) }
        #expect(failure?.0 == .alreadyExists)
        #expect(failure?.1.contains(Topology.hostAddress) == true)
        // Same port, other protocol or other host address: fine.
        try topology.firewall.publish([try topology.port("8080:80/udp", on: network)], on: network)
        try topology.firewall.publish([try topology.port("10.10.0.1:9090:80", on: network)], on: network)
    }

    @Test func aHostAddressNotOnThisHostIsRefused() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        let failure = code { try topology.firewall.publish([try topology.port("198.51.100.7:8080:80", on: network)], on: network) }
        #expect(failure?.0 == .invalidArgument)
        #expect(failure?.1.contains("198.51.100.7") == true)
        #expect(try topology.host.firewallElements("dnat4_host_addr").isEmpty)
    }

    @Test func anIPv4ContainerCannotBePublishedOnAnIPv6HostAddress() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        let failure = code { try topology.firewall.publish([try topology.port("[\(Topology.hostAddress6)]:8080:80", on: network)], on: network) }
        #expect(failure?.0 == .unsupported)
        #expect(failure?.1.contains("proxy") == true)
    }

    @Test func aNetworkWhoseBridgeIsMissingCannotOptIntoLocalhostDNAT() throws {
        let topology = try Topology()
        let network = FirewallNetwork(name: "ghost", bridge: try InterfaceName("nobridge0"), subnets: [try cidr("10.99.0.0/24")],
                                      localhostDNAT: true)
        #expect(code { try topology.firewall.addNetwork(network) }?.0 == .notFound)
        #expect(try topology.host.listFirewallTable() == nil)
    }

    @Test func availableWhenLibnftablesCanTalkToTheKernel() throws {
        let topology = try Topology()
        #expect(topology.firewall.isAvailable())
    }
}
