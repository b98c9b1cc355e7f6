import Foundation
import Testing

/// netctl's resolver end to end (scripts/e2e/dns.sh, in a network and mount namespace of its
/// own with an upstream on loopback named by /etc/resolv.conf).
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct DNSEndToEndTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/e2e/dns.sh").standardized.path

    func run(_ mode: String) throws -> (passed: [String], failed: [String]) {
        let output = try runCommand([Self.script, mode, productsDirectory.path]).text
        let lines = output.split(separator: "\n").map(String.init)
        return (lines.filter { $0.hasPrefix("PASS ") }, lines.filter { $0.hasPrefix("FAIL ") })
    }

    /// Names and aliases over UDP and TCP, AAAA over IPv6, PTR, NXDOMAIN in netctl's domain,
    /// forwarding (UDP and TCP; a port per query, an answer of another ID skipped, a refusing
    /// upstream passed over, SERVFAIL when none answers), another network neither resolving them nor asking this
    /// resolver, `--disable-dns`, `netctl exec` with the sandbox's resolv.conf, malformed
    /// queries, a name gone within a second of disconnect and back after reconnect, the host
    /// listening on loopback and the gateways only, cleanup.
    @Test func sandboxesFindEachOtherByName() throws {
        let (passed, failed) = try run("netctl")
        #expect(failed.isEmpty, "\(failed)")
        #expect(passed.count == 29, "\(passed)")
    }

    /// podman 4.3's CNI backend with `bridge` + `dnsname`: `podman run --name web` is `web`.
    @Test(.enabled(if: ["/usr/bin/podman", "/usr/bin/crun"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) },
                   "needs podman and crun (make deps installs them)"))
    func podmanContainersFindEachOtherThroughDnsname() throws {
        let (passed, failed) = try run("podman")
        #expect(failed.isEmpty, "\(failed)")
        #expect(passed.count == 3, "\(passed)")
    }
}
