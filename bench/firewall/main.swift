// Publish + unpublish latency of one port mapping against the number of mappings present.
//
//   swift build -c release --product bench-firewall
//   scripts/sandbox.sh .build/release/bench-firewall [ITERATIONS]
//
// Must run in a throwaway network namespace (scripts/sandbox.sh): it installs the firewall
// table there. For each count N (1, 100, 1 000) it reloads a state of one network with N
// any-address TCP mappings, then times ITERATIONS (default 1 000) rounds of publish +
// unpublish of one more mapping through one long-lived firewall, as a daemon or `netctl`
// would, and prints a markdown table (first 10 % discarded as warm-up). A second table opens a
// fresh firewall for each round, as every CNI plugin exec does. Both tables twice: the ports'
// map elements written as libnftnl writes them (`NftnlElements`, what the firewall does), then the
// same batches through libnftables' JSON alone (what it did before).
import Firewall
import NetCore
import Publishing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct Sample {
    var publish: [Double] = []
    var unpublish: [Double] = []
    var both: [Double] = []
}

func microseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
}

func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
}

func format(_ value: Double) -> String {
    let tenths = (value * 10).rounded() / 10
    return String(tenths)
}

guard getenv("NETCTL_SANDBOX") != nil else {
    print("bench-firewall: run it inside scripts/sandbox.sh; it changes the namespace's nftables ruleset")
    exit(2)
}

let iterations = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 1000
let clock = ContinuousClock()
let network = FirewallNetwork(name: "bench", bridge: try InterfaceName("bench0"), subnets: [try CIDR(parsing: "10.200.0.0/16")])

func mappings(_ count: Int) throws -> [PublishedPort] {
    var ports: [PublishedPort] = []
    for index in 0..<count {
        let third = UInt8(index / 250), fourth = UInt8(index % 250 + 2)
        let mapping = try PortMapping(hostPort: UInt16(10000 + index), containerPort: 80)
        ports.append(PublishedPort(mapping: mapping, containerAddress: .v4(IPv4Address(10, 200, third, fourth)),
                                   owner: "container-\(index)"))
    }
    return ports
}

let probe = PublishedPort(mapping: try PortMapping(hostPort: 9000, containerPort: 80),
                          containerAddress: .v4(IPv4Address(10, 200, 255, 1)), owner: "bench")

/// Where the ports' batches go.
enum Path: String {
    case libnftnl = "map elements as libnftnl writes them, libnftables for the rest"
    case libnftables = "libnftables (JSON) alone"
}

let lockPath = "/run/netctl/bench-firewall.lock"

func open(_ path: Path) throws -> NftablesFirewall {
    switch path {
    case .libnftnl: try NftablesFirewall.open(lockPath: lockPath)
    case .libnftables: NftablesFirewall(transport: try LibNftables(), host: try NamespaceHost(), lock: try FileLock(path: lockPath))
    }
}

func run(present count: Int, freshContext: Bool, rounds: Int, path: Path) throws -> Sample {
    let setup = try open(path)
    try setup.reload(FirewallState(networks: [.init(network, publishedPorts: try mappings(count))]))
    var sample = Sample()
    let warmUp = rounds / 10
    for round in 0..<(rounds + warmUp) {
        let firewall = freshContext ? try open(path) : setup
        let start = clock.now
        try firewall.publish([probe], on: network)
        let middle = clock.now
        try firewall.unpublish([probe], from: network)
        let end = clock.now
        guard round >= warmUp else { continue }
        sample.publish.append(microseconds(middle - start))
        sample.unpublish.append(microseconds(end - middle))
        sample.both.append(microseconds(end - start))
    }
    return sample
}

func table(freshContext: Bool, rounds: Int, path: Path) throws {
    print("| mappings present | publish median µs | publish p99 µs | unpublish median µs | unpublish p99 µs | both median µs |")
    print("|---:|---:|---:|---:|---:|---:|")
    var medians: [Int: Double] = [:]
    for count in [1, 100, 1000] {
        let sample = try run(present: count, freshContext: freshContext, rounds: rounds, path: path)
        medians[count] = percentile(sample.both, 0.5)
        print("| \(count) | \(format(percentile(sample.publish, 0.5))) | \(format(percentile(sample.publish, 0.99))) | "
            + "\(format(percentile(sample.unpublish, 0.5))) | \(format(percentile(sample.unpublish, 0.99))) | "
            + "\(format(percentile(sample.both, 0.5))) |")
    }
    if let one = medians[1], let thousand = medians[1000] {
        print("\nmedian publish+unpublish, 1 000 vs 1 mapping: \(format(thousand / one * 100) )% (ratio \((thousand / one * 100).rounded() / 100))")
    }
}

for path in [Path.libnftnl, .libnftables] {
    print("## \(path.rawValue): one firewall (\(iterations) rounds)\n")
    try table(freshContext: false, rounds: iterations, path: path)
    print("\n## \(path.rawValue): a fresh firewall per round, as a CNI plugin exec (\(max(iterations / 10, 20)) rounds)\n")
    try table(freshContext: true, rounds: max(iterations / 10, 20), path: path)
    print("")
}
