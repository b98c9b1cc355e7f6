// CNI benchmark: our multi-call plugin binary against the reference plugins, side by side in
// one run, exec'd exactly as a runtime does (CNI_* environment, config on stdin, libcni-style
// chaining with prevResult and runtimeConfig.portMappings).
//
//   make bench BENCH=cni   (or: scripts/sandbox.sh .build-static/release/bench-cni [options])
//
// Options: --iterations N (200), --workers W (2), --block B (10), --chains bridge,portmap[,ipam],
// --reference DIR (/usr/lib/cni), --netctl-cni PATH (the netctl-cni beside this binary),
// --growth-span S (20: the first and last S containers of the growth tables),
// --soak R (0: after the tables, R rounds of ADD+DEL of one container, ours only),
// --steps N (instead of the tables: N calls of each chain with our plugins printing the end of
// each phase, and a table of the phases; see Steps.swift), --start-probes N (with --steps: N
// execs of our VERSION and of the floors right after each kind of call; see StartProbes.swift),
// --floor PATH[,PATH] (static binaries to exec beside /bin/true in those probes).
#if canImport(Glibc)
import Glibc
#endif
import Namespaces
import NetCore

func fail(_ message: String) -> Never {
    progress(message)
    exit(1)
}

func option(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let flag = arguments.firstIndex(of: name), flag + 1 < arguments.count else { return nil }
    return arguments[flag + 1]
}

guard getuid() == 0, getenv("NETCTL_SANDBOX") != nil else {
    fail("run inside the sandbox: scripts/sandbox.sh \(CommandLine.arguments[0])")
}
// A plugin may exit before reading its stdin (ours does for VERSION): a failed write must
// not kill the driver.
signal(SIGPIPE, SIG_IGN)
let iterations = option("--iterations").flatMap { Int($0) } ?? 200
let workers = option("--workers").flatMap { Int($0) } ?? 2
let blockSize = option("--block").flatMap { Int($0) } ?? 10
let referenceDirectory = option("--reference") ?? "/usr/lib/cni"
let requestedChains = (option("--chains") ?? "bridge,portmap").split(separator: ",").map(String.init)
let ourBinary = option("--netctl-cni") ?? siblingPath("netctl-cni")
let growthSpan = option("--growth-span").flatMap { Int($0) } ?? 20
let soakRounds = option("--soak").flatMap { Int($0) } ?? 0
let stepsCount = option("--steps").flatMap { Int($0) } ?? 0
let startProbeCount = option("--start-probes").flatMap { Int($0) } ?? 0
let floorBinaries = (option("--floor") ?? "").split(separator: ",").map(String.init)

// Our plugin directory: the one binary linked under each plugin name, as `make install` does.
let ourDirectory = "/run/netctl/bench-cni-plugins"
mkdir("/run/netctl", 0o755)
mkdir(ourDirectory, 0o755)
for name in ["bridge", "host-local", "portmap", "loopback", "macvlan"] {
    unlink("\(ourDirectory)/\(name)")
    guard symlink(ourBinary, "\(ourDirectory)/\(name)") == 0 else { fail("cannot link \(ourBinary) as \(name)") }
}

let ours = Side(label: "ours", pluginDirectory: ourDirectory, subnetOctet: 201, firstHostPort: 20000, dataDirectory: "/var/lib/cni/bench-ours")
let reference = Side(label: "reference", pluginDirectory: referenceDirectory, subnetOctet: 211, firstHostPort: 30000, dataDirectory: "/var/lib/cni/bench-reference")
let sides = [ours, reference]

// MARK: Which chains can run

var chains: [Chain.Kind] = []
for name in requestedChains {
    guard let kind = Chain.Kind(rawValue: name) else { fail("unknown chain \"\(name)\" (bridge, portmap, ipam)") }
    let missing = kind.pluginTypes
    if let plugin = missing.first(where: { version(of: "\(ourDirectory)/\($0)") == nil }) {
        let message = "skipping \(kind.title): our binary does not answer VERSION as `\(plugin)`"
        progress(message)
        print("> \(message); rerun once it does.\n")
        continue
    }
    if let plugin = missing.first(where: { version(of: "\(referenceDirectory)/\($0)") == nil }) {
        fail("the reference `\(plugin)` in \(referenceDirectory) does not answer VERSION")
    }
    chains.append(kind)
}

// MARK: Namespaces

let containerCount = stepsCount > 0 ? stepsCount : iterations
var names: [String: [String]] = [:]
for side in sides {
    names[side.label] = (0..<containerCount).map { "bcni-\(side.label.prefix(1))\($0)" }
}
for name in names.values.joined() {
    do {
        try? NetNamespace.delete(named: name)
        _ = try NetNamespace.create(named: name)
    } catch {
        fail("cannot create namespace \(name): \(error)")
    }
}
let namespaces = names.mapValues { $0.map { "/run/netns/\($0)" } }

// MARK: Phases (--steps)

if stepsCount > 0 {
    var steps = StepsBench(ours: ours, reference: reference, namespaces: namespaces, iterations: stepsCount, blockSize: blockSize)
    // A fork copies the spawner's page tables and the exec drops them again: both grow with it.
    let spawnerAtStart = spawnerMemory()
    do {
        try steps.run(chains)
    } catch {
        fail("steps: \(error)")
    }
    var probes = StartProbes(ours: steps.ours, reference: reference, namespaces: namespaces,
                             count: min(startProbeCount, stepsCount), floors: floorBinaries)
    do {
        try probes.run()
    } catch {
        fail("start probes: \(error)")
    }
    for name in names.values.joined() { try? NetNamespace.delete(named: name) }
    var load = [Double](repeating: 0, count: 3)
    getloadavg(&load, 3)
    print(steps.tables(chains))
    if startProbeCount > 0 { print(probes.table()) }
    print("The spawner (this process): \(spawnerAtStart) at the start, \(spawnerMemory()) at the end.\n")
    print("Load average at the end: \(format(load[0])).")
    exit(0)
}

// MARK: Start-up

let measurements = Measurements()
progress("VERSION start-up: \(iterations) execs per side")
var startup = StartupBench(sides: sides, iterations: iterations, blockSize: blockSize)
let startupTable = startup.run()

// MARK: Chains
let runner = Runner(sides: sides, iterations: iterations, blockSize: blockSize, namespaces: namespaces, measurements: measurements)
let modes = workers > 1 ? [1, workers] : [1]
for kind in chains {
    for mode in modes {
        do {
            try runner.run(kind, workers: mode)
        } catch {
            fail("\(kind.title): \(error)")
        }
    }
}
progress("memory at exit: traced calls")
var memory = MemoryBench(sides: sides, namespaces: namespaces, containers: min(10, iterations))
do {
    try memory.run(chains)
} catch {
    fail("memory at exit: \(error)")
}
var soakTable: String?
if soakRounds > 0, let kind = chains.last, let netns = namespaces["ours"]?.first {
    progress("soak: \(soakRounds) rounds of \(kind.title) ADD+DEL, ours")
    do {
        soakTable = try soak(Chain(kind: kind, side: ours), netns: netns, rounds: soakRounds)
    } catch {
        fail("soak: \(error)")
    }
}
for name in names.values.joined() { try? NetNamespace.delete(named: name) }

// MARK: Tables

let report = Report(measurements: measurements, iterations: iterations, workers: workers)
print(report.header(chains: chains))
for kind in chains {
    print(report.chainTable(kind, modes: modes))
}
for kind in chains { print(report.growthTable(kind, span: growthSpan, ours: ours)) }
if let soakTable { print(soakTable) }
print(startupTable)
print(report.sizeTable(chains: chains, startup: startup))
print(memory.table(chains))
