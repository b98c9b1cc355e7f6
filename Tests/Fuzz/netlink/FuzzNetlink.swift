#if canImport(Glibc)
import Glibc
#endif
import FuzzSupport
import NetCore
import Netlink

// The netlink library's reading of kernel replies under libFuzzer (`make fuzz`): any bytes as
// the reply to a request or dump (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH for
// neighbours and for forwarding entries, a conntrack dump), through the public calls over a
// fake transport, so the reply collector, the attribute reader and the link (with a vxlan's
// settings), address, route, neighbour, forwarding-entry and flow decoders all see them.
// Errors are fine; a trap or an out-of-bounds read is not.
//
// The input: byte 0 chooses the call; the rest is what the kernel answers, one datagram, or
// several separated by the four bytes "NLSP". Replies match the request when their sequence
// number is 1 (2, 3... for a dump started over) and their port ID is 0x4e4c (`LN` as the
// little-endian bytes 4c 4e 00 00). Built with FUZZING (and -sanitize=fuzzer) main hands over
// to libFuzzer's driver; without, it replays files (`fuzz-netlink FILE...`).

/// The port the canned replies are addressed to.
let replyPort: UInt32 = 0x4E4C
let separator = Array("NLSP".utf8)

/// A kernel that answers every request with the same datagrams, then has nothing more to say.
final class CannedKernel: NetlinkTransport {
    let datagrams: [ArraySlice<UInt8>]
    var pending: ArraySlice<ArraySlice<UInt8>> = []

    init(_ datagrams: [ArraySlice<UInt8>]) { self.datagrams = datagrams }

    var portID: UInt32 { replyPort }

    func send(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(bytes.count >= 16, "a request shorter than its header")
        pending = datagrams[...]
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let datagram = pending.popFirst() else { throw Errno(rawValue: EAGAIN) }
        // As recvmsg does: what does not fit the buffer is cut off.
        let count = min(datagram.count, buffer.count)
        datagram.prefix(count).withUnsafeBytes { buffer.copyMemory(from: $0) }
        return count
    }
}

func split(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
    var datagrams: [ArraySlice<UInt8>] = []
    var start = bytes.startIndex
    var index = start
    while index + separator.count <= bytes.endIndex {
        if bytes[index..<(index + separator.count)].elementsEqual(separator) {
            datagrams.append(bytes[start..<index])
            index += separator.count
            start = index
        } else {
            index += 1
        }
    }
    datagrams.append(bytes[start...])
    return datagrams
}

/// The call's result, or `nil` when it threw; an error must print (its errno and the kernel's message).
func attempt<T>(_ body: () throws -> T) -> T? {
    do {
        return try body()
    } catch {
        _ = String(describing: error)
        return nil
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let datagrams = split(bytes[1...])
    // A socket of its own for each call, over a kernel that answers with the input.
    func route() -> RouteSocket { RouteSocket(transport: CannedKernel(datagrams), firstSequence: 1) }
    func conntrack() -> ConntrackSocket { ConntrackSocket(transport: CannedKernel(datagrams), firstSequence: 1) }
    // New calls go at the end, so the seeds of the earlier ones keep choosing them.
    let calls = 14
    switch Int(bytes[0]) % calls {
    case 0:
        if let links = attempt({ try route().links() }) {
            for link in links {
                _ = (link.isUp, link.hasCarrier, link.isPromiscuous, link.mac?.description, link.kind?.description)
                if let vxlan = link.vxlan {
                    precondition(link.kind == .vxlan, "vxlan settings on a \(link.kind?.description ?? "kindless") link")
                    precondition(vxlan.remote == nil || vxlan.group == nil, "both a remote and a group: \(vxlan)")
                }
            }
        }
    case 1:
        if let found = attempt({ try route().link(named: .eth0) }), let link = found {
            precondition(!link.name.utf8.contains(0), "a link name with a NUL: \(link.name)")
        }
    case 2:
        _ = attempt({ try route().link(index: 7) })
    case 3:
        if let addresses = attempt({ try route().addresses() }) {
            for address in addresses {
                precondition(address.address.prefixLength <= address.address.family.bitWidth)
                _ = (address.isTentative, address.skipsDuplicateDetection, address.address.network)
            }
        }
    case 4:
        if let addresses = attempt({ try route().addresses(of: .index(3), family: .v6) }) {
            precondition(addresses.allSatisfy { $0.interfaceIndex == 3 }, "an address of another link passed the filter")
        }
    case 5, 6:
        let family: IPAddress.Family = bytes[0] % UInt8(calls) == 5 ? .v4 : .v6
        if let routes = attempt({ try route().routes(family: family) }) {
            for entry in routes {
                precondition(entry.table == Route.mainTable, "a route of table \(entry.table) passed the filter")
                _ = (entry.description, entry.isDefault, entry.destination.network)
            }
        }
    case 7, 8:
        let family: IPAddress.Family = bytes[0] % UInt8(calls) == 7 ? .v4 : .v6
        if let flows = attempt({ try conntrack().flows(family: family) }) {
            for flow in flows { _ = flow.description }
        }
    case 9:
        // A dump, then a delete for each flow that matches (each answered with the same bytes).
        let filter = ConntrackFilter(transport: .udp, destinationPorts: 53...53)
        _ = attempt({ try conntrack().deleteFlows(matching: filter) })
    case 10:
        // A request answered by an ACK or an error (with the kernel's extended-ACK message).
        _ = attempt({ try route().setLink(.index(7), up: true) })
    case 11:
        if let neighbours = attempt({ try route().neighbours() }) {
            for neighbour in neighbours { _ = (neighbour.description, neighbour.state.description) }
        }
    case 12:
        if let neighbours = attempt({ try route().neighbours(of: .index(3), family: .v6) }) {
            precondition(neighbours.allSatisfy { $0.device == .index(3) && $0.address.family == .v6 },
                         "a neighbour of another link or family passed the filter")
        }
    default:
        if let entries = attempt({ try route().fdbEntries(of: .index(3)) }) {
            precondition(entries.allSatisfy { $0.device == .index(3) }, "an entry of another device passed the filter")
            for entry in entries { _ = entry.description }
        }
    }
    return 0
}

@main
struct Replay {
    static func main() { FuzzDriver.main(fuzzOne) }
}
