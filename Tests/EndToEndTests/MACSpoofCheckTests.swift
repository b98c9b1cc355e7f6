import Foundation
import NetCore
import Testing

/// `bridge` with `macspoofchk`: frames with another source MAC never reach the bridge.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct MACSpoofCheckTests {
    @Test func aContainerThatChangesItsMACIsCutOffAndDeleteRemovesTheGuard() throws {
        let container = try ScratchNamespace("spoof")
        let dataDir = NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)"
        let config = #"""
            {"cniVersion":"1.1.0","name":"spoof","type":"bridge","bridge":"spoofbr0","isGateway":true,"macspoofchk":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.160.0.0/24"}]]}}
            """#
        let add = try execPlugin("bridge", command: "ADD", containerID: "spoof1", netns: container.path, config: config)
        #expect(add.status == 0, "\(add.stdout)")
        let ping = ["ip", "netns", "exec", container.name, "ping", "-c", "2", "-i", "0.2", "-W", "1", "10.160.0.1"]
        #expect(try runCommand(ping).status == 0)

        try runCommand(["ip", "-n", container.name, "link", "set", "eth0", "address", "02:00:00:00:be:ef"])
        try runCommand(["ip", "-n", container.name, "neigh", "flush", "all"])
        #expect(try runCommand(ping).status != 0) // spoofed: dropped on the host port

        #expect(try execPlugin("bridge", command: "DEL", containerID: "spoof1", netns: container.path, config: config).status == 0)
        #expect(try execPlugin("bridge", command: "DEL", containerID: "spoof1", netns: container.path, config: config).status == 0)
        let table = try runCommand(["nft", "-j", "list", "table", "bridge", "netctl"]).text
        #expect(!table.contains("\"port-veth")) // the port's chain is gone
    }
}
