import Foundation
import NetCore
import Testing

/// Many runtimes calling the plugins at once on one network, as a node starting a burst of pods.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct ConcurrencyTests {
    /// All 50 plugin processes are started before any is waited for, so they really run at
    /// once (a thread pool would run about as many as there are cores).
    @Test func fiftyParallelAddsGetDistinctAddressesAndFiftyDeletesLeaveNothing() throws {
        let count = 50
        let dataDir = NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)"
        let config = #"""
            {"cniVersion":"1.1.0","name":"burst","type":"bridge","bridge":"burstbr0","isGateway":true,"ipMasq":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.140.0.0/24"}]]}}
            """#
        let namespaces = try (0..<count).map { try ScratchNamespace("burst\($0)") }
        let adding = try namespaces.enumerated().map { index, namespace in
            try startPlugin("bridge", command: "ADD", containerID: "burst\(index)", netns: namespace.path, config: config)
        }
        let outputs = adding.map { $0.wait() }
        let addresses = outputs.compactMap { $0.json?["ips"]?.arrayValue?.first?["address"]?.stringValue }
        #expect(outputs.allSatisfy { $0.status == 0 }, "\(outputs.filter { $0.status != 0 }.map(\.stdout))")
        #expect(addresses.count == count)
        #expect(Set(addresses).count == count, "\(addresses.sorted())") // no address handed out twice
        #expect(try leaseHolders(in: dataDir, network: "burst").count == count)
        let table = try nftTable() ?? ""
        #expect(table.contains("burstbr0") && table.contains("10.140.0.0"))

        let deleting = try namespaces.enumerated().map { index, namespace in
            try startPlugin("bridge", command: "DEL", containerID: "burst\(index)", netns: namespace.path, config: config)
        }
        let deletes = deleting.map { $0.wait() }
        #expect(deletes.allSatisfy { $0.status == 0 }, "\(deletes.filter { $0.status != 0 }.map(\.stdout))")
        #expect(try leaseHolders(in: dataDir, network: "burst").isEmpty)
        let ports = try runCommand(["ip", "-j", "link", "show", "master", "burstbr0"]).text
        #expect(ports.trimmingCharacters(in: .whitespacesAndNewlines) == "[]") // no host veth left
        let vethAliases = try runCommand(["ip", "-j", "-d", "link", "show", "type", "veth"]).text
        #expect(!vethAliases.contains("netctl:burst/"))
        let firewall = try runCommand(["sqlite3", "-cmd", ".timeout 10000", "/var/lib/netctl/netctl.db",
                                       "SELECT count(*) FROM firewall_attachments WHERE network = 'bridge:burst'"]).text
        #expect(firewall.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        // No element of the network is left in the shared table (its bridge, subnet, chain).
        let after = try nftTable() ?? ""
        #expect(!after.contains("burstbr0") && !after.contains("10.140.0."), "\(after)")
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
