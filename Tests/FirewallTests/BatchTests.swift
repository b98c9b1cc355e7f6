@testable import Firewall
import NetCore
import Testing

/// The exact nftables JSON each firewall operation sends, one transaction per operation.
struct BatchTests {
    let transport = RecordingTransport()

    @Test func addingANetworkDeclaresTheSharedObjectsAndItsOwnChainAndElements() throws {
        try firewall(transport).addNetwork(network())
        #expect(transport.batches.count == 1)
        try Golden.expect(transport.batches[0], matches: "add-network")
    }

    @Test func anInternalNetworkOnlyTalksToItsOwnBridgeAndIsNeverMasqueraded() throws {
        try firewall(transport).addNetwork(network(isInternal: true))
        let lines = try Golden.lines(transport.batches[0])
        #expect(!lines.contains(#""name":"masquerade4","elem""#))
        try Golden.expect(transport.batches[0], matches: "add-internal-network")
    }

    @Test func localhostDNATTurnsOnRouteLocalnetOnlyAfterTheGuardIsInPlace() throws {
        let host = try FakeHost(addresses: [ip("127.0.0.1")])
        let key = "net/ipv4/conf/br0/route_localnet"
        host.sysctls[key] = "0"
        // The transport sees the batch while the sysctl is still off.
        final class Checking: NftablesTransport {
            let host: FakeHost
            var sysctlDuringBatch: String?
            init(host: FakeHost) { self.host = host }
            func run(_ commands: String) throws -> String {
                sysctlDuringBatch = host.sysctls["net/ipv4/conf/br0/route_localnet"]
                return ""
            }
        }
        let checking = Checking(host: host)
        try NftablesFirewall(transport: checking, host: host, lock: nil).addNetwork(network(localhostDNAT: true))
        #expect(checking.sysctlDuringBatch == "0")
        #expect(host.sysctls[key] == "1")
    }

    @Test func localhostDNATOnAMissingBridgeChangesNothing() throws {
        let host = try FakeHost(addresses: [ip("127.0.0.1")])
        #expect(throws: NetworkError.self) { try NftablesFirewall(transport: transport, host: host, lock: nil).addNetwork(network(localhostDNAT: true)) }
        #expect(transport.batches.isEmpty)
    }

    @Test func publishingOnEveryAddressCreatesBothMapElementsAndProbesEachHostAddress() throws {
        try firewall(transport).publish([PublishedPort(parsing: "8080:80", containerAddress: ip("10.10.0.2"), owner: "c1")], on: network())
        try Golden.expect(transport.batches[0], matches: "publish-any-address")
    }

    @Test func publishingARangeOnOneIPv6AddressIsOneElementPerPort() throws {
        let host = try FakeHost(addresses: [ip("2001:db8::1")])
        try firewall(transport, host: host).publish(
            [PublishedPort(parsing: "[2001:db8::1]:8000-8001:80-81/sctp", containerAddress: ip("fd10::2"), owner: "c1")], on: network())
        try Golden.expect(transport.batches[0], matches: "publish-host-address-v6-range")
    }

    @Test func unpublishingAddsAndDeletesInOneTransactionSoAMissingMappingIsNoError() throws {
        try firewall(transport).unpublish([PublishedPort(parsing: "8080:80", containerAddress: ip("10.10.0.2"), owner: "c1")], from: network())
        try Golden.expect(transport.batches[0], matches: "unpublish")
    }

    @Test func unpublishingWithoutATableIsSuccess() throws {
        transport.replies = [.failure(NftablesError(message: "Error: Could not process rule: No such file or directory"))]
        try firewall(transport).unpublish([PublishedPort(parsing: "8080:80", containerAddress: ip("10.10.0.2"), owner: "c1")], from: network())
        #expect(transport.batches.count == 1)
    }

    @Test func unpublishingAPortNowOwnedBySomeoneElseLeavesTheirMappingAlone() throws {
        transport.replies = [.failure(NftablesError(message: "Error: Could not process rule: File exists")),
                             .success(Self.listing(mappedTo: "10.10.0.9"))]
        try firewall(transport).unpublish([PublishedPort(parsing: "8080:80", containerAddress: ip("10.10.0.2"), owner: "c1")], from: network())
        // The add/delete attempt, the listing, and no deletion: the element points elsewhere.
        #expect(transport.batches.count == 2)
    }

    @Test func aTakenPortIsReportedWithItsOwner() throws {
        transport.replies = [.failure(NftablesError(message: "Error: Could not process rule: File exists")),
                             .success(Self.listing(mappedTo: "10.10.0.9", owner: "other"))]
        let error = #expect(throws: NetworkError.self) {
            try firewall(transport).publish([PublishedPort(parsing: "8080:80", containerAddress: ip("10.10.0.2"), owner: "c1")], on: network())
        }
        #expect(error?.code == .alreadyExists)
        #expect(error?.message.contains("8080") == true)
        #expect(error?.message.contains("other") == true)
    }

    /// One request taking a port twice is bad input, found before anything is sent; two
    /// owners of one port are a conflict naming both.
    @Test func aPortTakenTwiceIsRefusedBeforeAnythingIsSent() throws {
        let twice = #expect(throws: NetworkError.self) {
            try firewall(transport).publish([try PublishedPort(parsing: "8000-8010:80-90", containerAddress: ip("10.10.0.2"), owner: "c1"),
                                             try PublishedPort(parsing: "8005:80", containerAddress: ip("10.10.0.2"), owner: "c1")], on: network())
        }
        #expect(twice?.code == .invalidArgument)
        #expect(twice?.message == #"invalid port mapping "8005:80/tcp": takes port 0.0.0.0:8005/tcp, as "8000-8010:80-90/tcp" of the same container (c1) does"#)
        let shared = #expect(throws: NetworkError.self) {
            try firewall(transport).publish([try PublishedPort(parsing: "8005:80", containerAddress: ip("10.10.0.2"), owner: "c1"),
                                             try PublishedPort(parsing: "8005:80", containerAddress: ip("10.10.0.3"), owner: "c2")], on: network())
        }
        #expect(shared?.code == .alreadyExists)
        #expect(shared?.message.contains("(c1)") == true && shared?.message.contains("(c2)") == true)
        #expect(transport.batches.isEmpty)
    }

    @Test func sharedRulesAloneAreTheTableTheMapsAndTheFixedRules() throws {
        try firewall(transport).addSharedRules()
        try Golden.expect(transport.batches[0], matches: "add-shared-rules")
    }

    @Test func aNetworkWithLocalhostDNATPutsItsBridgeInTheLocalnetSet() throws {
        let host = try FakeHost(addresses: [ip("127.0.0.1")])
        host.sysctls["net/ipv4/conf/br0/route_localnet"] = "0"
        try firewall(transport, host: host).addNetwork(network(localhostDNAT: true))
        try Golden.expect(transport.batches[0], matches: "add-network-localhost-dnat")
    }

    @Test func publishingOnEveryAddressOfALocalhostDNATNetworkAlsoFillsTheLoopbackMaps() throws {
        try firewall(transport).publish([PublishedPort(parsing: "8080:80", containerAddress: ip("10.10.0.2"), owner: "c1")],
                                        on: network(localhostDNAT: true))
        try Golden.expect(transport.batches[0], matches: "publish-any-address-localhost-dnat")
    }

    @Test func publishingOnOneIPv4AddressKeysTheMapsByThatAddress() throws {
        let host = try FakeHost(addresses: [ip("192.0.2.10")])
        try firewall(transport, host: host).publish(
            [PublishedPort(parsing: "192.0.2.10:5353:53/udp", containerAddress: ip("10.10.0.2"), owner: "c1")], on: network())
        try Golden.expect(transport.batches[0], matches: "publish-host-address-v4")
    }

    @Test func unpublishingAfterAConflictDeletesOnlyTheElementsStillPointingAtTheContainer() throws {
        transport.replies = [.failure(NftablesError(message: "Error: Could not process rule: File exists")),
                             .success(Self.listing(mappedTo: "10.10.0.2"))]
        try firewall(transport).unpublish([PublishedPort(parsing: "8080:80", containerAddress: ip("10.10.0.2"), owner: "c1")], from: network())
        #expect(transport.batches.count == 3) // the attempt, the listing, the deletion
        try Golden.expect(transport.batches[2], matches: "unpublish-listed")
    }

    @Test func removingANetworkKeepsThePortsOfContainersThatPublishWithoutItsRules() throws {
        transport.replies = [.success(Self.listing(mappedTo: "10.10.0.2", secondNetwork: true))]
        try firewall(transport).removeNetwork(network(), keepingPortsTo: [ip("10.10.0.2")])
        let lines = try Golden.lines(transport.batches[1])
        #expect(!lines.contains("dnat4_any"))
        #expect(lines.contains(#""delete":{"chain""#))
    }

    @Test func removingTheLastNetworkKeepsTheTableWhilePortsRemain() throws {
        transport.replies = [.success(Self.listing(mappedTo: "10.10.0.2", secondNetwork: false))]
        try firewall(transport).removeNetwork(network(), keepingPortsTo: [ip("10.10.0.2")])
        let lines = try Golden.lines(transport.batches[1])
        #expect(!lines.contains(#""delete":{"table""#))
        #expect(!lines.contains("dnat4_any"))
    }

    @Test func aHostAddressNotOnThisHostIsRefusedBeforeAnythingIsSent() throws {
        let error = #expect(throws: NetworkError.self) {
            try firewall(transport).publish([PublishedPort(parsing: "198.51.100.7:8080:80", containerAddress: ip("10.10.0.2"), owner: "c1")], on: network())
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("198.51.100.7") == true)
        #expect(transport.batches.isEmpty)
    }

    @Test func anInternalNetworkCannotPublish() throws {
        #expect(throws: NetworkError.self) {
            try firewall(transport).publish([PublishedPort(parsing: "8080:80", containerAddress: ip("10.10.0.2"), owner: "c1")], on: network(isInternal: true))
        }
        #expect(transport.batches.isEmpty)
    }

    @Test func twoPortsOfOneRequestMayNotCollide() throws {
        #expect(throws: NetworkError.self) {
            try firewall(transport).publish([PublishedPort(parsing: "8080:80", containerAddress: ip("10.10.0.2"), owner: "c1"),
                                             PublishedPort(parsing: "8079-8081:79-81", containerAddress: ip("10.10.0.2"), owner: "c1")], on: network())
        }
        #expect(transport.batches.isEmpty)
    }

    @Test func removingOneOfTwoNetworksDeletesOnlyItsElementsChainAndPorts() throws {
        transport.replies = [.success(Self.listing(mappedTo: "10.10.0.2", secondNetwork: true))]
        try firewall(transport).removeNetwork(network())
        #expect(transport.batches.count == 2)
        try Golden.expect(transport.batches[1], matches: "remove-network")
    }

    @Test func removingANetworkClearsLocalhostDNATEvenWhenTheCallerForgotItWasOn() throws {
        let host = try FakeHost(addresses: [ip("127.0.0.1")])
        host.sysctls["net/ipv4/conf/br0/route_localnet"] = "1"
        let listing = Self.listing(mappedTo: "10.10.0.2", secondNetwork: true).replacingOccurrences(
            of: #"{"chain": {"family": "inet", "table": "netctl", "name": "net-br0"}}"#,
            with: #"{"set": {"family": "inet", "table": "netctl", "name": "localnet_bridges", "type": "ifname", "elem": ["br0"]}}, {"chain": {"family": "inet", "table": "netctl", "name": "net-br0"}}"#)
        transport.replies = [.success(listing)]
        try firewall(transport, host: host).removeNetwork(network(localhostDNAT: false))
        #expect(host.sysctls["net/ipv4/conf/br0/route_localnet"] == "0")
        #expect(try Golden.lines(transport.batches[1]).contains(#""name":"localnet_bridges","elem":["br0"]"#))
    }

    @Test func removingTheLastNetworkDeletesTheTable() throws {
        transport.replies = [.success(Self.listing(mappedTo: "10.10.0.2", secondNetwork: false))]
        try firewall(transport).removeNetwork(network())
        #expect(try Golden.lines(transport.batches[1]) == #"{"delete":{"table":{"family":"inet","name":"netctl"}}}"# + "\n")
    }

    @Test func removingANetworkWhenThereIsNoTableSendsNothingMore() throws {
        transport.replies = [.failure(NftablesError(message: "Error: No such file or directory"))]
        try firewall(transport).removeNetwork(network())
        #expect(transport.batches.count == 1) // only the listing
    }

    @Test func reloadReplacesTheWholeTableInOneTransaction() throws {
        let state = try FirewallState(networks: [.init(network(), publishedPorts: [
            PublishedPort(parsing: "5353:53/udp", containerAddress: ip("10.10.0.2"), owner: "c1")])])
        try firewall(transport).reload(state)
        #expect(transport.batches.count == 1)
        try Golden.expect(transport.batches[0], matches: "reload")
    }

    @Test func reloadRefusesTwoNetworksOnOneBridge() throws {
        let state = try FirewallState(networks: [.init(network()), .init(network())])
        #expect(throws: NetworkError.self) { try firewall(transport).reload(state) }
        #expect(transport.batches.isEmpty)
    }

    @Test func aRefusalCarriesLibnftablesOwnMessage() throws {
        transport.replies = [.failure(NftablesError(message: "internal:0:0-0: Error: Could not process rule: Operation not permitted\n"))]
        let error = #expect(throws: NetworkError.self) { try firewall(transport).addNetwork(network()) }
        #expect(error.map { "\($0)" }?.contains("Could not process rule: Operation not permitted") == true)
    }

    @Test func libnftablesMessagesLoseTheirMeaninglessPrefix() {
        let error = NftablesError(message: "internal:0:0-0: Error: Could not process rule: File exists\n")
        #expect(error.description == "Error: Could not process rule: File exists")
        #expect(error.isAlreadyExists)
    }

    /// What `nft -j list table inet netctl` prints with br0 (and maybe br1) and one port.
    static func listing(mappedTo container: String, owner: String = "c1", secondNetwork: Bool = false) -> String {
        let networks = secondNetwork
            ? #"[["br0", {"jump": {"target": "net-br0"}}], ["br1", {"jump": {"target": "net-br1"}}]]"#
            : #"[["br0", {"jump": {"target": "net-br0"}}]]"#
        let subnets = secondNetwork
            ? #"[{"prefix": {"addr": "10.10.0.0", "len": 24}}, {"prefix": {"addr": "10.11.0.0", "len": 24}}]"#
            : #"[{"prefix": {"addr": "10.10.0.0", "len": 24}}]"#
        return #"""
        {"nftables": [{"metainfo": {"json_schema_version": 1}},
         {"table": {"family": "inet", "name": "netctl"}},
         {"map": {"family": "inet", "table": "netctl", "name": "networks", "type": "ifname", "map": "verdict", "elem": \#(networks)}},
         {"set": {"family": "inet", "table": "netctl", "name": "bridges", "type": "ifname", "elem": \#(secondNetwork ? #"["br0", "br1"]"# : #"["br0"]"#)}},
         {"set": {"family": "inet", "table": "netctl", "name": "subnets4", "type": "ipv4_addr", "flags": ["interval"], "elem": \#(subnets)}},
         {"set": {"family": "inet", "table": "netctl", "name": "subnets6", "type": "ipv6_addr", "flags": ["interval"], "elem": [{"prefix": {"addr": "fd10::", "len": 64}}]}},
         {"map": {"family": "inet", "table": "netctl", "name": "dnat4_any_addr", "type": ["inet_proto", "inet_service"], "map": "ipv4_addr",
                  "elem": [[{"elem": {"val": {"concat": ["tcp", 8080]}, "comment": "\#(owner)"}}, "\#(container)"]]}},
         {"map": {"family": "inet", "table": "netctl", "name": "dnat4_any_port", "type": ["inet_proto", "inet_service"], "map": "inet_service",
                  "elem": [[{"elem": {"val": {"concat": ["tcp", 8080]}, "comment": "\#(owner)"}}, 80]]}},
         {"chain": {"family": "inet", "table": "netctl", "name": "net-br0"}},
         {"chain": {"family": "inet", "table": "netctl", "name": "net-br1"}}]}
        """#
    }
}
