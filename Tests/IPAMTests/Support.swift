import Foundation
import IPAM
import NetCore
import Store
import Testing

func ip(_ text: String) throws -> IPAddress { try #require(IPAddress(text)) }
func cidr(_ text: String) throws -> CIDR { try CIDR(parsing: text) }

func key(_ container: String, _ interface: String = "eth0", network: String = "net") throws -> LeaseKey {
    try LeaseKey(network: network, containerID: container, interface: InterfaceName(interface))
}

/// One range set of one range, from text.
func rangeSet(
    _ subnet: String, start: String? = nil, end: String? = nil, gateway: String? = nil, reserved: [String] = []
) throws -> RangeSet {
    RangeSet(try AddressRange(
        subnet: cidr(subnet), start: start.map(ip), end: end.map(ip), gateway: gateway.map(ip),
        reserved: reserved.map(ip)))
}

/// A fresh state directory under the system temporary directory, removed when the test ends
/// (call ``remove()`` in a `defer`).
struct TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/netctl-ipam-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// An allocator on a fresh database with the given boot ID.
func withAllocator<T>(bootID: String = "boot-a", _ body: (AddressAllocator, TemporaryDirectory) throws -> T) throws -> T {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let allocator = try AddressAllocator(store: StateStore(directory: directory.path, schema: [AddressAllocator.schema]), bootID: bootID)
    return try body(allocator, directory)
}

/// The addresses of `leases`, as text.
func addresses(_ leases: [Lease]) -> [String] { leases.map { $0.address.address.description } }

/// Runs `body` and returns the ``NetworkError`` it throws.
func networkError(_ body: () throws -> Void) -> NetworkError? {
    do {
        try body()
        return nil
    } catch {
        return error as? NetworkError
    }
}

/// The `ipam-stress` helper, built next to the test bundle (`swift build --build-tests` builds
/// every executable target into the same products directory).
func stressExecutable() throws -> String {
    var candidates: [String] = []
    if let bundle = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        candidates.append(URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("ipam-stress").path)
    }
    candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("ipam-stress").path)
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    for scratch in [".build", ".build-ipam"] {
        candidates.append(root.appendingPathComponent("\(scratch)/debug/ipam-stress").path)
    }
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw StressError.helperMissing(candidates)
    }
    return found
}

enum StressError: Error, CustomStringConvertible {
    case helperMissing([String])
    case failed(String, Int32, String)

    var description: String {
        switch self {
        case .helperMissing(let paths):
            "ipam-stress not built; looked in \(paths.joined(separator: ", ")) — run swift build --build-tests"
        case .failed(let arguments, let status, let output):
            "ipam-stress \(arguments) exited \(status): \(output)"
        }
    }
}

/// A started `ipam-stress` process with its standard output captured.
final class StressProcess {
    let process = Process()
    let output = Pipe()
    let arguments: [String]

    init(_ arguments: [String]) throws {
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: try stressExecutable())
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// Waits for the exit and returns the output; throws when the exit status is not zero.
    func finish() throws -> String {
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw StressError.failed(arguments.joined(separator: " "), process.terminationStatus, text)
        }
        return text
    }

    func kill() {
        _ = Foundation.kill(process.processIdentifier, SIGKILL)
    }

    func waitForExit() {
        process.waitUntilExit()
    }

    /// Reads the output until a line equal to `line` has arrived; throws if the process ends first.
    func waitForLine(_ line: String) throws {
        var seen = ""
        while !seen.split(separator: "\n").contains(Substring(line)) {
            let data = output.fileHandleForReading.availableData
            guard !data.isEmpty else { throw StressError.failed(arguments.joined(separator: " "), -1, seen) }
            seen += String(decoding: data, as: UTF8.self)
        }
    }
}

/// Runs `ipam-stress` with `arguments` to its end through `posix_spawn` (cheaper than
/// `Process` when a test starts hundreds) and returns its exit status.
func runStress(_ arguments: [String]) throws -> Int32 {
    let executable = try stressExecutable()
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, executable, nil, nil, argv, environ)
    guard result == 0 else { throw StressError.failed(arguments.joined(separator: " "), result, "posix_spawn failed") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return status
}

/// The size of the file at `path` in bytes, 0 when it does not exist.
func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}
