import Drivers
import NetCore
import Testing

/// Attachment identities need no privileges.
@Suite struct AttachmentIDTests {
    @Test func hostNameIsStableShortAndDistinct() throws {
        let first = AttachmentID(network: "net1", containerID: "abc", interface: try InterfaceName("eth0"))
        let again = AttachmentID(network: "net1", containerID: "abc", interface: try InterfaceName("eth0"))
        let other = AttachmentID(network: "net1", containerID: "abd", interface: try InterfaceName("eth0"))
        #expect(first.hostInterfaceName == again.hostInterfaceName)
        #expect(first.hostInterfaceName != other.hostInterfaceName)
        #expect(first.hostInterfaceName.rawValue.utf8.count == 15)
        #expect(first.hostInterfaceName.rawValue.hasPrefix("veth"))
    }

    @Test func aliasRoundTripsAndForeignAliasesAreNil() throws {
        let id = AttachmentID(network: "net1", containerID: "c0ffee", interface: try InterfaceName("eth1"))
        #expect(AttachmentID(alias: id.alias) == id)
        #expect(AttachmentID(alias: "docker0 port") == nil)
        #expect(AttachmentID(alias: "netctl:a/b") == nil)
    }
}
