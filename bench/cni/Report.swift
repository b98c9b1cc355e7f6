#if canImport(Glibc)
import Glibc
#endif

/// The markdown tables of a run: per chain ADD, DEL and ADD+DEL for each mode, portmap's
/// growth with the number of attached containers, and peak RSS per call.
struct Report {
    let measurements: Measurements
    let iterations: Int
    let workers: Int

    func header(chains: [Chain.Kind]) -> String {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var load = [Double](repeating: 0, count: 3)
        getloadavg(&load, 3)
        return """
        ## CNI plugins: netctl-cni against the reference plugins

        kernel \(release), load average at the end \(format(load[0])), N=\(iterations) containers per side, \
        sequential and \(workers) parallel workers; ADD then DEL of every container, ours and the reference \
        alternating in blocks. Wall time per call of the whole chain, fork+exec included, in ms.

        """
    }

    /// Goals from the issue (the CNI floor one), as (ADD, ADD+DEL) ratios; none for IPAM alone.
    private func goals(_ kind: Chain.Kind) -> (add: Double?, addDelete: Double?) {
        switch kind {
        case .bridge: (0.38, 0.3)
        case .portmap: (0.12, 0.12)
        case .ipam: (nil, nil)
        }
    }

    func chainTable(_ kind: Chain.Kind, modes: [Int]) -> String {
        var lines = [
            "### \(kind.title)",
            "",
            "| call | ours median | ours p99 | reference median | reference p99 | ratio median | ratio p99 | goal | met (median, p99) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for mode in modes {
            let modeKey = mode == 1 ? "sequential" : "parallel\(mode)"
            let label = mode == 1 ? "sequential" : "\(mode) workers"
            for (call, goal) in [("ADD", goals(kind).add), ("DEL", nil), ("ADD+DEL", goals(kind).addDelete)] {
                let ours = samples("ours", kind, modeKey, call), theirs = samples("reference", kind, modeKey, call)
                let met = goal.map { "\(verdict(ours.median, theirs.median, goal: $0)), \(verdict(ours.p99, theirs.p99, goal: $0))" } ?? ""
                lines.append("| \(call), \(label) | \(milliseconds(ours.median)) | \(milliseconds(ours.p99)) | \(milliseconds(theirs.median)) | \(milliseconds(theirs.p99)) | \(ratio(ours.median, theirs.median)) | \(ratio(ours.p99, theirs.p99)) | \(goal.map { "≤ \(format($0))×" } ?? "") | \(met) |")
            }
        }
        lines.append("")
        return lines.joined(separator: "\n")
    }

    /// ADD of the first `span` against the last `span` containers, sequential: what the ones
    /// already attached cost each new one, and the largest WAL our stores reached.
    func growthTable(_ kind: Chain.Kind, span requested: Int, ours: Side) -> String {
        let span = min(requested, iterations / 2)
        let goal: Double? = switch kind { case .bridge: 1.35; case .portmap: 1.15; case .ipam: nil }
        var lines = [
            "### \(kind.title): ADD of the first \(span) vs the last \(span) of \(iterations) containers (sequential)",
            "",
            "| side | first \(span) median ms | last \(span) median ms | last / first | goal |",
            "|---|---:|---:|---:|---|",
        ]
        // The chain, then each exec of it: which plugin's time grows.
        let parts = kind == .portmap ? [("", ""), (" bridge", "/bridge"), (" portmap", "/portmap")] : [("", "")]
        for (part, suffix) in parts {
            for side in ["ours", "reference"] {
                let times = measurements.times(Runner.key(side, kind, "sequential", "ADD") + suffix)
                let first = Samples((0..<span).compactMap { times[$0] })
                let last = Samples((iterations - span..<iterations).compactMap { times[$0] })
                let met = side == "ours" && part.isEmpty ? goal.map { "≤ \(format($0))× (\(verdict(last.median, first.median, goal: $0)))" } ?? "" : ""
                lines.append("| \(side)\(part) | \(milliseconds(first.median)) | \(milliseconds(last.median)) | \(ratio(last.median, first.median)) | \(met) |")
            }
        }
        let chain = Chain(kind: kind, side: ours)
        let peaks = chain.walFiles.compactMap { path in measurements.walPeak(path).map { "`\(path)` \(kibibytes($0))" } }
        lines += ["", "Largest WAL of our stores after a call, all modes: \(peaks.isEmpty ? "none written" : peaks.joined(separator: ", ")).", ""]
        return lines.joined(separator: "\n")
    }

    /// Peak RSS of each plugin exec (`wait4`'s `ru_maxrss`; for the reference `bridge` this
    /// includes the `host-local` it execs), across every mode and chain.
    func sizeTable(chains: [Chain.Kind], startup: StartupBench) -> String {
        var lines = [
            "### Peak RSS per call (MiB)",
            "",
            "| call | ours median | ours max | reference median | reference max | ratio median | goal | met |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        func row(_ call: String, _ ours: Samples, _ theirs: Samples) {
            lines.append("| \(call) | \(mebibytes(ours.median)) | \(mebibytes(ours.percentile(1))) | \(mebibytes(theirs.median)) | \(mebibytes(theirs.percentile(1))) | \(ratio(ours.median, theirs.median)) | ≤ 1.5× | \(verdict(ours.median, theirs.median, goal: 1.5)) |")
        }
        row("bridge VERSION", startup.sizes["ours"] ?? Samples(), startup.sizes["reference"] ?? Samples())
        var plugins = ["bridge"]
        if chains.contains(.portmap) { plugins.append("portmap") }
        for plugin in plugins {
            for command in ["ADD", "DEL"] {
                row("\(plugin) \(command)", measurements.sizes(Runner.sizeKey("ours", plugin, command)),
                    measurements.sizes(Runner.sizeKey("reference", plugin, command)))
            }
        }
        let floor = startup.sizes[StartupBench.floorLabel] ?? Samples()
        lines += ["", "`/bin/true` through the same spawner reports \(mebibytes(floor.median)) MiB: the floor of these figures.", ""]
        return lines.joined(separator: "\n")
    }

    private func samples(_ side: String, _ kind: Chain.Kind, _ mode: String, _ call: String) -> Samples {
        if call == "ADD+DEL" {
            let adds = measurements.times(Runner.key(side, kind, mode, "ADD"))
            let deletes = measurements.times(Runner.key(side, kind, mode, "DEL"))
            return Samples(adds.compactMap { index, add in deletes[index].map { add + $0 } })
        }
        return Samples(Array(measurements.times(Runner.key(side, kind, mode, call)).values))
    }
}
