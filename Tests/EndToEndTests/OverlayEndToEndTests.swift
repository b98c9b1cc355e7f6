import Foundation
import Testing

/// Overlay networks across four simulated hosts (scripts/e2e/overlay.sh: namespaces on a veth
/// underlay bridge, each with its own store and `netctld agent`, a real etcd on a unix socket
/// and another with TLS client certificates on the underlay).
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct OverlayEndToEndTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/e2e/overlay.sh").standardized.path

    /// Refused without an agent; a network made on one host is on every host within 2 s;
    /// containers on different hosts reach each other with their own addresses (ICMP, TCP);
    /// inspect shows the hosts; 3 kernel entries per remote host; isolation from the host's other
    /// networks, through the tunnel too; MTU from the underlay; no
    /// multicast; VXLAN from an unknown address dropped; a late host reached; the CNI
    /// `overlay` type; a SIGKILLed agent forgotten within TTL + 1 s and its share freed; a
    /// restart within the TTL keeps the share; an etcd restart; a compacted watch; `network rm`
    /// refused naming the hosts with endpoints, then nothing left on any host or in etcd; TLS.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd"), "needs etcd (make deps installs etcd-server)"))
    func containersOnDifferentHostsReachEachOther() throws {
        let output = try runCommand([Self.script, productsDirectory.path]).text
        let lines = output.split(separator: "\n").map(String.init)
        let passed = lines.filter { $0.hasPrefix("PASS ") }, failed = lines.filter { $0.hasPrefix("FAIL ") }
        #expect(failed.isEmpty, "\(failed)")
        #expect(passed.count == 49, "\(passed)")
    }
}
