import Foundation
import Testing

/// The fuzz targets' corpora (their seeds, and every crash `make fuzz` found), replayed by the
/// targets themselves: built plainly, as `swift build --build-tests` builds every executable,
/// `fuzz-NAME FILE...` runs its checks on each file in turn and exits 0 unless one traps.
struct FuzzTargetReplayTests {
    /// `Tests/Fuzz`: a directory per target, `NAME/corpus` its inputs.
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static let targets: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fuzzDirectory.path)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: fuzzDirectory.appendingPathComponent("\($0)/corpus").path) }.sorted()
    }()

    /// Runs `binary` on `files`; returns how it ended (`nil` for exit 0) and what it printed.
    /// Without `backtrace` a trap prints only a failed check's message, and quickly.
    static func replay(_ binary: String, _ files: [String], backtrace: Bool = false) throws -> (failure: String?, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = files
        if !backtrace {
            process.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { _, new in new }
        }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let status = process.terminationStatus
        let failure = process.terminationReason == .uncaughtSignal ? "was killed by signal \(status)" : status == 0 ? nil : "exited \(status)"
        return (failure, String(decoding: data, as: UTF8.self))
    }

    @Test func everyTargetIsReplayed() {
        #expect(Set(Self.targets).isSuperset(of: ["dns", "json", "cni", "parsers", "netlink", "docker"]), "\(Self.targets)")
    }

    @Test(arguments: targets)
    func theCorpusReplaysCleanly(target: String) throws {
        let binary = productsDirectory.appendingPathComponent("fuzz-\(target)").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "fuzz-\(target) is not built in \(productsDirectory.path)")
        let corpus = Self.fuzzDirectory.appendingPathComponent("\(target)/corpus")
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted().map { corpus.appendingPathComponent($0).path }
        #expect(files.count >= 5, "the corpus of fuzz-\(target) has \(files.count) inputs")
        // In order, in one process: fuzz-docker's calls build on what the earlier ones recorded.
        guard let failure = try Self.replay(binary, files).failure else { return }
        // Which inputs: each on its own, and where the first one traps.
        let failing = try files.filter { try Self.replay(binary, [$0]).failure != nil }
        let trace = try failing.first.map { try Self.replay(binary, [$0], backtrace: true).output } ?? ""
        Issue.record("""
            fuzz-\(target) \(failure) on its corpus; failing alone: \(failing.map { URL(fileURLWithPath: $0).lastPathComponent })
            \(trace.prefix(3_000))
            """)
    }
}
