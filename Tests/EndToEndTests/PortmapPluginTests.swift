import Foundation
import NetCore
import Testing

/// `bridge` (ipMasq, hairpinMode) + `host-local` + `portmap`, chained as a runtime chains
/// them, with HTTP through the published port from outside, from the host's loopback and
/// from the container itself.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct PortmapPluginTests {
    static let hostAddress = "192.0.2.1"

    /// `bridge` then `portmap` configs of one network; `portmap` gets `prevResult` added later.
    func configs(bridge: String, subnet: String, mappings: String) -> (bridge: String, portmap: String) {
        let dataDir = NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)"
        let bridgeConfig = #"""
            {"cniVersion":"1.1.0","name":"pm-\#(bridge)","type":"bridge","bridge":"\#(bridge)","isGateway":true,
             "isDefaultGateway":true,"hairpinMode":true,"ipMasq":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"\#(subnet)"}]]}}
            """#
        let portmap = #"""
            {"cniVersion":"1.1.0","name":"pm-\#(bridge)","type":"portmap","capabilities":{"portMappings":true},
             "runtimeConfig":{"portMappings":\#(mappings)}
            """#
        return (bridgeConfig, portmap)
    }

    func chained(_ portmap: String, previous: String) -> String { portmap + #","prevResult":\#(previous)}"# }

    @Test func publishedPortServesOutsideLoopbackAndHairpinAndDeleteRemovesEverything() throws {
        let outside = try Uplink.shared()
        let container = try ScratchNamespace("pm")
        let (bridge, portmap) = configs(bridge: "pmbr0", subnet: "10.130.0.0/24",
                                        mappings: #"[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]"#)
        let add = try execPlugin("bridge", command: "ADD", containerID: "pm1", netns: container.path, config: bridge)
        #expect(add.status == 0, "\(add.stdout)")
        let mapped = try execPlugin("portmap", command: "ADD", containerID: "pm1", netns: container.path, config: chained(portmap, previous: add.stdout))
        #expect(mapped.status == 0, "\(mapped.stdout)")
        #expect(mapped.json?["ips"] == add.json?["ips"]) // prevResult passes through

        let server = try HTTPServer(in: container, port: 80, body: "hello from pm1")
        defer { server.stop() }
        #expect(try fetch(from: outside.name, "http://\(Self.hostAddress):8080/") == "hello from pm1")
        #expect(try fetch(from: nil, "http://127.0.0.1:8080/") == "hello from pm1") // localhost DNAT on the bridge
        #expect(try fetch(from: container.name, "http://\(Self.hostAddress):8080/") == "hello from pm1") // hairpin

        let check = try execPlugin("portmap", command: "CHECK", containerID: "pm1", netns: container.path, config: chained(portmap, previous: add.stdout))
        #expect(check.status == 0, "\(check.stdout)")

        for _ in 0..<2 {
            let delete = try execPlugin("portmap", command: "DEL", containerID: "pm1", netns: container.path, config: chained(portmap, previous: add.stdout))
            #expect(delete.status == 0, "\(delete.stdout)")
        }
        #expect(try fetch(from: outside.name, "http://\(Self.hostAddress):8080/", timeout: 1) == nil)
        #expect(try fetch(from: nil, "http://127.0.0.1:8080/", timeout: 1) == nil)
        #expect(try execPlugin("bridge", command: "DEL", containerID: "pm1", netns: container.path, config: bridge).status == 0)
        // Other tests share this namespace's table: nothing of this network may be left in it.
        let table = try nftTable() ?? ""
        #expect(!table.contains("pmbr0") && !table.contains("8080"))
    }

    /// A portmap ADD killed at any moment (a runtime's timeout), then deleted as the runtime
    /// does, leaves no DNAT entry and no record, whether its record had committed or not.
    @Test func aKilledAddThenDeleteLeavesNoEntry() throws {
        let container = try ScratchNamespace("pmkill")
        let (bridge, portmap) = configs(bridge: "pmkill0", subnet: "10.136.0.0/24",
                                        mappings: #"[{"hostPort":8632,"containerPort":80,"protocol":"tcp"}]"#)
        let add = try execPlugin("bridge", command: "ADD", containerID: "pmk1", netns: container.path, config: bridge)
        #expect(add.status == 0, "\(add.stdout)")
        defer { _ = try? execPlugin("bridge", command: "DEL", containerID: "pmk1", netns: container.path, config: bridge) }
        let config = chained(portmap, previous: add.stdout)
        for attempt in 0..<40 {
            let running = try startPlugin("portmap", command: "ADD", containerID: "pmk1", netns: container.path, config: config)
            usleep(UInt32(attempt) * 400) // 0-16 ms: before, during and after its work
            running.signal(SIGKILL)
            _ = running.wait()
            let delete = try execPlugin("portmap", command: "DEL", containerID: "pmk1", netns: container.path, config: config)
            #expect(delete.status == 0, "attempt \(attempt): \(delete.stdout)")
            let table = try nftTable() ?? "" // JSON: the port is a number between delimiters
            #expect(table.range(of: "[^0-9]8632[^0-9]", options: .regularExpression) == nil, "attempt \(attempt): a DNAT entry is left")
        }
        // The moment the kills may miss, made on purpose: entries in place, their record never
        // committed. DEL takes them down, and the port is free for the next ADD.
        #expect(try execPlugin("portmap", command: "ADD", containerID: "pmk1", netns: container.path, config: config).status == 0)
        let forget = "DELETE FROM firewall_attachments WHERE container_id = 'pmk1' AND network LIKE 'portmap:%'"
        #expect(try runCommand(["sqlite3", "-cmd", ".timeout 10000", "/var/lib/netctl/netctl.db", forget]).status == 0)
        #expect(try execPlugin("portmap", command: "DEL", containerID: "pmk1", netns: container.path, config: config).status == 0)
        #expect((try nftTable() ?? "").range(of: "[^0-9]8632[^0-9]", options: .regularExpression) == nil, "the unrecorded entries are left")
        let again = try execPlugin("portmap", command: "ADD", containerID: "pmk1", netns: container.path, config: config)
        #expect(again.status == 0, "\(again.stdout)")
        #expect(try execPlugin("portmap", command: "DEL", containerID: "pmk1", netns: container.path, config: config).status == 0)
    }

    @Test func aTakenPortIsRefusedAndLeavesTheFirstMappingServing() throws {
        let first = try ScratchNamespace("pm-a")
        let second = try ScratchNamespace("pm-b")
        let (bridge, portmap) = configs(bridge: "pmbr1", subnet: "10.131.0.0/24",
                                        mappings: #"[{"hostPort":8090,"containerPort":80,"protocol":"tcp"},{"hostPort":5390,"containerPort":53,"protocol":"udp"}]"#)
        let addA = try execPlugin("bridge", command: "ADD", containerID: "pma", netns: first.path, config: bridge)
        let addB = try execPlugin("bridge", command: "ADD", containerID: "pmb", netns: second.path, config: bridge)
        #expect(try execPlugin("portmap", command: "ADD", containerID: "pma", netns: first.path, config: chained(portmap, previous: addA.stdout)).status == 0)
        let taken = try execPlugin("portmap", command: "ADD", containerID: "pmb", netns: second.path, config: chained(portmap, previous: addB.stdout))
        #expect(taken.status != 0)
        #expect(taken.json?["msg"]?.stringValue?.contains("8090") == true, "\(taken.stdout)")

        let server = try HTTPServer(in: first, port: 80, body: "first")
        defer { server.stop() }
        #expect(try fetch(from: nil, "http://127.0.0.1:8090/") == "first")

        // GC keeps only pmb: pma's ports and proxy go.
        var gc = portmap
        gc += #","cni.dev/valid-attachments":[{"containerID":"pmb","ifname":"eth0"}]}"#
        let collected = try execPlugin("portmap", command: "GC", containerID: nil, ifname: nil, config: gc)
        #expect(collected.status == 0, "\(collected.stdout)")
        #expect(try fetch(from: nil, "http://127.0.0.1:8090/", timeout: 1) == nil)
        for (id, netns) in [("pma", first.path), ("pmb", second.path)] {
            #expect(try execPlugin("bridge", command: "DEL", containerID: id, netns: netns, config: bridge).status == 0)
        }
    }

    @Test func statusSaysWhetherTheStoreAndNftablesAreUsable() throws {
        let (_, portmap) = configs(bridge: "pmbr3", subnet: "10.133.0.0/24", mappings: "[]")
        let ready = try execPlugin("portmap", command: "STATUS", containerID: nil, ifname: nil, config: portmap + "}")
        #expect(ready.status == 0, "\(ready.stdout)")
        // A state directory that cannot be made: the plugin is not available (code 50).
        let broken = try execPlugin("portmap", command: "STATUS", containerID: nil, ifname: nil, config: portmap + "}",
                                    extraEnvironment: ["NETCTL_STATE_DIR": "/proc/version/state"])
        #expect(broken.status != 0)
        #expect(broken.json?["code"] == 50, "\(broken.stdout)")
    }

    @Test func badMappingsAreInvalidConfigNamingTheField() throws {
        let container = try ScratchNamespace("pm-bad")
        let (bridge, _) = configs(bridge: "pmbr2", subnet: "10.132.0.0/24", mappings: "[]")
        let add = try execPlugin("bridge", command: "ADD", containerID: "pmbad", netns: container.path, config: bridge)
        defer { _ = try? execPlugin("bridge", command: "DEL", containerID: "pmbad", netns: container.path, config: bridge) }
        for (mappings, field) in [(#"[{"hostPort":70000,"containerPort":80}]"#, "hostPort"),
                                  (#"[{"hostPort":8080,"containerPort":80,"protocol":"icmp"}]"#, "protocol"),
                                  (#"[{"hostPort":8080,"containerPort":80,"hostIP":"10.0.0.300"}]"#, "hostIP")] {
            let (_, portmap) = configs(bridge: "pmbr2", subnet: "10.132.0.0/24", mappings: mappings)
            let output = try execPlugin("portmap", command: "ADD", containerID: "pmbad", netns: container.path, config: chained(portmap, previous: add.stdout))
            #expect(output.json?["code"] == 7, "\(output.stdout)")
            #expect(output.json?["msg"]?.stringValue?.contains(field) == true, "\(output.stdout)")
        }
        let (_, portmap) = configs(bridge: "pmbr2", subnet: "10.132.0.0/24", mappings: "[]")
        let unchained = try execPlugin("portmap", command: "ADD", containerID: "pmbad", netns: container.path, config: portmap + "}")
        #expect(unchained.json?["code"] == 7)
        let unsupported = try execPlugin("portmap", command: "ADD", containerID: "pmbad", netns: container.path,
                                         config: portmap + #","masqAll":true,"prevResult":\#(add.stdout)}"#)
        #expect(unsupported.json?["code"] == 2)
    }
}

/// An "outside" namespace wired to the sandbox (the host) by a veth: 192.0.2.2 → 192.0.2.1.
/// Made once for the whole run; forwarding is switched on in the sandbox's own namespace.
final class Uplink: Sendable {
    let name: String

    private init() throws {
        name = "e2e-outside-\(getpid())"
        for command in [["ip", "netns", "add", name],
                        ["ip", "link", "add", "e2eup0", "type", "veth", "peer", "name", "eth0", "netns", name],
                        ["ip", "addr", "add", PortmapPluginTests.hostAddress + "/24", "dev", "e2eup0"],
                        ["ip", "link", "set", "e2eup0", "up"],
                        ["ip", "-n", name, "addr", "add", "192.0.2.2/24", "dev", "eth0"],
                        ["ip", "-n", name, "link", "set", "eth0", "up"],
                        ["ip", "-n", name, "link", "set", "lo", "up"],
                        ["sysctl", "-qw", "net.ipv4.ip_forward=1"]] {
            _ = try runCommand(command)
        }
    }

    nonisolated(unsafe) private static var instance: Uplink?
    private static let lock = NSLock()

    static func shared() throws -> Uplink {
        lock.lock()
        defer { lock.unlock() }
        if let instance { return instance }
        let made = try Uplink()
        instance = made
        return made
    }
}

/// busybox httpd serving one file inside a namespace; stopped by PID.
final class HTTPServer {
    private let process = Process()

    init(in namespace: ScratchNamespace, port: Int, body: String) throws {
        let root = NSTemporaryDirectory() + "e2e-www-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try body.write(toFile: root + "/index.html", atomically: true, encoding: .utf8)
        try runCommand(["ip", "-n", namespace.name, "link", "set", "lo", "up"])
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", namespace.name, "busybox", "httpd", "-f", "-p", "\(port)", "-h", root]
        try process.run()
        // Ready when the port answers inside the namespace.
        for _ in 0..<40 where try fetch(from: namespace.name, "http://127.0.0.1:\(port)/", timeout: 0.5) == nil {
            usleep(100_000)
        }
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// The body of `url` fetched from `namespace` (the sandbox itself when `nil`), or `nil` when
/// nothing answered in time. (Python: the static busybox's wget crashes on this system.)
func fetch(from namespace: String?, _ url: String, timeout: Double = 3) throws -> String? {
    let script = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode())"
    let output = try runCommand((namespace.map { ["ip", "netns", "exec", $0] } ?? []) + ["python3", "-c", script, url, "\(timeout)"])
    return output.status == 0 ? output.text.trimmingCharacters(in: .whitespacesAndNewlines) : nil
}

/// `nft -j list table inet netctl` in the sandbox, or `nil` when the table does not exist.
func nftTable() throws -> String? {
    let output = try runCommand(["nft", "-j", "list", "table", "inet", "netctl"])
    return output.status == 0 ? output.text : nil
}

@discardableResult
func runCommand(_ arguments: [String]) throws -> (status: Int32, text: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
