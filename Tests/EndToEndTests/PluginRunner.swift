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

/// Execs plugin `name` as a runtime does: the CNI variables in the environment, the config on stdin.
func execPlugin(_ name: String, command: String, containerID: String? = "c0ffee", netns: String? = nil,
                ifname: String? = "eth0", args: String? = nil, config: String, extraEnvironment: [String: String] = [:]) throws -> PluginOutput {
    var environment = ["CNI_COMMAND": command, "CNI_PATH": pluginDirectory.path, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
    environment["CNI_CONTAINERID"] = containerID
    environment["CNI_NETNS"] = netns
    environment["CNI_IFNAME"] = ifname
    environment["CNI_ARGS"] = args
    environment.merge(extraEnvironment) { $1 }
    let process = Process()
    process.executableURL = pluginDirectory.appendingPathComponent(name)
    process.environment = environment
    let input = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    input.fileHandleForWriting.write(Data(config.utf8))
    try input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return PluginOutput(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
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
