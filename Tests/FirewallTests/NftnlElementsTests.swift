@testable import Firewall
import NetCore
import Testing

/// Which batches libnftnl writes (published ports' elements) and the bytes of their keys and
/// values, as `nft -d mnl` shows libnftables sending them for the same JSON.
struct NftnlElementsTests {
    let sets = Dictionary(Ruleset.sets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

    /// The batch a publish sends, in the order the planner makes it.
    func publishBatch(_ spec: String, to address: String, hostAddresses: [String], localhostDNAT: Bool = false) throws -> Nftables.Batch {
        let network = try network(localhostDNAT: localhostDNAT)
        var claims = PortClaims()
        let port = try PublishedPort(parsing: spec, containerAddress: ip(address), owner: "c1")
        let hosts = try hostAddresses.map(ip)
        let entries = try PortEntry.entries(for: [port], on: network, hostAddresses: Set(hosts), claims: &claims)
        return FirewallPlanner().publish(entries, probing: hosts)
    }

    @Test func aPublishIsItsElementCommandsWithoutTheDeclarations() throws {
        let batch = try publishBatch("20003:80", to: "10.10.0.4", hostAddresses: ["10.10.0.1"], localhostDNAT: true)
        let messages = try #require(NftnlElements.messages(batch, sets: sets))
        #expect(messages.map(\.set) == ["dnat4_any_addr", "dnat4_any_port", "dnat4_loopback_addr", "dnat4_loopback_port",
                                        "dnat4_host_addr", "dnat4_host_addr"])
        let create: UInt16 = 0x400 | 0x200 // NLM_F_CREATE | NLM_F_EXCL
        #expect(messages.map(\.flags) == [create, create, create, create, create, 0])
        #expect(messages.map(\.type) == [12, 12, 12, 12, 12, 14]) // NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM

        // tcp . 20003 : 10.10.0.4 and : 80, with the owner as the comment.
        let address = try #require(messages.first?.elements.first)
        #expect(address.key == [6, 0, 0, 0, 0x4e, 0x23, 0, 0])
        #expect(address.data == [10, 10, 0, 4])
        #expect(address.comment == "c1")
        #expect(messages[1].elements.first?.data == [0, 80])
        // The probe: 10.10.0.1 . tcp . 20003 : 0.0.0.0, created and deleted again.
        #expect(messages[4].elements.first?.key == [10, 10, 0, 1, 6, 0, 0, 0, 0x4e, 0x23, 0, 0])
        #expect(messages[4].elements.first?.data == [0, 0, 0, 0])
        #expect(messages[5].elements.first?.key == messages[4].elements.first?.key)
        #expect(messages[5].elements.first?.data == nil)
    }

    @Test func ipv6AndSCTPKeysAreEncodedToo() throws {
        let batch = try publishBatch("[2001:db8::1]:8000:80/sctp", to: "fd10::2", hostAddresses: ["2001:db8::1"])
        let messages = try #require(NftnlElements.messages(batch, sets: sets))
        let first = try #require(messages.first?.elements.first)
        #expect(first.key.count == 16 + 4 + 4)
        #expect(Array(first.key[16...]) == [132, 0, 0, 0, 0x1f, 0x40, 0, 0])
        #expect(first.data == (try ip("fd10::2")).bytes)
    }

    @Test func batchesWithAnythingButElementsAreLeftToLibnftables() throws {
        var batch = Nftables.Batch(table: Ruleset.table, commands: [.add(.table)])
        #expect(NftnlElements.messages(batch, sets: sets)?.isEmpty == true)
        batch.append(.flush(.chain(.init(name: "forward"))))
        #expect(NftnlElements.messages(batch, sets: sets) == nil)
        // Interval sets (subnets) and sets this project does not declare.
        let subnet = Nftables.Element(key: .prefix(try CIDR(parsing: "10.10.0.0/24")))
        #expect(NftnlElements.messages(Nftables.Batch(table: Ruleset.table, commands: [.add(.elements("subnets4", [subnet]))]), sets: sets) == nil)
        #expect(NftnlElements.messages(Nftables.Batch(table: Ruleset.table, commands: [.add(.elements("elsewhere", [subnet]))]), sets: sets) == nil)
        // A table that is created, not just declared, is not a declaration.
        #expect(NftnlElements.messages(Nftables.Batch(table: Ruleset.table, commands: [.create(.table)]), sets: sets) == nil)
    }

    @Test func valuesOfTheWrongTypeAreNotEncoded() {
        #expect(NftnlElements.encode(.number(70000), as: [.inetService]) == nil)
        #expect(NftnlElements.encode(.symbol("icmp"), as: [.inetProtocol]) == nil)
        #expect(NftnlElements.encode(.concatenation([.symbol("tcp")]), as: [.inetProtocol, .inetService]) == nil)
        #expect(NftnlElements.encode(.number(80), as: [.inetService]) == [0, 80])
    }
}

/// The batches written with libmnl are libnftnl's, byte for byte (where libnftnl is installed).
struct NftnlElementsBytesTests {
    let sets = Dictionary(Ruleset.sets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

    func compare(_ batch: Nftables.Batch) throws {
        guard let reference = LibnftnlReference() else { return }
        let messages = try #require(NftnlElements.messages(batch, sets: sets))
        #expect(!messages.isEmpty)
        let ours = try NftnlElements.batch(messages, family: batch.table.family, table: batch.table.name)
        #expect(ours == reference.batch(messages, family: 1, table: batch.table.name))
    }

    @Test func aPublishIsLibnftnlsBatch() throws {
        let tests = NftnlElementsTests()
        try compare(try tests.publishBatch("20003:80", to: "10.10.0.4", hostAddresses: ["10.10.0.1", "192.0.2.7"], localhostDNAT: true))
        try compare(try tests.publishBatch("[2001:db8::1]:8000:80/sctp", to: "fd10::2", hostAddresses: ["2001:db8::1"]))
    }

    @Test func anUnpublishIsLibnftnlsBatch() throws {
        let network = try network(localhostDNAT: true)
        let port = try PublishedPort(parsing: "127.0.0.1:20004:80/udp", containerAddress: ip("10.10.0.5"), owner: "c2")
        let entries = PortEntry.entriesForRemoval(of: [port], on: network)
        try compare(FirewallPlanner().unpublish(entries))
    }

    @Test func aCommentOfTheLongestLengthFitsAndALongerOneIsRefused() throws {
        let longest = String(repeating: "c", count: Nftables.Element.maximumCommentLength)
        #expect(try NftnlElements.userData(comment: longest).count == 2 + Nftables.Element.maximumCommentLength + 1)
        #expect(throws: NftablesError.self) { try NftnlElements.userData(comment: longest + "c") }
    }
}
