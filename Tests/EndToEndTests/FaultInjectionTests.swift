import Foundation
import Testing

/// A failure at every step (scripts/e2e/faults.sh): for each N, the N-th netlink request,
/// libnftables command or SQLite statement of one process fails (`NETCTL_FAULT_AT`, a switch
/// of debug builds); the operation is then whole or absent, and teardown leaves no link, rule,
/// proxy, lease or row.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct FaultInjectionTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/e2e/faults.sh").standardized.path

    func run(_ mode: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let output = try runCommand([Self.script, mode, productsDirectory.path]).text
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("FAIL ") }.isEmpty, "\(lines)", sourceLocation: sourceLocation)
        #expect(lines.contains { $0.hasPrefix("PASS \(mode) (") }, "\(lines)", sourceLocation: sourceLocation)
    }

    /// `cnitool add` of bridge + host-local + portmap, a fault in each plugin in turn; DEL.
    @Test func everyStepOfACNIAddWithPortmap() throws { try run("cni") }

    /// The bridge plugin with `ipMasq` killed (SIGKILL) at each step of its ADD, as by a crash:
    /// the runtime's DEL still leaves no masquerade rule without a holder.
    @Test func aBridgeAddKilledAtEveryStepLeavesNothingAfterDEL() throws { try run("cni-killed") }

    /// `netctl connect -p` (DNAT and the loopback proxy); disconnect and gc.
    @Test func everyStepOfAConnectWithPublishedPorts() throws { try run("connect") }

    /// `netctl network create` of a bridge network; network rm.
    @Test func everyStepOfANetworkCreate() throws { try run("create") }
}
