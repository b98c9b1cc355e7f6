import CNI
import Foundation
import NetCore
import Testing

/// Real network configs driven through the CNI runtime and cnitool over our plugins, as a
/// container engine would: a single-plugin `.conf`, GC of a stale attachment with real
/// plugins, DEL twice, and nothing left behind. (Bridge + portmap: CNIRuntimeEndToEndTests.)
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct RuntimeChainTests {
    let cacheDirectory = NSTemporaryDirectory() + "e2e-cni-cache-\(UUID().uuidString)"
    var runtime: CNIRuntime { CNIRuntime(pluginDirectories: [pluginDirectory.path], cacheDirectory: cacheDirectory) }

    func cacheEntries() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory + "/results"))?.sorted() ?? []
    }

    func ping(from namespace: ScratchNamespace, _ address: String) throws -> Bool {
        try runCommand(["ip", "netns", "exec", namespace.name, "ping", "-c", "2", "-i", "0.2", "-W", "1", address]).status == 0
    }

    @Test func loopbackConfAddCheckDeleteTwice() throws {
        let namespace = try ScratchNamespace("rtlo")
        let list = try NetworkConfigList(parsingSingle: Array(#"{"cniVersion":"1.1.0","name":"rt-lo","type":"loopback"}"#.utf8))
        let attachment = NetworkAttachment(containerID: "rtlo", netns: namespace.path, ifName: "lo")
        let result = try runtime.add(list, attachment)
        #expect(result.ips.map(\.address.description).first == "127.0.0.1/8")
        #expect((try namespace.ip("link", "show", "lo").first?["flags"] as? [String])?.contains("UP") == true)
        #expect(cacheEntries() == ["rt-lo-rtlo-lo"])
        try runtime.check(list, attachment)

        for _ in 0..<2 { try runtime.delete(list, attachment) }
        #expect((try namespace.ip("link", "show", "lo").first?["flags"] as? [String])?.contains("UP") == false)
        #expect(cacheEntries().isEmpty)
    }

    @Test func bridgeAndHostLocalGiveAddressesAndTrafficThenGCAndDeleteLeaveNothing() throws {
        let dataDir = NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)"
        let list = try NetworkConfigList(parsing: Array(#"""
            {"cniVersion":"1.1.0","name":"rt-gc","plugins":[
              {"type":"bridge","bridge":"rtbr1","isGateway":true,"ipMasq":true,"hairpinMode":true,
               "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.181.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}]}
            """#.utf8))
        let first = try ScratchNamespace("rt1")
        let second = try ScratchNamespace("rt2")
        let one = NetworkAttachment(containerID: "rt1", netns: first.path, ifName: "eth0")
        let two = NetworkAttachment(containerID: "rt2", netns: second.path, ifName: "eth0")

        let result = try runtime.add(list, one)
        #expect(result.ips.map(\.address.description) == ["10.181.0.2/24"])
        #expect(result.ips.first?.gateway?.description == "10.181.0.1")
        try runtime.add(list, two)
        let addresses = try first.ip("-4", "addr", "show", "eth0").first?["addr_info"] as? [[String: Any]]
        #expect(addresses?.first?["local"] as? String == "10.181.0.2")
        #expect(try ping(from: first, "10.181.0.3"))
        #expect(try ping(from: second, "10.181.0.1"))
        try runtime.check(list, one)
        try runtime.check(list, two)
        #expect(cacheEntries() == ["rt-gc-rt1-eth0", "rt-gc-rt2-eth0"])

        // rt2 is no longer known to the caller: GC deletes it and its cache entry, keeps rt1.
        try runtime.gc(list, validAttachments: [GCAttachment(containerID: "rt1", interface: "eth0")])
        #expect(try second.ip("link", "show", "eth0").isEmpty)
        #expect(cacheEntries() == ["rt-gc-rt1-eth0"])
        #expect(try ping(from: first, "10.181.0.1"))

        for _ in 0..<2 { try runtime.delete(list, one) }
        #expect(try first.ip("link", "show", "eth0").isEmpty)
        #expect(try runCommand(["ip", "-o", "link", "show", "master", "rtbr1"]).text.isEmpty)
        #expect(cacheEntries().isEmpty)
        // CHECK after DEL has nothing to check against.
        #expect(throws: CNIError.self) { try runtime.check(list, one) }
    }

    @Test func cnitoolRunsANetworkFromNetconfpath() throws {
        let configDirectory = NSTemporaryDirectory() + "e2e-netconf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
        try #"{"cniVersion":"1.1.0","name":"tool-lo","type":"loopback"}"#.write(toFile: configDirectory + "/99-lo.conf", atomically: true, encoding: .utf8)
        let namespace = try ScratchNamespace("tool")
        func cnitool(_ arguments: String...) throws -> (status: Int32, text: String) {
            try runCommand(["env", "NETCONFPATH=\(configDirectory)", "CNI_PATH=\(pluginDirectory.path)", "CNI_CACHE_DIR=\(cacheDirectory)",
                            productsDirectory.appendingPathComponent("cnitool").path] + arguments)
        }
        let add = try cnitool("add", "tool-lo", namespace.path, "--ifname", "lo", "--container-id", "tool1")
        #expect(add.status == 0, "\(add.text)")
        #expect(try JSON(parsing: add.text)["ips"]?.arrayValue?.first?["address"] == "127.0.0.1/8")
        #expect(cacheEntries() == ["tool-lo-tool1-lo"])
        #expect(try cnitool("check", "tool-lo", namespace.path, "--ifname", "lo", "--container-id", "tool1").status == 0)
        #expect(try cnitool("status", "tool-lo").status == 0)
        // VERSION answers before reading its stdin; cnitool keeps SIGPIPE's default disposition,
        // so each of these would die of it now and then if the runtime let the signal through.
        for _ in 0..<20 {
            let version = try cnitool("version", "loopback")
            #expect(version.status == 0, "\(version)")
            #expect(try JSON(parsing: version.text)["supportedVersions"]?.arrayValue?.count == 5)
        }
        for _ in 0..<2 {
            #expect(try cnitool("del", "tool-lo", namespace.path, "--ifname", "lo", "--container-id", "tool1").status == 0)
        }
        #expect(cacheEntries().isEmpty)
        let check = try cnitool("check", "tool-lo", namespace.path, "--ifname", "lo", "--container-id", "tool1")
        #expect(check.status == 1)
        #expect(try JSON(parsing: check.text)["code"] != nil)
        let unknown = try cnitool("add", "no-such-net", namespace.path)
        #expect(unknown.status == 1)
        #expect(try JSON(parsing: unknown.text)["msg"]?.stringValue?.contains("no-such-net") == true)
        for help in [["--help"], ["-h"], ["help"], ["add", "--help"]] {
            let usage = try runCommand([productsDirectory.appendingPathComponent("cnitool").path] + help)
            #expect(usage.status == 0 && usage.text.hasPrefix("usage: cnitool add|del|check"), "\(help): \(usage)")
        }
    }
}
