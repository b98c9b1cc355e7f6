import NetCore

/// Memory each call holds as it is about to exit, read from `smaps_rollup` under ptrace: a
/// few containers per side after the timed runs, so the tracing costs them no time. As in the
/// timed runs, every container is added before the first is deleted: the first ADD on a
/// bridge (which installs its rules) and the last DEL (which removes them) are one call each
/// in the median, and show in the max column.
///
/// `ru_maxrss` (the peak RSS table) counts every page mapped, and most of a plugin's are
/// clean page-cache pages of its binary and libraries that fault-around maps 64 KiB at a time;
/// `Anonymous` is what the call itself allocated and wrote. For the reference `bridge` and
/// `portmap` neither figure includes the processes they exec (`host-local`, `iptables`).
struct MemoryBench {
    let sides: [Side]
    let namespaces: [String: [String]]
    let containers: Int

    /// Per "side/plugin/command": the exit memory of each exec.
    private(set) var samples: [String: [ExitMemory]] = [:]

    init(sides: [Side], namespaces: [String: [String]], containers: Int) {
        self.sides = sides
        self.namespaces = namespaces
        self.containers = containers
    }

    mutating func run(_ chains: [Chain.Kind]) throws {
        for side in sides {
            for _ in 0..<containers {
                let version = try execute("\(side.pluginDirectory)/bridge", environment: versionEnvironment, input: versionInput,
                                          memoryAtExit: true)
                keep(side.label, "bridge", "VERSION", version)
            }
        }
        for kind in chains {
            for side in sides {
                let chain = Chain(kind: kind, side: side)
                var results: [(Chain.Container, JSON)] = []
                for index in 0..<containers {
                    guard let netns = namespaces[side.label]?[index] else { throw SpawnError(message: "no namespace \(index)") }
                    let container = chain.container(index, netns: netns)
                    let (result, added) = try chain.add(container, memoryAtExit: true)
                    results.append((container, result))
                    for (plugin, execution) in added { keep(side.label, plugin, "ADD", execution) }
                }
                for (container, result) in results {
                    let deleted = try chain.delete(container, cached: result, memoryAtExit: true)
                    for (plugin, execution) in deleted { keep(side.label, plugin, "DEL", execution) }
                }
            }
        }
    }

    private mutating func keep(_ side: String, _ plugin: String, _ command: String, _ execution: Execution) {
        guard let memory = execution.exitMemory else { return }
        samples["\(side)/\(plugin)/\(command)", default: []].append(memory)
    }

    func table(_ chains: [Chain.Kind]) -> String {
        var lines = [
            "### Memory at exit per call (MiB), \(containers) calls each, traced after the timed runs",
            "",
            "| call | ours RSS | ours anonymous (max) | reference RSS | reference anonymous (max) | RSS ratio | anonymous ratio | goal | met |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        var calls = [("bridge", "VERSION"), ("bridge", "ADD"), ("bridge", "DEL")]
        if chains.contains(.portmap) { calls += [("portmap", "ADD"), ("portmap", "DEL")] }
        for (plugin, command) in calls {
            let ours = samples["ours/\(plugin)/\(command)"] ?? [], theirs = samples["reference/\(plugin)/\(command)"] ?? []
            let (ourRSS, ourAnonymous) = (Samples(ours.map { Double($0.rss) }), Samples(ours.map { Double($0.anonymous) }))
            let (theirRSS, theirAnonymous) = (Samples(theirs.map { Double($0.rss) }), Samples(theirs.map { Double($0.anonymous) }))
            lines.append("| \(plugin) \(command) | \(mebibytes(ourRSS.median)) | \(mebibytes(ourAnonymous.median)) (\(mebibytes(ourAnonymous.percentile(1)))) | "
                + "\(mebibytes(theirRSS.median)) | \(mebibytes(theirAnonymous.median)) (\(mebibytes(theirAnonymous.percentile(1)))) | "
                + "\(ratio(ourRSS.median, theirRSS.median)) | \(ratio(ourAnonymous.median, theirAnonymous.median)) | ≤ 0.6× | "
                + "\(verdict(ourAnonymous.median, theirAnonymous.median, goal: 0.6)) |")
        }
        lines += ["", "Medians. `Anonymous` is heap, stacks and written data; the rest of `RSS` is clean page-cache pages.", ""]
        return lines.joined(separator: "\n")
    }
}
