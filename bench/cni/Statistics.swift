/// Nearest-rank percentiles over a set of durations (nanoseconds) or sizes.
struct Samples {
    var values: [Double] = []

    init(_ values: [Double] = []) { self.values = values }

    var isEmpty: Bool { values.isEmpty }

    func percentile(_ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))]
    }

    var median: Double { percentile(0.5) }
    var p99: Double { percentile(0.99) }
}

/// `value` rounded to `decimals` digits after the point, without Foundation's formatter.
func format(_ value: Double, decimals: Int = 2) -> String {
    guard value.isFinite else { return "–" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int64((value * scale).rounded())
    let whole = scaled / Int64(scale), fraction = abs(scaled % Int64(scale))
    guard decimals > 0 else { return String(whole) }
    var digits = String(fraction)
    while digits.count < decimals { digits = "0" + digits }
    return "\(scaled < 0 && whole == 0 ? "-" : "")\(whole).\(digits)"
}

func milliseconds(_ nanoseconds: Double) -> String { format(nanoseconds / 1_000_000) }

func kibibytes(_ bytes: Int) -> String { "\(format(Double(bytes) / 1024, decimals: 0)) KiB" }

/// `ours / theirs` with a `×`.
func ratio(_ ours: Double, _ theirs: Double) -> String {
    guard theirs > 0 else { return "–" }
    return format(ours / theirs) + "×"
}

/// "yes" when `ours / theirs` is within `goal`, for the goal column.
func verdict(_ ours: Double, _ theirs: Double, goal: Double) -> String {
    guard theirs > 0, ours.isFinite else { return "–" }
    return ours / theirs <= goal ? "yes" : "**no**"
}
