import NetCore
import Testing

/// The published FNV-1a 64 test vectors: names derived from it must never change between builds.
struct FNV1aTests {
    @Test func publishedVectors() {
        #expect(FNV1a.hash([UInt8]()) == 0xcbf2_9ce4_8422_2325)
        #expect(FNV1a.hash("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(FNV1a.hash("foobar".utf8) == 0x8594_4171_f739_67e8)
    }

    /// Host-side names found again by teardown after an upgrade: the derivation stays put.
    @Test func hostInterfaceNamesStayPut() throws {
        let id = AttachmentID(network: "web", containerID: "0123456789ab", interface: try InterfaceName("eth0"))
        #expect(id.hostInterfaceName.rawValue == "veth10fdeeca386")
    }
}
