import Foundation
import NetCore
import Testing

/// Exact batches kept as files in `golden/`, one nftables command per line, so a change to
/// any rule shows up as a readable diff. `FIREWALL_GOLDEN_WRITE=1 swift test` rewrites them
/// after a deliberate change; review the diff before committing it.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("golden")

    /// One command of the batch per line.
    static func lines(_ batch: String) throws -> String {
        let commands = try JSON(parsing: batch)["nftables"]?.arrayValue ?? []
        return commands.map { $0.serialized() }.joined(separator: "\n") + "\n"
    }

    static func expect(_ batch: String, matches name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let file = directory.appendingPathComponent(name + ".jsonl")
        let actual = try lines(batch)
        if ProcessInfo.processInfo.environment["FIREWALL_GOLDEN_WRITE"] != nil {
            try actual.write(to: file, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(actual == expected, "batch differs from golden/\(name).jsonl", sourceLocation: sourceLocation)
    }
}
