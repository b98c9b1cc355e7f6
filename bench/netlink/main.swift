// Netlink benchmark: our RouteSocket against `ip -batch` doing the same work, in one run.
//
//   make bench            (or: scripts/sandbox.sh .build/release/bench-netlink [--iterations N])
//
// Two workloads:
//  1. the CNI-ADD-like sequence: a veth with its peer created in a container namespace,
//     attached to a bridge and up, then inside the container lo and eth0 up, an address and a
//     default route; timed in-process (socket opened per container, and pre-opened), as an
//     exec of this binary doing one sequence, and as `ip -batch` (two execs: the host side and
//     `ip -n NS -batch` for the container side, since one batch cannot switch namespaces);
//  2. create then delete 200 veth pairs: one RouteSocket against one `ip -batch` file each.
// Namespaces are created and removed outside the timed regions.
#if canImport(Glibc)
import Glibc
#endif
import Namespaces
import NetCore
import Netlink

let bridgeName = "bbr0"

// No Foundation here: the exec'd rows run this same binary, and its start-up should be
// what a lean tool pays, not Foundation's.
func now() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

func fail(_ message: String) -> Never {
    let text = "bench-netlink: \(message)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

/// `value` with `decimals` digits after the point.
func format(_ value: Double, decimals: Int) -> String {
    let scale = decimals == 0 ? 1.0 : 10.0
    let rounded = (value * scale).rounded() / scale
    return decimals == 0 ? String(Int(rounded)) : String(rounded)
}

/// One CNI-ADD-like sequence for container `index` in `namespace`.
func addSequence(host: RouteSocket, namespace: NetNamespace, index: Int, container: RouteSocket? = nil) throws {
    let inside = try container ?? RouteSocket.open(in: namespace)
    try host.addLink(LinkSpec(name: try InterfaceName("bv\(index)"),
                              kind: .veth(peer: VethPeer(name: try InterfaceName("eth0"), namespace: namespace)),
                              master: .name(try InterfaceName(bridgeName)), up: true))
    try inside.setLink("lo", up: true)
    try inside.setLink("eth0", up: true)
    try inside.addAddress(try CIDR(parsing: address(index)), to: "eth0")
    try inside.addRoute(.defaultRoute(via: .v4(IPv4Address(10, 77, 0, 1)), device: "eth0"))
}

func address(_ index: Int) -> String { "10.77.\(1 + index / 250).\(2 + index % 250)/16" }

/// Runs a command with posix_spawn, optionally feeding `input` on stdin; returns its exit status.
/// (Foundation's Process cost ~50 ms per spawn on a 2-core VM, which would drown what is measured.)
@discardableResult
func run(_ path: String, _ arguments: [String], input: String? = nil) throws -> Int32 {
    var pipeEnds: [Int32] = [-1, -1]
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if input != nil {
        guard pipe(&pipeEnds) == 0 else { throw Errno.current }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[0], 0)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[1])
    }
    var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, path, &actions, nil, &argv, environ)
    guard status == 0 else { throw Errno(rawValue: status) }
    if let input {
        close(pipeEnds[0])
        let bytes = Array(input.utf8)
        _ = bytes.withUnsafeBytes { write(pipeEnds[1], $0.baseAddress, $0.count) }
        close(pipeEnds[1])
    }
    var exitStatus: Int32 = 0
    while waitpid(pid, &exitStatus, 0) < 0, errno == EINTR {}
    return exitStatus
}

let ipPath = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { (path: String) in access(path, X_OK) == 0 } ?? "ip"

struct Samples {
    var nanoseconds: [UInt64] = []
    mutating func add(_ start: UInt64) { nanoseconds.append(now() - start) }
    func percentile(_ p: Double) -> Double {
        let sorted = nanoseconds.sorted()
        guard !sorted.isEmpty else { return 0 }
        return Double(sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]) / 1000
    }
    var median: Double { percentile(0.5) }
    var p99: Double { percentile(0.99) }
}

func fresh(_ name: String) throws -> NetNamespace {
    try? NetNamespace.delete(named: name)
    return try NetNamespace.create(named: name)
}

// MARK: - One sequence in a child process (what an exec'd plugin pays)

let arguments = CommandLine.arguments
if arguments.count == 4, arguments[1] == "--one-add", let index = Int(arguments[3]) {
    do {
        try addSequence(host: try RouteSocket.open(), namespace: try NetNamespace.open(path: arguments[2]), index: index)
        exit(0)
    } catch {
        fail("\(error)")
    }
}

guard getuid() == 0, getenv("NETCTL_SANDBOX") != nil else {
    fail("run inside the sandbox: scripts/sandbox.sh \(arguments[0])")
}
var iterations = 200
if let flag = arguments.firstIndex(of: "--iterations"), flag + 1 < arguments.count, let value = Int(arguments[flag + 1]) {
    iterations = value
}
let rounds = 5

if arguments.contains("--steps") {
    // Where the time of one sequence goes, step by step (medians over the iterations).
    let host = try RouteSocket.open()
    _ = try? host.deleteLink(.name(try InterfaceName(bridgeName)))
    try host.addLink(LinkSpec(name: try InterfaceName(bridgeName), kind: .bridge, up: true))
    var steps: [String: Samples] = [:]
    for index in 0..<iterations {
        let namespace = try fresh("bstep")
        func time(_ name: String, _ body: () throws -> Void) throws {
            let start = now()
            try body()
            steps[name, default: Samples()].add(start)
        }
        var inside: RouteSocket?
        try time("1 open socket in netns") { inside = try RouteSocket.open(in: namespace) }
        guard let inside else { break }
        try time("2 veth with peer in netns, master, up") {
            try host.addLink(LinkSpec(name: try InterfaceName("bv\(index)"),
                                      kind: .veth(peer: VethPeer(name: try InterfaceName("eth0"), namespace: namespace)),
                                      master: .name(try InterfaceName(bridgeName)), up: true))
        }
        try time("3 lo up") { try inside.setLink("lo", up: true) }
        try time("4 eth0 up") { try inside.setLink("eth0", up: true) }
        try time("5 address") { try inside.addAddress(try CIDR(parsing: address(index)), to: "eth0") }
        try time("6 default route") { try inside.addRoute(.defaultRoute(via: .v4(IPv4Address(10, 77, 0, 1)), device: "eth0")) }
        try host.deleteLink(.name(try InterfaceName("bv\(index)")))
        try NetNamespace.delete(named: "bstep")
    }
    for (name, samples) in steps.sorted(by: { $0.key < $1.key }) {
        print("\(name): median \(format(samples.median, decimals: 0)) µs, p99 \(format(samples.p99, decimals: 0)) µs")
    }
    _ = try? host.deleteLink(.name(try InterfaceName(bridgeName)))
    exit(0)
}

do {
    let host = try RouteSocket.open()
    _ = try? host.deleteLink(.name(try InterfaceName(bridgeName)))
    try host.addLink(LinkSpec(name: try InterfaceName(bridgeName), kind: .bridge, up: true))
    try host.addAddress(try CIDR(parsing: "10.77.0.1/16"), to: .name(try InterfaceName(bridgeName)))
    defer { _ = try? host.deleteLink(.name(try InterfaceName(bridgeName))) }
    var pathBuffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &pathBuffer, pathBuffer.count - 1)
    guard length > 0 else { fail("cannot find this executable") }
    let selfPath = String(decoding: pathBuffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)

    var openSocket = Samples(), sequenceWithOpen = Samples(), sequencePreopened = Samples()
    var execOurs = Samples(), execIP = Samples(), execTrue = Samples()
    for index in 0..<iterations {
        // The cost of an exec alone, to read the exec'd rows against.
        var start = now()
        try run("/bin/true", [])
        execTrue.add(start)
        let name = "bnl\(index % 8)"
        func teardown() throws {
            try host.deleteLink(.name(try InterfaceName("bv\(index)")))
            try NetNamespace.delete(named: name)
        }
        // In process, socket opened inside the namespace as part of the work.
        var namespace = try fresh(name)
        start = now()
        try addSequence(host: host, namespace: namespace, index: index)
        sequenceWithOpen.add(start)
        try teardown()

        // In process, socket already open: the netlink requests alone.
        namespace = try fresh(name)
        start = now()
        let inside = try RouteSocket.open(in: namespace)
        openSocket.add(start)
        start = now()
        try addSequence(host: host, namespace: namespace, index: index, container: inside)
        sequencePreopened.add(start)
        try teardown()

        // Exec'd: this binary doing one sequence.
        namespace = try fresh(name)
        start = now()
        let status = try run(selfPath, ["--one-add", namespace.path, String(index)])
        execOurs.add(start)
        guard status == 0 else { throw NetworkError(code: .system, message: "child sequence failed") }
        try teardown()

        // Exec'd: ip -batch, host side then container side.
        namespace = try fresh(name)
        start = now()
        let hostBatch = "link add bv\(index) master \(bridgeName) up type veth peer name eth0 netns \(name)\n"
        let containerBatch = "link set lo up\nlink set eth0 up\naddr add \(address(index)) dev eth0\nroute add default via 10.77.0.1 dev eth0\n"
        let first = try run(ipPath, ["-batch", "-"], input: hostBatch)
        let second = try run(ipPath, ["-n", name, "-batch", "-"], input: containerBatch)
        execIP.add(start)
        guard first == 0, second == 0 else { throw NetworkError(code: .system, message: "ip -batch failed") }
        try teardown()
        _ = namespace
    }

    // 200 veth pairs: create all, then delete all.
    var createOurs = Samples(), deleteOurs = Samples(), createIP = Samples(), deleteIP = Samples()
    let pairs = 200
    for _ in 0..<rounds {
        var start = now()
        for pair in 0..<pairs {
            try host.addLink(LinkSpec(name: try InterfaceName("bva\(pair)"), kind: .veth(peer: VethPeer(name: try InterfaceName("bvb\(pair)")))))
        }
        createOurs.add(start)
        start = now()
        for pair in 0..<pairs { try host.deleteLink(.name(try InterfaceName("bva\(pair)"))) }
        deleteOurs.add(start)

        let adds = (0..<pairs).map { "link add bva\($0) type veth peer name bvb\($0)\n" }.joined()
        let deletes = (0..<pairs).map { "link del bva\($0)\n" }.joined()
        start = now()
        guard try run(ipPath, ["-batch", "-"], input: adds) == 0 else { throw NetworkError(code: .system, message: "ip -batch add failed") }
        createIP.add(start)
        start = now()
        guard try run(ipPath, ["-batch", "-"], input: deletes) == 0 else { throw NetworkError(code: .system, message: "ip -batch del failed") }
        deleteIP.add(start)
    }

    func row(_ work: String, _ ours: Samples, _ theirs: Samples?, unit: Double = 1) -> String {
        func f(_ value: Double) -> String { format(value / unit, decimals: unit == 1 ? 0 : 1) }
        guard let theirs else { return "| \(work) | \(f(ours.median)) | \(f(ours.p99)) | | | | |" }
        return "| \(work) | \(f(ours.median)) | \(f(ours.p99)) | \(f(theirs.median)) | \(f(theirs.p99)) | "
            + "\(format(ours.median / theirs.median * 100, decimals: 0).ratio) | \(format(ours.p99 / theirs.p99 * 100, decimals: 0).ratio) |"
    }
    var kernel = utsname()
    uname(&kernel)
    let release = withUnsafeBytes(of: &kernel.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    print("kernel \(release), \(iterations) sequences, \(rounds) rounds of \(pairs) veth pairs\n")
    print("| work | netctl median | netctl p99 | ip -batch median | ip -batch p99 | ratio median | ratio p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(row("CNI-ADD-like sequence, exec'd (µs)", execOurs, execIP))
    print(row("baseline: exec of /bin/true, same spawner (µs)", execTrue, nil))
    print(row("CNI-ADD-like sequence, in process, socket opened in the netns (µs)", sequenceWithOpen, nil))
    print(row("CNI-ADD-like sequence, in process, socket pre-opened (µs)", sequencePreopened, nil))
    print(row("open a RouteSocket inside a netns (µs)", openSocket, nil))
    print(row("create 200 veth pairs (ms)", createOurs, createIP, unit: 1000))
    print(row("delete 200 veth pairs (ms)", deleteOurs, deleteIP, unit: 1000))
} catch {
    fail("\(error)")
}

extension String {
    /// "51" (hundredths) as "0.51×".
    var ratio: String {
        let hundredths = Int(self) ?? 0
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)×"
    }
}
