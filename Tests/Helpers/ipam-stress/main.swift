// Drives IPAM from one process so tests can run many at once.
//
//   ipam-stress churn DIR NETWORK SUBNET START END WORKER ITERATIONS MARKERDIR
//     Allocates ITERATIONS leases for container "wWORKER" (interfaces e0, e1, ...), holding at
//     most two at a time. After each allocation it creates MARKERDIR/ADDRESS with O_EXCL and
//     removes it before releasing: if that file already exists, another process holds the same
//     address right now, so it prints "DUPLICATE ADDRESS" and exits 3. At the end it prints
//     "HELD ADDRESS CONTAINER INTERFACE" for each lease it keeps and "EXHAUSTED N".
//   ipam-stress crash DIR NETWORK SUBNET START END WORKER
//     Allocates and releases forever, until killed.
//   ipam-stress cycles DIR NETWORK SUBNET START END WORKER COUNT
//     COUNT allocate+release cycles for container "wWORKER", then exits: one short-lived
//     process, as a CNI plugin is.
//   ipam-stress checkpoint DIR ROWS
//     Commits ROWS transactions of one 4 KiB row each to DIR/checkpoint.db without letting
//     the WAL be checkpointed, prints "CHECKPOINT", checkpoints, prints "DONE MICROSECONDS".
import IPAM
import NetCore
import Store

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func fail(_ message: String) -> Never {
    let line = Array("ipam-stress: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
}

/// Writes `text` to stdout at once: the test reads it while this process runs.
func say(_ text: String) {
    let line = Array("\(text)\n".utf8)
    _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

let arguments = CommandLine.arguments
if arguments.count == 4, arguments[1] == "checkpoint", let rows = Int(arguments[3]) {
    do {
        let database = try Database(path: arguments[2] + "/checkpoint.db", walCheckpointFrames: .max)
        try database.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        let insert = try database.statement("INSERT INTO rows (body) VALUES (randomblob(4000))")
        for _ in 0..<rows { try database.immediateTransaction { try insert.run() } }
        say("CHECKPOINT")
        let clock = ContinuousClock()
        let start = clock.now
        guard database.checkpoint() else { fail("the checkpoint did not finish") }
        let elapsed = clock.now - start
        say("DONE \(elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)")
        exit(0)
    } catch {
        fail("\(error)")
    }
}
guard arguments.count >= 8 else { fail("usage: ipam-stress churn|crash DIR NETWORK SUBNET START END WORKER ...") }
let (mode, directory, network) = (arguments[1], arguments[2], arguments[3])
let worker = arguments[7]

do {
    let range = try AddressRange(
        subnet: CIDR(parsing: arguments[4], field: "subnet"),
        start: IPAddress(parsing: arguments[5], field: "start"), end: IPAddress(parsing: arguments[6], field: "end"))
    let rangeSets = [RangeSet(range)]
    let allocator = try AddressAllocator(store: StateStore(directory: directory, schema: [AddressAllocator.schema]))
    func key(_ index: Int) throws -> LeaseKey {
        try LeaseKey(network: network, containerID: "w\(worker)", interface: InterfaceName("e\(index)"))
    }

    switch mode {
    case "churn":
        guard arguments.count >= 10, let iterations = Int(arguments[8]) else { fail("churn needs ITERATIONS MARKERDIR") }
        let markers = arguments[9]
        var held: [(key: LeaseKey, address: String)] = []
        var exhausted = 0
        func releaseOldest() throws {
            let oldest = held.removeFirst()
            unlink("\(markers)/\(oldest.address)")
            try allocator.release(key: oldest.key)
        }
        for index in 0..<iterations {
            do {
                let lease = try allocator.allocate(key: key(index), rangeSets: rangeSets)[0]
                let address = lease.address.address.description
                let marker = open("\(markers)/\(address)", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
                if marker < 0 {
                    print("DUPLICATE \(address)")
                    exit(3)
                }
                close(marker)
                held.append((lease.key, address))
                if held.count > 2 { try releaseOldest() }
            } catch let error as NetworkError where error.code == .exhausted {
                exhausted += 1
                if !held.isEmpty { try releaseOldest() }
            }
        }
        for lease in held { print("HELD \(lease.address) \(lease.key.containerID) \(lease.key.interface)") }
        print("EXHAUSTED \(exhausted)")
    case "cycles":
        guard arguments.count >= 9, let count = Int(arguments[8]) else { fail("cycles needs COUNT") }
        for index in 0..<count {
            _ = try allocator.allocate(key: key(index), rangeSets: rangeSets)
            try allocator.release(key: key(index))
        }
    case "crash":
        var index = 0
        while true {
            index += 1
            let current = try key(index % 4)
            do {
                _ = try allocator.allocate(key: current, rangeSets: rangeSets)
            } catch let error as NetworkError where error.code == .exhausted {
                try allocator.release(key: key((index + 1) % 4))
            }
            if Bool.random() { try allocator.release(key: current) }
        }
    default:
        fail("unknown mode \(mode)")
    }
} catch {
    fail("\(error)")
}
