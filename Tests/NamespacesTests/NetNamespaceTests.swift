import Glibc
@testable import Namespaces
import NetCore
import Testing

/// Tests that need no privileges: name and key validation, opening namespace files.
@Suite struct NamespaceNameTests {
    @Test func pathJoinsTheDirectoryAndTheName() throws {
        #expect(try NetNamespace.path(named: "blue") == "/run/netns/blue")
        #expect(try NetNamespace.path(named: "blue", in: "/tmp/ns") == "/tmp/ns/blue")
        #expect(NetNamespace.defaultRunDirectory == "/run/netns")
    }

    @Test(arguments: ["a", "a.b", "...", ".hidden", "ns-1_x", "é", String(repeating: "n", count: 255)])
    func namesThatStayInTheDirectoryAreAccepted(name: String) throws {
        #expect(try NetNamespace.path(named: name) == "/run/netns/" + name)
    }

    @Test(arguments: [
        "", ".", "..", "a/b", "/abs", "a/", "../etc", "a/../b", "a\0b",
        String(repeating: "n", count: 256), String(repeating: "é", count: 128),
    ])
    func namesThatCouldEscapeTheDirectoryAreRejectedNamingTheValue(name: String) {
        let error = #expect(throws: NetworkError.self) { try NetNamespace.path(named: name) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.hasPrefix("invalid namespace name \"\(name)\": ") == true)
    }
}

@Suite struct SysctlPathTests {
    @Test(arguments: [
        ("net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"),
        ("net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_forward"),
        ("net.ipv6.conf.all.disable_ipv6", "/proc/sys/net/ipv6/conf/all/disable_ipv6"),
        // The slash form keeps dots, for interface names such as a VLAN's.
        ("net/ipv4/conf/eth0.100/forwarding", "/proc/sys/net/ipv4/conf/eth0.100/forwarding"),
        ("net", "/proc/sys/net"),
    ])
    func dottedAndSlashedKeysMapUnderProcSys(key: String, path: String) throws {
        #expect(try NetNamespace.sysctlPath(key) == path)
    }

    @Test(arguments: [
        "", ".", "..", "../etc/passwd", "net/../../etc/passwd", "net/ipv4/..", "net/./ipv4", "/net/ipv4",
        "net/ipv4/", "net//ipv4", "net..ipv4", ".net", "net.", "/",
    ])
    func keysWithEmptyDotOrDotDotComponentsAreRejectedNamingTheKey(key: String) {
        let error = #expect(throws: NetworkError.self) { try NetNamespace.sysctlPath(key) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.hasPrefix("invalid sysctl key \"\(key)\": ") == true)
    }

    @Test func readingABadKeyFailsBeforeEnteringTheNamespace() throws {
        let namespace = try NetNamespace.current()
        let error = #expect(throws: NetworkError.self) { try namespace.readSysctl("net/../../etc/shadow") }
        #expect(error?.code == .invalidArgument)
    }
}

@Suite struct OpenNamespaceTests {
    @Test func openingAMissingPathThrowsNotFoundNamingIt() {
        let path = "/nonexistent-netctl-test/netns/\(UInt32.random(in: 0...UInt32.max))"
        let error = #expect(throws: NetworkError.self) { try NetNamespace.open(path: path) }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("\"\(path)\"") == true)
        #expect(error?.errno == .noSuchFileOrDirectory)
    }

    @Test(arguments: ["/etc/hostname", "/", "/proc/self/ns/uts", "/dev/null"])
    func openingSomethingElseThrowsInvalidArgument(path: String) throws {
        try #require(exists(path))
        let error = #expect(throws: NetworkError.self) { try NetNamespace.open(path: path) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid network namespace path \"\(path)\": is not a network namespace")
    }

    @Test func currentIsTheSameNamespaceEachTime() throws {
        let first = try NetNamespace.current()
        let second = try NetNamespace.current()
        #expect(first.identity == second.identity)
        #expect(first.descriptor != second.descriptor)
        #expect(first.path == "/proc/thread-self/ns/net")
    }

    @Test func ofOwnPidIsTheCurrentNamespace() throws {
        let mine = try NetNamespace.of(pid: getpid())
        #expect(mine.identity == (try NetNamespace.current()).identity)
        #expect(mine.path == "/proc/\(getpid())/ns/net")
    }

    @Test func ofAMissingProcessThrowsNotFound() {
        let error = #expect(throws: NetworkError.self) { try NetNamespace.of(pid: Int32.max) }
        #expect(error?.code == .notFound)
    }

    @Test func identityDescriptionMatchesTheKernelsLinkText() throws {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/self/ns/net", &buffer, buffer.count - 1)
        try #require(count > 0)
        let link = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(try NetNamespace.current().identity.description == link)
    }
}
