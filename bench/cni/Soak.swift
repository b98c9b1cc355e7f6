/// `rounds` ADD+DEL of one container through our side of `chain`, one after another: whether
/// a call's cost and our stores' WAL stay where they started after thousands of calls.
func soak(_ chain: Chain, netns: String, rounds: Int) throws -> String {
    let measurements = Measurements()
    var times: [Double] = []
    for round in 0..<rounds {
        let container = chain.container(0, netns: netns)
        let start = now()
        let (result, _) = try chain.add(container)
        _ = try chain.delete(container, cached: result)
        times.append(Double(now() - start))
        chain.walFiles.forEach(measurements.record(walOf:))
        if round % 1_000 == 999 { progress("soak: \(round + 1) rounds") }
    }
    let span = min(500, rounds / 2)
    let first = Samples(Array(times.prefix(span))), last = Samples(Array(times.suffix(span)))
    let peaks = chain.walFiles.compactMap { path in measurements.walPeak(path).map { "`\(path)` \(kibibytes($0))" } }
    return """
    ### Soak: \(rounds) rounds of \(chain.kind.title) ADD+DEL of one container, ours

    | rounds | median ms | p99 ms |
    |---|---:|---:|
    | first \(span) | \(milliseconds(first.median)) | \(milliseconds(first.p99)) |
    | last \(span) | \(milliseconds(last.median)) | \(milliseconds(last.p99)) |

    Last / first median: \(ratio(last.median, first.median)). Largest WAL after a round: \
    \(peaks.isEmpty ? "none written" : peaks.joined(separator: ", ")).

    """
}
