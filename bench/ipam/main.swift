// Allocate+release latency of one pool against the number of leases already in it.
//
//   swift run -c release --scratch-path .build-ipam bench-ipam [ITERATIONS] [full]
//
// For each lease count N (10, 1 000, 50 000) and two layouts it prefills N leases in one
// transaction, then times ITERATIONS (default 2 000) cycles of allocate + release for a new
// container, each cycle two committed transactions, and prints a markdown table.
//   contiguous: N leases from the start of 10.0.0.0/8; the cursor sits after them.
//   scattered:  a range of exactly 2N addresses, a random half of them leased, so every
//               allocation wraps into and walks the fragmented region.
// "full" runs with synchronous=FULL instead of NORMAL, to show what fsync per commit costs.
import IPAM
import NetCore
import Store

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum Layout: String { case contiguous, scattered }

struct Measurement {
    let leases: Int
    let layout: Layout
    let median: Double
    let p99: Double
}

func microseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
}

func temporaryDirectory() -> String {
    var template = Array("/tmp/bench-ipam-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return "/tmp/bench-ipam-fallback" }
        return String(cString: base)
    }
}

func removeStore(_ directory: String) {
    for suffix in ["", "-wal", "-shm"] { unlink("\(directory)/\(StateStore.fileName)\(suffix)") }
    rmdir(directory)
}

func measure(leases count: Int, layout: Layout, iterations: Int, synchronous: Database.Synchronous) throws -> Measurement {
    let directory = temporaryDirectory()
    defer { removeStore(directory) }
    let store = try StateStore(directory: directory, schema: [AddressAllocator.schema], synchronous: synchronous)
    let allocator = try AddressAllocator(store: store, bootID: "bench")
    let subnet = try CIDR(parsing: "10.0.0.0/8")
    let range: AddressRange
    switch layout {
    case .contiguous:
        range = try AddressRange(subnet: subnet)
    case .scattered:
        let start = try IPAddress(parsing: "10.0.0.2", field: "start")
        let end = IPAddress(family: .v4, integerValue: start.integerValue + UInt128(2 * count) - 1)
        range = try AddressRange(subnet: subnet, start: start, end: end)
    }
    let sets = [RangeSet(range)]
    func key(_ name: String) throws -> LeaseKey {
        try LeaseKey(network: "bench", containerID: name, interface: InterfaceName("eth0"))
    }

    let prefill = layout == .contiguous ? count : 2 * count
    try store.database.immediateTransaction {
        for index in 0..<prefill { _ = try allocator.allocate(key: key("prefill\(index)"), rangeSets: sets) }
        if layout == .scattered {
            var generator = SystemRandomNumberGenerator()
            let released = Array(0..<prefill).shuffled(using: &generator).prefix(prefill - count)
            for index in released { try allocator.release(key: key("prefill\(index)")) }
        }
    }
    guard try allocator.leases(network: "bench").count == count else {
        throw NetworkError(code: .internalError, message: "prefill did not leave \(count) leases")
    }

    let clock = ContinuousClock()
    var samples: [Double] = []
    samples.reserveCapacity(iterations)
    for index in 0..<(iterations + iterations / 10) {
        let cycleKey = try key("cycle\(index)")
        let started = clock.now
        _ = try allocator.allocate(key: cycleKey, rangeSets: sets)
        try allocator.release(key: cycleKey)
        let elapsed = clock.now - started
        if index >= iterations / 10 { samples.append(microseconds(elapsed)) }  // first 10%: warm-up
    }
    samples.sort()
    return Measurement(
        leases: count, layout: layout, median: samples[samples.count / 2],
        p99: samples[min(samples.count - 1, samples.count * 99 / 100)])
}

let arguments = CommandLine.arguments.dropFirst()
let iterations = arguments.first.flatMap { Int($0) } ?? 2_000
let synchronous: Database.Synchronous = arguments.contains("full") ? .full : .normal

do {
    var results: [Measurement] = []
    for layout in [Layout.contiguous, .scattered] {
        for count in [10, 1_000, 50_000] {
            results.append(try measure(leases: count, layout: layout, iterations: iterations, synchronous: synchronous))
        }
    }
    func format(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return "\(rounded)"
    }
    print("synchronous=\(synchronous.rawValue), \(iterations) allocate+release cycles per row (2 commits each)\n")
    print("| existing leases | layout | median µs | p99 µs |")
    print("|---:|---|---:|---:|")
    for result in results {
        print("| \(result.leases) | \(result.layout.rawValue) | \(format(result.median)) | \(format(result.p99)) |")
    }
    print("")
    for layout in [Layout.contiguous, .scattered] {
        let rows = results.filter { $0.layout == layout }
        if let small = rows.first(where: { $0.leases == 10 }), let large = rows.first(where: { $0.leases == 50_000 }) {
            print("\(layout.rawValue): median 50 000 / 10 = \(format(large.median / small.median * 100) )%, "
                + "p99 50 000 / 10 = \(format(large.p99 / small.p99 * 100))%")
        }
    }
} catch {
    print("bench-ipam: \(error)")
    exit(1)
}
