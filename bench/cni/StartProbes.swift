#if canImport(Glibc)
import Glibc
#endif
import NetCore

/// `--steps`' start-up probes: where the time to `main` of a call in a chain goes beyond a
/// `VERSION` call's. Our `VERSION` (traced, so its first mark is `main`) and the spawner's
/// floors are exec'd right after each kind of call the chains make, and after a pause, so the
/// table shows what the exec pays for the work the call before it left running (its exit
/// child's teardown, the kernel's work after a veth pair came or went) and what it pays for
/// itself.
struct StartProbes {
    let ours: Side
    let reference: Side
    let namespaces: [String: [String]]
    let count: Int
    /// Static binaries to exec as floors beside `/bin/true` (`--floor PATH`).
    let floors: [String]

    /// Per condition, the runtime start of our `VERSION` and the floors' whole calls (ns).
    private var starts: [String: [Double]] = [:]
    private var startCPU: [String: [Double]] = [:]
    private var floorCalls: [String: [String: [Double]]] = [:]
    private var conditions: [String] = []

    init(ours: Side, reference: Side, namespaces: [String: [String]], count: Int, floors: [String]) {
        self.ours = ours
        self.reference = reference
        self.namespaces = namespaces
        self.count = count
        self.floors = floors
    }

    mutating func run() throws {
        var inProcessExit = ours
        inProcessExit.environment.append("NETCTL_RELEASE_IN_BACKGROUND=0")
        let targets = ["VERSION", "/bin/true"] + floors
        let ourBridge = "\(ours.pluginDirectory)/bridge"
        for index in 0..<count {
            for target in targets {
                try exec(target, "after `/bin/true` (nothing of ours running)") { _ = try execute("/bin/true", environment: [], input: []) }
                try exec(target, "after our `VERSION` (as in the `VERSION` rows: our binary's pages hot)") {
                    _ = try execute(ourBridge, environment: versionEnvironment, input: versionInput)
                }
                for (side, name) in [(ours, "our"), (inProcessExit, "our (its exit in process: `NETCTL_RELEASE_IN_BACKGROUND=0`)"),
                                     (reference, "the reference's")] {
                    let chain = Chain(kind: .bridge, side: side)
                    guard let netns = namespaces[side.label]?[index] else { throw SpawnError(message: "no namespace \(index)") }
                    let container = chain.container(index, netns: netns)
                    var cached: JSON = .null
                    try exec(target, "right after \(name) bridge ADD") { cached = try chain.add(container).result }
                    try exec(target, "right after \(name) bridge DEL") { _ = try chain.delete(container, cached: cached) }
                    // The deletion's reclaim is out of the next condition's way.
                    usleep(50_000)
                    if name == "our" {
                        try exec(target, "20 ms after our bridge ADD") {
                            cached = try chain.add(container).result
                            usleep(20_000)
                        }
                        _ = try chain.delete(container, cached: cached)
                        usleep(50_000)
                    }
                }
            }
            if index % 10 == 9 { progress("start probes: \(index + 1) of \(count)") }
        }
    }

    /// Runs `before`, then `target` (our `VERSION`, or a floor's path): for our `VERSION` the
    /// time to its first mark (`main`), for a floor its whole call.
    private mutating func exec(_ target: String, _ condition: String, before: () throws -> Void) throws {
        if !conditions.contains(condition) { conditions.append(condition) }
        try before()
        guard target == "VERSION" else {
            let call = try execute(target, environment: [], input: [])
            floorCalls[condition, default: [:]][target, default: []].append(Double(call.nanoseconds))
            return
        }
        let execution = try execute("\(ours.pluginDirectory)/bridge", environment: versionEnvironment + ours.environment, input: versionInput)
        // `netctl-phase runtime start MONOTONIC CPU`
        guard let main = execution.errorText.split(separator: "\n").first(where: { $0.hasPrefix("netctl-phase runtime start ") }),
              case let fields = main.split(separator: " "), fields.count == 5,
              let stamp = UInt64(fields[3]), let cpu = UInt64(fields[4]), stamp >= execution.started
        else { throw SpawnError(message: "our VERSION printed no runtime start mark with its CPU time") }
        starts[condition, default: []].append(Double(stamp - execution.started))
        startCPU[condition, default: []].append(Double(cpu))
    }

    func table() -> String {
        let floorColumns = (["/bin/true"] + floors).map { "`\($0.split(separator: "/").last.map(String.init) ?? $0)` whole call" }
        var lines = tableHead("### Start-up by what ran right before: median µs, \(count) execs each",
                              ["right before the exec", "our `VERSION`, fork to `main`", "its CPU time to `main`"] + floorColumns)
        for condition in conditions {
            let cells = (["/bin/true"] + floors).map { micro(Samples(floorCalls[condition]?[$0] ?? []).median) }
            lines.append("| \(condition) | \(micro(Samples(starts[condition] ?? []).median)) | \(micro(Samples(startCPU[condition] ?? []).median)) | "
                + cells.joined(separator: " | ") + " |")
        }
        lines.append("")
        return lines.joined(separator: "\n")
    }

    private func micro(_ nanoseconds: Double) -> String { format(nanoseconds / 1000, decimals: 0) }
}
