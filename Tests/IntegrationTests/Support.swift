import Foundation
import Namespaces
import NetCore
import Netlink
import Testing

/// Privileged tests run only as root inside the throwaway sandbox `make test` sets up, so they
/// can never touch the machine's own interfaces, routes or ruleset.
enum Sandbox {
    static let isAvailable = getuid() == 0 && ProcessInfo.processInfo.environment["NETCTL_SANDBOX"] != nil
    static let reason: Comment = "needs root inside the test sandbox (run `make test`)"
}

/// A network namespace made for one test, with a route socket opened inside it; removed
/// (with every link in it) when the test is done.
final class TestNamespace: Sendable {
    let name: String
    let namespace: NetNamespace
    let socket: RouteSocket

    init(_ role: String) throws {
        name = "it-\(role)-\(UInt32.random(in: 0...UInt32.max))"
        namespace = try NetNamespace.create(named: name)
        socket = try RouteSocket.open(in: namespace)
        try socket.setLink("lo", up: true)
    }

    deinit { try? NetNamespace.delete(named: name) }

    /// `ip -j -n NAME ARGS...`, decoded.
    func ipJSON(_ arguments: String...) throws -> [[String: Any]] {
        let output = try run(["ip", "-j", "-n", name] + arguments)
        guard output.status == 0 else { throw CommandFailed(command: "ip \(arguments)", output: output.text) }
        let data = Data(output.text.utf8)
        return (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
    }

    /// The `ip -j -d link show` object for `link`, or `nil` when it does not exist.
    func ipLink(_ link: String) throws -> [String: Any]? {
        let output = try run(["ip", "-j", "-d", "-n", name, "link", "show", "dev", link])
        guard output.status == 0 else { return nil }
        let decoded = try JSONSerialization.jsonObject(with: Data(output.text.utf8)) as? [[String: Any]]
        return decoded?.first
    }

    /// Whether any of three pings from this namespace to `address` is answered (one lost to
    /// neighbour resolution on a loaded machine must not fail a test).
    func canPing(_ address: String) throws -> Bool {
        try run(["ip", "netns", "exec", name, "ping", "-c", "3", "-i", "0.2", "-W", "1", address]).status == 0
    }
}

struct CommandFailed: Error, CustomStringConvertible {
    let command: String
    let output: String
    var description: String { "\(command) failed: \(output)" }
}

/// Runs a command (found through `PATH`) and returns its exit status and combined output.
@discardableResult
func run(_ arguments: [String]) throws -> (status: Int32, text: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The `linkinfo` of an `ip -j -d link show` object.
func linkInfo(_ link: [String: Any]?) -> [String: Any] {
    (link?["linkinfo"] as? [String: Any]) ?? [:]
}

func infoData(_ link: [String: Any]?) -> [String: Any] {
    (linkInfo(link)["info_data"] as? [String: Any]) ?? [:]
}

func flags(_ link: [String: Any]?) -> [String] {
    (link?["flags"] as? [String]) ?? []
}

func cidr(_ text: String) throws -> CIDR { try CIDR(parsing: text) }
