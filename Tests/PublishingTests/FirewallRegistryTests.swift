import Drivers
import Firewall
import Foundation
import NetCore
@testable import Publishing
import Store
import Testing

/// Records what the registry asks of the firewall; fails `publish` on request.
final class RecordingFirewall: FirewallDriver {
    var name: String { "recording" }
    var calls: [String] = []
    var refusePublish = false
    /// Mappings (`8080:80/tcp`) that `publish` refuses, as if another owner held them.
    var refusedMappings: Set<String> = []
    /// Mappings (`8080:80/tcp`) that `unpublish` fails on, as if nftables refused the batch.
    var stuckMappings: Set<String> = []
    var lastReload: FirewallState?

    func addNetwork(_ network: FirewallNetwork) throws {
        calls.append("add \(network.bridge) \(network.subnets.map(\.description).joined(separator: ",")) masq=\(network.masquerade)")
    }
    func removeNetwork(_ network: FirewallNetwork, keepingPortsTo kept: Set<IPAddress>) throws {
        calls.append("remove \(network.bridge)" + (kept.isEmpty ? "" : " keeping " + kept.map(\.description).sorted().joined(separator: ",")))
    }
    func addSharedRules() throws { calls.append("shared") }
    func publish(_ ports: [PublishedPort], on network: FirewallNetwork) throws {
        if refusePublish || ports.contains(where: { refusedMappings.contains($0.mapping.description) }) {
            throw NetworkError(code: .alreadyExists, message: "port taken")
        }
        calls.append("publish " + ports.map { "\($0.mapping)->\($0.containerAddress)" }.joined(separator: " "))
    }
    func unpublish(_ ports: [PublishedPort], from network: FirewallNetwork) throws {
        if ports.contains(where: { stuckMappings.contains($0.mapping.description) }) {
            throw NetworkError(code: .system, message: "nftables refused the batch")
        }
        calls.append("unpublish " + ports.map { "\($0.mapping)->\($0.containerAddress)" }.joined(separator: " "))
    }
    /// Fails `setTunnelPeers` and `removeTunnelPort` on request.
    var refuseTunnelPorts = false
    func setTunnelPeers(port: UInt16, peers: Set<IPAddress>) throws {
        if refuseTunnelPorts { throw NetworkError(code: .system, message: "nftables refused the batch") }
        calls.append("tunnel \(port) " + peers.sorted().map(\.description).joined(separator: ","))
    }
    func removeTunnelPort(_ port: UInt16) throws {
        if refuseTunnelPorts { throw NetworkError(code: .system, message: "nftables refused the batch") }
        calls.append("untunnel \(port)")
    }
    func reload(_ state: FirewallState) throws {
        lastReload = state
        calls.append("reload \(state.networks.count)")
    }
    func isAvailable() -> Bool { true }
}

/// The registry over a throwaway store and a recording firewall (no privileges needed).
struct FirewallRegistryTests {
    let firewall = RecordingFirewall()
    let registry: FirewallRegistry

    init() throws {
        let directory = NSTemporaryDirectory() + "registry-\(UUID().uuidString)"
        registry = FirewallRegistry(store: try StateStore(directory: directory, schema: [FirewallRegistry.schema]), firewall: firewall, proxyExecutable: nil)
    }

    func network(_ subnet: String = "10.10.0.0/24", masquerade: Bool = true) throws -> FirewallNetwork {
        FirewallNetwork(name: "net", bridge: try InterfaceName("br0"), subnets: [try CIDR(parsing: subnet)], masquerade: masquerade)
    }

    func id(_ container: String) throws -> AttachmentID {
        AttachmentID(network: "net", containerID: container, interface: try InterfaceName("eth0"))
    }

    func address(_ text: String) throws -> IPAddress { try IPAddress(parsing: text, field: "test") }

    @Test func networkRulesStayUntilTheLastAttachmentGoes() throws {
        try registry.attach(id("a"), network: network(), ports: [], containerAddresses: [address("10.10.0.2")])
        try registry.attach(id("b"), network: network(), ports: [], containerAddresses: [address("10.10.0.3")])
        try registry.detach(id("a"))
        #expect(!firewall.calls.contains("remove br0"))
        try registry.detach(id("b"))
        try registry.detach(id("b")) // again: nothing to do
        #expect(firewall.calls.filter { $0 == "remove br0" }.count == 1)
    }

    /// What an attach killed before its record committed may have left is unpublished by
    /// its mappings and address; an attachment with a record is left to `detach`.
    @Test func onlyAnUnrecordedAttachmentsPortsAreUnpublishedByTheirMappings() throws {
        let ports = [try PortMapping(parsing: "8080:80")]
        try registry.unpublishUnrecorded(id("a"), network: network(), ports: ports, containerAddresses: [address("10.10.0.2")])
        #expect(firewall.calls == ["unpublish 8080:80/tcp->10.10.0.2"])
        firewall.calls = []
        try registry.attach(id("b"), network: network(), ports: ports, containerAddresses: [address("10.10.0.3")])
        #expect(try registry.isRecorded(id("b")))
        firewall.calls = []
        try registry.unpublishUnrecorded(id("b"), network: network(), ports: ports, containerAddresses: [address("10.10.0.3")])
        #expect(firewall.calls.isEmpty)
        try registry.unpublishUnrecorded(id("c"), network: network(), ports: ports, containerAddresses: []) // no address: nothing to find
        #expect(firewall.calls.isEmpty)
    }

    /// Two network namespaces (two simulated hosts) sharing one store, each with a bridge
    /// named `br0`: one host's attachment is no claim on the other host's rules.
    @Test func recordsOfAnotherHostNamespaceHoldNoClaimOnThisHostsBridge() throws {
        let store = try StateStore(directory: NSTemporaryDirectory() + "registry-\(UUID().uuidString)", schema: [FirewallRegistry.schema])
        let hostA = RecordingFirewall(), hostB = RecordingFirewall()
        let registryA = FirewallRegistry(store: store, firewall: hostA, hostNamespace: "1:100")
        let registryB = FirewallRegistry(store: store, firewall: hostB, hostNamespace: "1:200")
        try registryA.attach(id("a"), network: network(), ports: [], containerAddresses: [address("10.10.0.2")])
        try registryB.attach(id("b"), network: network(), ports: [], containerAddresses: [address("10.10.0.3")])
        // Each host installs its own rules: B's bridge had none, whatever A's record says.
        #expect(hostA.calls == ["add br0 10.10.0.0/24 masq=true"])
        #expect(hostB.calls == ["add br0 10.10.0.0/24 masq=true"])
        // A's last attachment takes A's rules, though B still has one on its own br0.
        try registryA.detach(id("a"))
        #expect(hostA.calls.last == "remove br0")
        #expect(!hostB.calls.contains("remove br0"))
        // A reload rebuilds only the host's own records.
        try registryA.reload()
        #expect(hostA.lastReload?.networks.isEmpty == true)
        try registryB.reload()
        #expect(hostB.lastReload?.networks.count == 1)
    }

    @Test func joiningANetworkWhoseRulesAreInPlaceChangesNoRules() throws {
        try registry.attach(id("a"), network: network(), ports: [], containerAddresses: [address("10.10.0.2")])
        try registry.attach(id("b"), network: network(), ports: [], containerAddresses: [address("10.10.0.3")])
        #expect(firewall.calls == ["add br0 10.10.0.0/24 masq=true"])
    }

    @Test func aNetworkOfItsOwnOutlivesItsAttachments() throws {
        try registry.addNetwork(network(), name: "net")
        try registry.attach(id("a"), network: network(), ports: [], containerAddresses: [address("10.10.0.2")])
        try registry.detach(id("a"))
        #expect(!firewall.calls.contains("remove br0"))
        try registry.removeNetwork(name: "net")
        #expect(firewall.calls.last == "remove br0")
    }

    @Test func attachmentsOnOneBridgeInstallTheUnionOfTheirOptions() throws {
        try registry.attach(id("a"), network: network(masquerade: false), ports: [], containerAddresses: [address("10.10.0.2")])
        try registry.attach(id("b"), network: network("10.20.0.0/24", masquerade: true), ports: [], containerAddresses: [address("10.20.0.2")])
        #expect(firewall.calls.last == "add br0 10.10.0.0/24,10.20.0.0/24 masq=true")
    }

    @Test func portsArePublishedPerContainerFamilyAndRemovedOnDetach() throws {
        let ports = try [PortMapping(parsing: "8080:80"), PortMapping(parsing: "5353:53/udp")]
        let published = try registry.attach(id("a"), network: network(), ports: ports,
                                            containerAddresses: [address("10.10.0.2")])
        #expect(published.map(\.mapping.description) == ["8080:80/tcp", "5353:53/udp"])
        #expect(try registry.published().first?.ports == published)
        try registry.detach(id("a"))
        #expect(firewall.calls.contains("unpublish 8080:80/tcp->10.10.0.2 5353:53/udp->10.10.0.2"))
        #expect(try registry.published().isEmpty)
    }

    @Test func aRefusedPublishLeavesNoRulesAndNoRecord() throws {
        firewall.refusePublish = true
        #expect(throws: NetworkError.self) {
            try registry.attach(id("a"), network: network(), ports: [PortMapping(parsing: "8080:80")],
                                containerAddresses: [address("10.10.0.2")])
        }
        #expect(firewall.calls == ["add br0 10.10.0.0/24 masq=true", "remove br0"])
        #expect(try registry.published().isEmpty)
    }

    @Test func aRepeatedAttachThatFailsPutsBackWhatTheAttachmentHad() throws {
        try registry.attach(id("a"), network: network(), ports: [PortMapping(parsing: "8080:80")], containerAddresses: [address("10.10.0.2")])
        firewall.refusedMappings = ["9090:90/tcp"]
        #expect(throws: NetworkError.self) {
            try registry.attach(id("a"), network: network(), ports: [PortMapping(parsing: "9090:90")], containerAddresses: [address("10.10.0.2")])
        }
        #expect(try registry.published().first?.ports.map(\.mapping.description) == ["8080:80/tcp"])
        #expect(firewall.calls.last == "publish 8080:80/tcp->10.10.0.2")
    }

    @Test func whenPuttingBackFailsTooBothErrorsAreToldAndNoRecordIsLeft() throws {
        try registry.attach(id("a"), network: network(), ports: [PortMapping(parsing: "8080:80")], containerAddresses: [address("10.10.0.2")])
        firewall.refusedMappings = ["9090:90/tcp", "8080:80/tcp"]
        let error = #expect(throws: NetworkError.self) {
            try registry.attach(id("a"), network: network(), ports: [PortMapping(parsing: "9090:90")], containerAddresses: [address("10.10.0.2")])
        }
        #expect(error?.message.contains("putting back") == true)
        #expect(try registry.published().isEmpty)
        #expect(firewall.calls.last == "remove br0") // the rules claimed for the restore are undone
    }

    @Test func removingTheRulesOfABridgeKeepsThePortsOfContainersThatPublishWithoutThem() throws {
        try registry.attach(id("ports-only"), network: network(), usesRules: false, ports: [PortMapping(parsing: "8080:80")],
                            containerAddresses: [address("10.10.0.3")])
        try registry.attach(id("ruled"), network: network(), ports: [], containerAddresses: [address("10.10.0.2")])
        try registry.detach(id("ruled"))
        #expect(firewall.calls.last == "remove br0 keeping 10.10.0.3")
        #expect(try registry.published().map(\.attachment) == [try id("ports-only")])
    }

    @Test func gcDetachesEveryAttachmentOfTheNetworkButTheValidOnes() throws {
        for container in ["a", "b", "c"] {
            try registry.attach(id(container), network: network(), ports: [], containerAddresses: [address("10.10.0.2")])
        }
        let removed = try registry.gc(network: "net", keep: [id("b")])
        #expect(Set(removed) == [try id("a"), try id("c")])
        #expect(try registry.published().map(\.attachment) == [try id("b")])
    }

    @Test func gcGoesOnPastAnAttachmentItCannotDetachAndReportsIt() throws {
        for (index, container) in ["a", "b", "c", "d"].enumerated() {
            try registry.attach(id(container), network: network(), ports: [PortMapping(parsing: "\(8080 + index):80")],
                                containerAddresses: [address("10.10.0.\(index + 2)")])
        }
        firewall.stuckMappings = ["8080:80/tcp", "8082:80/tcp"]
        #expect {
            _ = try registry.gc(network: "net", keep: [id("d")])
        } throws: { error in
            "\(error)".contains("net/a/eth0") && "\(error)".contains("net/c/eth0") && !"\(error)".contains("net/b/eth0")
        }
        // b went; a and c keep their records for the next GC; d is valid.
        #expect(Set(try registry.published().map(\.attachment)) == [try id("a"), try id("c"), try id("d")])
        firewall.stuckMappings = []
        #expect(Set(try registry.gc(network: "net", keep: [id("d")])) == [try id("a"), try id("c")])
        #expect(try registry.published().map(\.attachment) == [try id("d")])
    }

    @Test func reloadRebuildsOneNetworkPerBridgeWithAllItsPorts() throws {
        try registry.attach(id("a"), network: network(), ports: [PortMapping(parsing: "8080:80")], containerAddresses: [address("10.10.0.2")])
        try registry.attach(id("b"), network: network(), ports: [PortMapping(parsing: "8081:80")], containerAddresses: [address("10.10.0.3")])
        try registry.reload()
        let state = try #require(firewall.lastReload)
        #expect(state.networks.count == 1)
        #expect(state.networks.first?.publishedPorts.count == 2)
    }

    @Test func portPlanSendsLoopbackAndForeignFamiliesToTheProxy() throws {
        let plan = try PortPlan([PortMapping(parsing: "8080:80"), PortMapping(parsing: "[2001:db8::1]:9090:90")],
                                containerAddresses: [address("10.10.0.2")], network: network(), owner: "a", hostHasIPv6Loopback: true)
        #expect(plan.dnat.map(\.mapping.description) == ["8080:80/tcp"])
        #expect(plan.proxy.map(\.description).sorted() == [
            "tcp:127.0.0.1:8080=10.10.0.2:80", "tcp:[2001:db8::1]:9090=10.10.0.2:90", "tcp:[::1]:8080=10.10.0.2:80"])
    }

    @Test func aContainerWithoutAddressesCannotPublish() throws {
        #expect(throws: NetworkError.self) {
            try PortPlan([PortMapping(parsing: "8080:80")], containerAddresses: [], network: network(), owner: "a", hostHasIPv6Loopback: false)
        }
    }
}
