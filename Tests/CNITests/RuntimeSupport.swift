import CNI
import Foundation
import NetCore

/// One plugin exec the fake saw.
struct RecordedCall: Sendable {
    let type: String
    let command: CNICommand
    let environment: [String: String]
    let stdin: String
    var config: JSON { (try? JSON(parsing: stdin)) ?? .null }
}

/// Stands in for plugin binaries: records every call and answers through `handler`.
final class FakeInvoker: PluginInvoker, @unchecked Sendable {
    typealias Handler = @Sendable (_ type: String, _ command: CNICommand, _ config: JSON) throws -> JSON?
    private let lock = NSLock()
    private var recorded: [RecordedCall] = []
    let known: Set<String>
    let handler: Handler

    init(plugins: Set<String>, handler: @escaping Handler = FakeInvoker.passThrough) {
        known = plugins
        self.handler = handler
    }

    var calls: [RecordedCall] { lock.withLock { recorded } }

    func reset() { lock.withLock { recorded = [] } }

    func find(_ type: String, in directories: [String]) -> String? {
        known.contains(type) ? "/fake/\(type)" : nil
    }

    func run(_ executable: String, command: CNICommand, environment: [String: String], stdin: [UInt8]) throws -> [UInt8] {
        let type = String(executable.dropFirst("/fake/".count))
        let text = String(decoding: stdin, as: UTF8.self)
        lock.withLock { recorded.append(RecordedCall(type: type, command: command, environment: environment, stdin: text)) }
        let output = try handler(type, command, (try? JSON(parsing: text)) ?? .null)
        return Array((output?.serialized() ?? "").utf8)
    }

    /// `bridge` makes an interface and an address; every other plugin passes `prevResult` on.
    static let passThrough: Handler = { type, command, config in
        guard command == .add else { return nil }
        if type == "bridge" {
            return ["cniVersion": config["cniVersion"] ?? "1.1.0",
                    "interfaces": [["name": "eth0", "sandbox": "/run/netns/x"]],
                    "ips": [["address": "10.1.0.2/24", "gateway": "10.1.0.1", "interface": 0]]]
        }
        return config["prevResult"]
    }
}

/// A fresh directory under the system temporary directory.
func temporaryDirectory(_ role: String) throws -> String {
    let path = NSTemporaryDirectory() + "cni-\(role)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
