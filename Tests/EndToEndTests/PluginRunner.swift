import Foundation
import NetCore
import Testing

/// Privileged tests run only as root inside the throwaway sandbox `make test` sets up.
enum Sandbox {
    static let isAvailable = getuid() == 0 && ProcessInfo.processInfo.environment["NETCTL_SANDBOX"] != nil
    static let reason: Comment = "needs root inside the test sandbox (run `make test`)"
}

/// The built products directory: where the test bundle itself was linked.
let productsDirectory: URL = {
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
    // `swift test` on Linux runs …/debug/netctlPackageTests.xctest.
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("netctl-cni").path), directory.path != "/" {
        directory.deleteLastPathComponent()
    }
    return directory
}()

/// A directory with the multi-call binary linked under every plugin name, as `CNI_PATH`.
let pluginDirectory: URL = {
    let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("netctl-cni-\(getpid())")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let binary = productsDirectory.appendingPathComponent("netctl-cni").path
    for name in ["bridge", "macvlan", "host-local", "portmap", "loopback"] {
        let link = directory.appendingPathComponent(name).path
        if !FileManager.default.fileExists(atPath: link) {
            try? FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: binary)
        }
    }
    return directory
}()

/// What one plugin exec printed and returned.
struct PluginOutput {
    let status: Int32
    let stdout: String
    let stderr: String
    var json: JSON? { try? JSON(parsing: stdout) }
}

/// A plugin process started by ``startPlugin``; ``wait()`` collects what it printed.
final class RunningPlugin {
    private let process: Process
    private let output: Pipe
    private let errors: Pipe

    fileprivate init(process: Process, output: Pipe, errors: Pipe) {
        self.process = process
        self.output = output
        self.errors = errors
    }

    /// Sends `number` to the plugin.
    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the plugin to exit. Its output is small: it fits the pipe whether or not it
    /// is read while the plugin runs, so many plugins can run before any is waited for.
    func wait() -> PluginOutput {
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return PluginOutput(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}

/// Starts plugin `name` as a runtime does: the CNI variables in the environment, the config
/// on stdin (written and closed before this returns). With `hostNamespace` the plugin runs
/// in that namespace (`ip netns exec`), which is then its "host": its bridge, its nftables
/// ruleset, none of it shared with other tests. `launcher` is a command the plugin runs under
/// (`setpriv ... --`).
func startPlugin(_ name: String, command: String, containerID: String? = "c0ffee", netns: String? = nil,
                 ifname: String? = "eth0", args: String? = nil, config: String, extraEnvironment: [String: String] = [:],
                 hostNamespace: String? = nil, launcher: [String] = []) throws -> RunningPlugin {
    var environment = ["CNI_COMMAND": command, "CNI_PATH": pluginDirectory.path, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
    environment["CNI_CONTAINERID"] = containerID
    environment["CNI_NETNS"] = netns
    environment["CNI_IFNAME"] = ifname
    environment["CNI_ARGS"] = args
    environment.merge(extraEnvironment) { $1 }
    let process = Process()
    let executable = pluginDirectory.appendingPathComponent(name)
    let prefix = (hostNamespace.map { ["ip", "netns", "exec", $0] } ?? []) + launcher
    if !prefix.isEmpty {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = prefix + [executable.path]
    } else {
        process.executableURL = executable
    }
    process.environment = environment
    let input = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    input.fileHandleForWriting.write(Data(config.utf8))
    try input.fileHandleForWriting.close()
    return RunningPlugin(process: process, output: output, errors: errors)
}

/// Execs plugin `name` as a runtime does and waits for it (see ``startPlugin``).
func execPlugin(_ name: String, command: String, containerID: String? = "c0ffee", netns: String? = nil,
                ifname: String? = "eth0", args: String? = nil, config: String, extraEnvironment: [String: String] = [:],
                hostNamespace: String? = nil, launcher: [String] = []) throws -> PluginOutput {
    try startPlugin(name, command: command, containerID: containerID, netns: netns, ifname: ifname, args: args,
                    config: config, extraEnvironment: extraEnvironment, hostNamespace: hostNamespace, launcher: launcher).wait()
}

/// `config` (a JSON object's text) with `members` (`"key":value,...`) added at its end.
func adding(_ members: String, to config: String) -> String {
    var text = config.trimmingCharacters(in: .whitespacesAndNewlines)
    text.removeLast()
    return text + "," + members + "}"
}

/// A named namespace for one test, removed afterwards (`ip` only sets up and checks).
final class ScratchNamespace {
    let name: String
    var path: String { "/run/netns/\(name)" }

    /// Whether this handle made the namespace, and so deletes it.
    private let owned: Bool

    /// A handle on a namespace made elsewhere (by netctl); it outlives the handle.
    init(adopting name: String) {
        self.name = name
        owned = false
    }

    init(_ role: String) throws {
        owned = true
        name = "e2e-\(role)-\(UInt32.random(in: 0...UInt32.max))"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "add", name]
        try process.run()
        process.waitUntilExit()
    }

    deinit {
        guard owned else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "delete", name]
        try? process.run()
        process.waitUntilExit()
    }

    /// `ip -j -n NAME ARGS`, decoded.
    func ip(_ arguments: String...) throws -> [[String: Any]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "-j", "-n", name] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
    }
}

extension ScratchNamespace {
    /// Runs `command` inside the namespace (`ip netns exec`).
    @discardableResult
    func exec(_ command: String...) throws -> (status: Int32, text: String) {
        try runCommand(["ip", "netns", "exec", name] + command)
    }

    /// `nft -j list table FAMILY NAME` inside the namespace, or `nil` when the table does not exist.
    func nftTable(_ family: String = "inet", _ table: String = "netctl") throws -> String? {
        let output = try exec("nft", "-j", "list", "table", family, table)
        return output.status == 0 ? output.text : nil
    }
}

/// Who holds leases of network `network` in the host-local store under `dataDir`: one
/// `container/ifname` per lease, sorted.
func leaseHolders(in dataDir: String, network: String) throws -> [String] {
    let output = try runCommand(["sqlite3", "-cmd", ".timeout 10000", dataDir + "/netctl.db",
                                 "SELECT container_id || '/' || interface FROM ipam_leases WHERE network = '\(network)' ORDER BY 1"])
    return output.text.split(separator: "\n").map(String.init)
}

/// A host of the plugins' own: a namespace for their bridges and nftables rules, and a state
/// directory for their firewall records, shared with no other test (so a test may tamper
/// with the ruleset, or break it, without disturbing the others).
final class PrivateHost {
    let namespace: ScratchNamespace
    let stateDirectory = NSTemporaryDirectory() + "e2e-state-\(UUID().uuidString)"

    init(_ role: String) throws {
        namespace = try ScratchNamespace(role)
        try namespace.exec("ip", "link", "set", "lo", "up")
    }

    /// Execs plugin `name` in this host with its state directory.
    func plugin(_ name: String, command: String, containerID: String? = "c0ffee", netns: String? = nil, ifname: String? = "eth0",
                args: String? = nil, config: String, extraEnvironment: [String: String] = [:]) throws -> PluginOutput {
        try execPlugin(name, command: command, containerID: containerID, netns: netns, ifname: ifname, args: args, config: config,
                       extraEnvironment: ["NETCTL_STATE_DIR": stateDirectory].merging(extraEnvironment) { $1 },
                       hostNamespace: namespace.name)
    }

    /// The containers with a firewall record under `network` (`bridge:NAME`, `portmap:NAME`).
    func firewallRecords(_ network: String) throws -> [String] {
        try runCommand(["sqlite3", "-cmd", ".timeout 10000", stateDirectory + "/netctl.db",
                        "SELECT container_id FROM firewall_attachments WHERE network = '\(network)' ORDER BY 1"])
            .text.split(separator: "\n").map(String.init)
    }
}

/// A veth pair in the sandbox, both ends up, for a macvlan parent (this kernel has no dummy
/// links); deleted with the handle.
final class ParentLink {
    let name: String

    init(_ prefix: String) throws {
        name = prefix + String(UInt16.random(in: 0...9999))
        try runCommand(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"])
        try runCommand(["ip", "link", "set", name, "up"])
        try runCommand(["ip", "link", "set", name + "p", "up"])
    }

    deinit { _ = try? runCommand(["ip", "link", "delete", name]) }
}
