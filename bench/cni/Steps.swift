import NetCore

/// `--steps N`: where the time of one call of our plugins goes, phase by phase, as
/// bench-netlink's `--steps` shows it for the netlink sequence. Our plugins run with
/// `NETCTL_PHASE_TRACE=1` and print a `CLOCK_MONOTONIC` timestamp at the end of each phase
/// (NetCore's `PhaseTrace`); the first phase runs from before the fork to the first mark
/// (fork, exec, the dynamic loader, libc and the Swift runtime up to `main`), the last from
/// the last mark to the reap (what happens at exit). The reference plugins run the same
/// chains beside them, untraced, for their totals.
struct StepsBench {
    let ours: Side
    let reference: Side
    let namespaces: [String: [String]]
    let iterations: Int
    let blockSize: Int

    /// Per "plugin COMMAND": each call's phases in order, as (name, nanoseconds).
    private var calls: [String: [[(String, Double)]]] = [:]
    /// Per "plugin COMMAND": each call's CPU time per phase, as (name, nanoseconds).
    private var cpuCalls: [String: [[(String, Double)]]] = [:]
    /// Per "side/plugin COMMAND": each call's total wall time.
    private var totals: [String: [Double]] = [:]
    /// Per "side/plugin COMMAND": each call's minor page faults.
    private var faults: [String: [Double]] = [:]

    static let firstPhase = "runtime start"
    static let lastPhase = "exit (last mark to reaped)"
    static let forkPart = "… of it: the spawner's pipes and `fork` (in the parent)"
    static let cpuPart = "… of it: CPU time of the child to `main` (exec, loader, runtime)"
    static let cpuTotal = "CPU time of the call to its last mark (the rest of the wall time is waiting)"

    init(ours: Side, reference: Side, namespaces: [String: [String]], iterations: Int, blockSize: Int) {
        var traced = ours
        traced.environment.append("NETCTL_PHASE_TRACE=1")
        self.ours = traced
        self.reference = reference
        self.namespaces = namespaces
        self.iterations = iterations
        self.blockSize = blockSize
    }

    mutating func run(_ kinds: [Chain.Kind]) throws {
        for _ in 0..<iterations {
            let execution = try execute("\(ours.pluginDirectory)/bridge", environment: versionEnvironment + ours.environment, input: versionInput)
            keep("ours", "VERSION", execution)
            let theirs = try execute("\(reference.pluginDirectory)/bridge", environment: versionEnvironment, input: versionInput)
            totals["reference/VERSION", default: []].append(Double(theirs.nanoseconds))
            faults["reference/VERSION", default: []].append(Double(theirs.minorFaults))
            let floor = try execute("/bin/true", environment: versionEnvironment, input: [])
            totals["floor", default: []].append(Double(floor.nanoseconds))
        }
        for kind in kinds {
            var cached: [String: JSON] = [:]
            for command in ["ADD", "DEL"] {
                for (blockIndex, blockStart) in stride(from: 0, to: iterations, by: blockSize).enumerated() {
                    let sides = blockIndex % 2 == 0 ? [ours, reference] : [reference, ours]
                    for side in sides {
                        let chain = Chain(kind: kind, side: side)
                        for index in blockStart..<min(iterations, blockStart + blockSize) {
                            guard let netns = namespaces[side.label]?[index] else { throw SpawnError(message: "no namespace \(index)") }
                            let container = chain.container(index, netns: netns)
                            let executions: [(String, Execution)]
                            if command == "ADD" {
                                let (result, done) = try chain.add(container)
                                cached[container.id] = result
                                executions = done
                            } else {
                                executions = try chain.delete(container, cached: cached[container.id] ?? .null)
                            }
                            for (plugin, execution) in executions { keep(side.label, "\(plugin) \(command)", execution) }
                        }
                    }
                }
                progress("steps: \(kind.title) \(command) done")
            }
        }
    }

    private mutating func keep(_ side: String, _ call: String, _ execution: Execution) {
        totals["\(side)/\(call)", default: []].append(Double(execution.nanoseconds))
        faults["\(side)/\(call)", default: []].append(Double(execution.minorFaults))
        guard side == "ours" else { return }
        var phases: [(String, Double)] = []
        var previous = execution.started
        var lastCPU: UInt64?
        var cpuPhases: [(String, Double)] = []
        for line in execution.errorText.split(separator: "\n") where line.hasPrefix("netctl-phase ") {
            // `netctl-phase NAME MONOTONIC CPU` (older binaries print no CPU time).
            var fields = line.split(separator: " ")
            var cpu: UInt64?
            if fields.count >= 4, let last = UInt64(fields[fields.count - 1]), UInt64(fields[fields.count - 2]) != nil {
                cpu = last
                fields.removeLast()
            }
            guard fields.count >= 3, let stamp = UInt64(fields[fields.count - 1]), stamp >= previous else { continue }
            let name = fields[1..<(fields.count - 1)].joined(separator: " ")
            phases.append((name, Double(stamp - previous)))
            if name == Self.firstPhase {
                // What the time to `main` was made of: the rest is waiting for a CPU.
                phases.append((Self.forkPart, Double(execution.forked - execution.started)))
                if let cpu { phases.append((Self.cpuPart, Double(cpu))) }
            }
            if let cpu, cpu >= lastCPU ?? 0 { cpuPhases.append((name, Double(cpu - (lastCPU ?? 0)))) }
            lastCPU = cpu ?? lastCPU
            previous = stamp
        }
        phases.append((Self.lastPhase, Double(execution.ended - previous)))
        if let lastCPU {
            phases.append((Self.cpuTotal, Double(lastCPU)))
            cpuCalls[call, default: []].append(cpuPhases)
        }
        calls[call, default: []].append(phases)
    }

    /// One table per chain: a column per call, a row per phase (medians over the calls; a phase
    /// that happens more than once in a call counts as their sum, one that a call skips as 0,
    /// and the cell says in how many calls it happened when not in all).
    func tables(_ kinds: [Chain.Kind]) -> String {
        var sections: [String] = ["## CNI plugin calls, phase by phase (`--steps \(iterations)`)", ""]
        var groups: [(String, [String])] = [("`VERSION` and bridge + host-local", ["VERSION", "bridge ADD", "bridge DEL"])]
        if kinds.contains(.portmap) { groups.append(("portmap (in the bridge + host-local + portmap chain)", ["portmap ADD", "portmap DEL"])) }
        for (title, columns) in groups {
            var order: [String] = []
            for column in columns {
                for call in calls[column] ?? [] {
                    for (name, _) in call where !order.contains(name) {
                        // Keep the exit last whatever the calls' order.
                        if name == Self.lastPhase || name == Self.cpuTotal { continue }
                        order.append(name)
                    }
                }
            }
            order += [Self.lastPhase, Self.cpuTotal]
            var lines = tableHead("### \(title): median µs per phase, \(iterations) calls each", ["phase"] + columns)
            for name in order {
                let cells = columns.map { column -> String in
                    let all = calls[column] ?? []
                    let values = all.map { call in call.filter { $0.0 == name }.reduce(0) { $0 + $1.1 } }
                    let happened = all.filter { call in call.contains { $0.0 == name } }.count
                    guard happened > 0 else { return "" }
                    return micro(Samples(values).median) + (happened < all.count ? " (\(happened) of \(all.count))" : "")
                }
                lines.append("| \(name == Self.firstPhase ? "runtime start (fork to main)" : name) | " + cells.joined(separator: " | ") + " |")
            }
            func row(_ label: String, _ table: [String: [Double]], scale: Double = 1000, _ key: (String) -> String) {
                lines.append("| \(label) | " + columns.map { column in
                    let values = table[key(column)] ?? []
                    return values.isEmpty ? "" : format(Samples(values).median / scale, decimals: 0)
                }.joined(separator: " | ") + " |")
            }
            row("**whole call, median**", totals) { "ours/\($0)" }
            row("reference, whole call, median", totals) { "reference/\($0)" }
            row("minor page faults of the call, median (not µs)", faults, scale: 1) { "ours/\($0)" }
            row("reference's minor page faults, median (not µs)", faults, scale: 1) { "reference/\($0)" }
            lines.append("")
            sections.append(lines.joined(separator: "\n"))
            sections.append(cpuTable(title, columns, order: order.filter { cpuCalls.values.joined().joined().map(\.0).contains($0) }))
        }
        sections.append(slowestCalls(groups.flatMap(\.1)))
        let floor = Samples(totals["floor"] ?? [])
        sections.append("`/bin/true` through the same spawner: \(micro(floor.median)) µs median.\n")
        return sections.joined(separator: "\n")
    }

    /// The tail: for each kind of call, its slowest calls and the phases that made them slow
    /// (the three longest of each), against that phase's median.
    private func slowestCalls(_ columns: [String], count: Int = 3) -> String {
        var lines = ["### The slowest calls of each kind, and their longest phases (µs; the phase's median in brackets)", ""]
        for column in columns {
            let all = calls[column] ?? []
            let medians = Dictionary(grouping: all.joined(), by: \.0).mapValues { Samples($0.map(\.1)).median }
            // The phases that add up to the call's wall time (not the parts and totals noted beside them).
            let timed = all.map { call in call.filter { ![Self.forkPart, Self.cpuPart, Self.cpuTotal].contains($0.0) } }
            let wall = { (phases: [(String, Double)]) in phases.reduce(0) { $0 + $1.1 } }
            let median = Samples(timed.map(wall)).median
            let slow = timed.filter { wall($0) > 2 * median }.count
            lines.append("- \(column): \(slow) of \(all.count) calls took more than twice the median (\(micro(median)))")
            for phases in timed.sorted(by: { wall($0) > wall($1) }).prefix(count) {
                let longest = phases.sorted { $0.1 > $1.1 }.prefix(3)
                lines.append("- \(column), \(micro(wall(phases))) in all: " + longest.map { name, value in
                    "\(name == Self.firstPhase ? "runtime start" : name) \(micro(value)) (\(micro(medians[name] ?? 0)))"
                }.joined(separator: ", "))
            }
        }
        lines.append("")
        return lines.joined(separator: "\n")
    }

    /// The CPU time of each phase, where the binary prints it: a phase whose wall time is well
    /// above its CPU time waited (for the kernel's work elsewhere, a lock, or a CPU).
    private func cpuTable(_ title: String, _ columns: [String], order: [String]) -> String {
        guard !order.isEmpty else { return "" }
        var lines = tableHead("### \(title): median CPU µs per phase (the process's CPU time between marks)", ["phase"] + columns)
        for name in order {
            let cells = columns.map { column -> String in
                let all = cpuCalls[column] ?? []
                guard all.contains(where: { call in call.contains { $0.0 == name } }) else { return "" }
                return micro(Samples(all.map { call in call.filter { $0.0 == name }.reduce(0) { $0 + $1.1 } }).median)
            }
            lines.append("| \(name == Self.firstPhase ? "runtime start (fork to main)" : name) | " + cells.joined(separator: " | ") + " |")
        }
        lines.append("")
        return lines.joined(separator: "\n")
    }

    private func micro(_ nanoseconds: Double) -> String { format(nanoseconds / 1000, decimals: 0) }
}

/// A markdown table's heading, blank line, header row and separator: the first column names
/// the rows (left-aligned), the others hold numbers (right-aligned).
func tableHead(_ heading: String, _ columns: [String]) -> [String] {
    [heading, "", "| " + columns.joined(separator: " | ") + " |", "|---|" + String(repeating: "---:|", count: columns.count - 1)]
}
