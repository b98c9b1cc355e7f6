import Foundation
import NetCore
import Testing

/// Many runtimes calling the plugins at once on one network, as a node starting a burst of pods.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct ConcurrencyTests {
    @Test func fiftyParallelAddsGetDistinctAddressesAndFiftyDeletesLeaveNothing() throws {
        let count = 50
        let dataDir = NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)"
        let config = #"""
            {"cniVersion":"1.1.0","name":"burst","type":"bridge","bridge":"burstbr0","isGateway":true,"ipMasq":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.140.0.0/24"}]]}}
            """#
        let namespaces = try (0..<count).map { try ScratchNamespace("burst\($0)") }
        let paths = namespaces.map(\.path)
        let outputs = parallel(count) { index in
            try? execPlugin("bridge", command: "ADD", containerID: "burst\(index)", netns: paths[index], config: config)
        }
        let addresses = outputs.compactMap { $0?.json?["ips"]?.arrayValue?.first?["address"]?.stringValue }
        #expect(outputs.allSatisfy { $0?.status == 0 }, "\(outputs.filter { $0?.status != 0 }.map { $0?.stdout ?? "no output" })")
        #expect(addresses.count == count)
        #expect(Set(addresses).count == count) // no address handed out twice

        let deletes = parallel(count) { index in
            try? execPlugin("bridge", command: "DEL", containerID: "burst\(index)", netns: paths[index], config: config)
        }
        #expect(deletes.allSatisfy { $0?.status == 0 }, "\(deletes.filter { $0?.status != 0 }.map { $0?.stdout ?? "no output" })")
        let ports = try runCommand(["ip", "-j", "link", "show", "master", "burstbr0"]).text
        #expect(ports.trimmingCharacters(in: .whitespacesAndNewlines) == "[]") // no host veth left
        let leases = try runCommand(["sqlite3", dataDir + "/netctl.db", "SELECT count(*) FROM ipam_leases"]).text
        #expect(leases.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let firewall = try runCommand(["sqlite3", "/var/lib/netctl/netctl.db",
                                       "SELECT count(*) FROM firewall_attachments WHERE network = 'bridge:burst'"]).text
        #expect(firewall.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    /// Runs `body` for 0..<count on as many threads, and returns the results in order.
    func parallel<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        let results = Results<T>(count: count)
        DispatchQueue.concurrentPerform(iterations: count) { index in results.set(index, body(index)) }
        return results.values
    }
}

/// Slots for results written from many threads.
final class Results<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [T?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: T) {
        lock.lock()
        slots[index] = value
        lock.unlock()
    }

    var values: [T] { lock.lock(); defer { lock.unlock() }; return slots.compactMap { $0 } }
}
