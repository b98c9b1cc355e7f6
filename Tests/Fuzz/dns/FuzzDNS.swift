#if canImport(Glibc)
import Glibc
#endif
import DNS
import FuzzSupport
import NameService
import NetCore

// The resolver's packet path under libFuzzer (`make fuzz`): any bytes a client may send, to
// a network with names. Built with FUZZING (and -sanitize=fuzzer) main hands over to
// libFuzzer's driver; without, it replays files (`fuzz-dns FILE...`), which is how a crash
// the fuzzer found becomes a regression test (corpus/ holds the seeds and those).

let gateway = IPAddress("10.55.0.1") ?? IPAddress(bytes: [10, 55, 0, 1]).orFatal
let client = IPAddress("10.55.0.3") ?? IPAddress(bytes: [10, 55, 0, 3]).orFatal
let zones: NameZones = {
    let records = ["a", "www", "db.internal"].flatMap { name in
        ["10.55.0.2", "fd55::2"].compactMap(IPAddress.init).map { NameRecord(network: "netctl:web", owner: "a/eth0", name: name, address: $0) }
    }
    return NameZones(networks: [NameNetwork(key: "netctl:web", listen: [gateway], subnets: ["10.55.0.0/24", "fd55::/64"].compactMap(CIDR.init))],
                     records: records)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let packet = Array(UnsafeBufferPointer(start: data, count: size))
    var buffer = [UInt8](repeating: 0, count: 65536)
    for udp in [true, false] {
        let outcome = zones.outcome(of: packet, to: gateway, from: client, udp: udp)
        if case .answer(let reply) = outcome {
            // An answer always carries the query's ID and fits what UDP allows.
            precondition(reply.count >= 12 && reply[0] == packet[0] && reply[1] == packet[1])
            precondition(!udp || reply.count <= 65535)
        }
        // The resolver's packet path (the answer written into a buffer) answers alike, byte for byte.
        let written = packet.withUnsafeBytes { raw in
            buffer.withUnsafeMutableBytes { zones.outcome(of: raw, to: gateway, from: client, udp: udp, writingInto: $0) }
        }
        switch (written, outcome) {
        case (.answer(let length), .answer(let reply)): precondition(Array(buffer[..<length]) == reply)
        case (.forward, .forward), (.drop, .drop): break
        default: preconditionFailure("the packet path: \(written), the full reader: \(outcome)")
        }
    }
    return 0
}

extension Optional {
    var orFatal: Wrapped {
        guard let self else { fatalError("a constant address failed to parse") }
        return self
    }
}

@main
struct Replay {
    static func main() { FuzzDriver.main(fuzzOne) }
}
