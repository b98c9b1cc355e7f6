#if canImport(Glibc)
import Glibc
#endif

/// The environment and stdin of a `VERSION` call as libcni makes it.
let versionEnvironment = ["CNI_COMMAND=VERSION", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
let versionInput = Array(#"{"cniVersion":"1.0.0"}"#.utf8)

/// What `path` answers to `VERSION`, or `nil` when it fails or is not a CNI plugin.
func version(of path: String) -> String? {
    guard access(path, X_OK) == 0,
          let execution = try? execute(path, environment: versionEnvironment, input: versionInput),
          execution.succeeded, execution.output.contains("supportedVersions")
    else { return nil }
    return execution.output
}

/// `name` in the directory of this executable.
func siblingPath(_ name: String) -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return name }
    let executable = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let directory = executable.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    return "\(directory)/\(name)"
}

/// Start-up cost: `VERSION` exec'd N times per side (the `bridge` name), interleaved in
/// blocks, plus `/bin/true` through the same spawner as the floor of what an exec costs and
/// of what `ru_maxrss` can report.
struct StartupBench {
    let sides: [Side]
    let iterations: Int
    let blockSize: Int
    /// Filled by `run()`: per label, wall times (ns) and peak RSS (KiB).
    private(set) var times: [String: Samples] = [:]
    private(set) var sizes: [String: Samples] = [:]

    init(sides: [Side], iterations: Int, blockSize: Int) {
        self.sides = sides
        self.iterations = iterations
        self.blockSize = blockSize
    }

    static let floorLabel = "/bin/true"

    mutating func run() -> String {
        let targets = sides.map { ($0.label, "\($0.pluginDirectory)/bridge") } + [(Self.floorLabel, "/bin/true")]
        for (blockIndex, blockStart) in stride(from: 0, to: iterations, by: blockSize).enumerated() {
            let order = blockIndex % 2 == 0 ? targets : targets.reversed()
            for (label, path) in order {
                for _ in blockStart..<min(iterations, blockStart + blockSize) {
                    guard let execution = try? execute(path, environment: versionEnvironment, input: versionInput), execution.succeeded else {
                        progress("VERSION of \(path) failed")
                        continue
                    }
                    times[label, default: Samples()].values.append(Double(execution.nanoseconds))
                    sizes[label, default: Samples()].values.append(Double(execution.maxRSS))
                }
            }
        }
        return table()
    }

    private func table() -> String {
        let ours = times["ours"] ?? Samples(), theirs = times["reference"] ?? Samples()
        let floor = times[Self.floorLabel] ?? Samples()
        var lines = [
            "### Start-up: `VERSION`, \(iterations) execs per side",
            "",
            "| exec | median ms | p99 ms | peak RSS median MiB | peak RSS max MiB |",
            "|---|---:|---:|---:|---:|",
        ]
        for (label, name) in [("ours", "netctl-cni as `bridge`"), ("reference", "reference `bridge`"), (Self.floorLabel, "`/bin/true` (spawner floor)")] {
            let time = times[label] ?? Samples(), size = sizes[label] ?? Samples()
            lines.append("| \(name) | \(milliseconds(time.median)) | \(milliseconds(time.p99)) | \(mebibytes(size.median)) | \(mebibytes(size.percentile(1))) |")
        }
        lines += [
            "",
            "| `VERSION` ours / reference | median | p99 | goal | met (median, p99) |",
            "|---|---:|---:|---:|---|",
            "| wall time | \(ratio(ours.median, theirs.median)) | \(ratio(ours.p99, theirs.p99)) | ≤ 1.0× | \(verdict(ours.median, theirs.median, goal: 1.0)), \(verdict(ours.p99, theirs.p99, goal: 1.0)) |",
            "| wall time minus the `/bin/true` floor | \(ratio(ours.median - floor.median, theirs.median - floor.median)) | | | |",
            "",
        ]
        return lines.joined(separator: "\n")
    }
}

func mebibytes(_ kibibytes: Double) -> String { format(kibibytes / 1024, decimals: 1) }
