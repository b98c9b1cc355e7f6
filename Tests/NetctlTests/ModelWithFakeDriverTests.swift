import Drivers
import Foundation
import Namespaces
import NetCore
@testable import NetctlModel
import Synchronization
import Testing

/// A driver that only writes down what it was asked, and refuses attach when told to.
final class RecordingDriver: NetworkDriver {
    let refusesAttach: Bool
    private let journal = Mutex<[String]>([])
    init(refusesAttach: Bool = false) { self.refusesAttach = refusesAttach }

    var calls: [String] { journal.withLock { $0 } }
    var addsInterface: Bool { true }

    func attach(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws -> AttachedInterfaces? {
        journal.withLock { $0.append("attach \(context.id.interface) \(ip.assignments.map(\.address.description).joined(separator: ","))") }
        if refusesAttach { throw NetworkError(code: .system, message: "the fake kernel said no") }
        return nil
    }
    func detach(_ context: AttachmentContext) throws { journal.withLock { $0.append("detach \(context.id.interface)") } }
    func check(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws {}
}

/// A network namespace of its own for the sandbox, without privileges: a child in a new user
/// and network namespace (`unshare -Urn`), its `/proc/PID/ns/net` the sandbox's path.
final class UserNamespaceChild {
    let process = Process()
    var path: String { "/proc/\(process.processIdentifier)/ns/net" }

    init() throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["-Urn", "sleep", "60"]
        try process.run()
        // Until the child has left our namespace (up to 10 s on a busy machine).
        let ours = NetNamespace.Identity.of(path: "/proc/self/ns/net")
        for _ in 0..<2_000 where NetNamespace.Identity.of(path: path) == ours { usleep(5_000) }
        guard NetNamespace.Identity.of(path: path) != ours else {
            stop()
            throw NetworkError(code: .system, message: "unshare -Urn did not leave the test's network namespace")
        }
    }

    /// SIGKILL: the test runner's children inherit its blocked signals, SIGTERM among them.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    static var isAvailable: Bool {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        probe.arguments = ["-Urn", "true"]
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }
}

/// The model's connect, disconnect and gc over a fake driver and a real store: what the model
/// asks of a driver, what it records and leases, and that a failure leaves nothing. No
/// privileges: the network is internal (no default route to read in the sandbox).
@Suite(.enabled(if: UserNamespaceChild.isAvailable, "unprivileged user namespaces are off (unshare -Urn fails)"))
struct ModelWithFakeDriverTests {
    let model: Netctl

    init() throws {
        model = try Netctl(stateDirectory: NSTemporaryDirectory() + "netctl-fake-\(UUID().uuidString)")
        model.launchesResolver = false
        _ = try model.createNetwork({
            var request = NetworkRequest(name: "fake", driver: .bridge)
            request.subnets = [try CIDR(parsing: "10.60.0.0/24")]
            request.isInternal = true
            return request
        }())
    }

    func leases() throws -> Int { try model.allocator().leases(network: Netctl.stateKey("fake")).count }

    @Test func connectLeasesAttachesAndRecordsAndDisconnectUndoesItAll() throws {
        let driver = RecordingDriver()
        model.driverOverride = { $0.name == "fake" ? driver : nil }
        let child = try UserNamespaceChild()
        defer { child.stop() }
        let endpoint = try model.connect(network: "fake", sandbox: child.path)
        #expect(endpoint.interface == "eth0")
        #expect(endpoint.addresses.map(\.description) == ["10.60.0.2/24"])
        #expect(driver.calls == ["attach eth0 10.60.0.2/24"])
        #expect(try leases() == 1)
        #expect(try model.endpoints(network: "fake").map(\.reservedBy) == [nil])

        try model.disconnect(network: "fake", sandbox: endpoint.sandbox)
        #expect(driver.calls == ["attach eth0 10.60.0.2/24", "detach eth0"])
        #expect(try leases() == 0)
        #expect(try model.endpoints(network: "fake").isEmpty)
        try model.disconnect(network: "fake", sandbox: endpoint.sandbox) // twice is fine
        #expect(driver.calls.count == 2)
    }

    @Test func theNamesOfAnEndpointAreRecordedWithItAndGoWithIt() throws {
        model.driverOverride = { $0.name == "fake" ? RecordingDriver() : nil }
        let child = try UserNamespaceChild()
        defer { child.stop() }
        var request = ConnectRequest()
        request.aliases = ["db", "db.internal"]
        let endpoint = try model.connect(network: "fake", sandbox: child.path, request)
        #expect(endpoint.nameservers.map(\.description) == ["10.60.0.1"])
        let records = try model.nameTables.records().map { "\($0.network) \($0.name) \($0.address)" }.sorted()
        #expect(records == ["netctl:fake db 10.60.0.2", "netctl:fake db.internal 10.60.0.2", "netctl:fake \(endpoint.sandbox.lowercased()) 10.60.0.2"].sorted())
        #expect(try model.nameTables.networks().map(\.listen.description) == ["[10.60.0.1]"])
        try model.disconnect(network: "fake", sandbox: endpoint.sandbox)
        #expect(try model.nameTables.records().isEmpty)
        try model.removeNetwork("fake")
        #expect(try model.nameTables.networks().isEmpty)
    }

    @Test func aDriverThatRefusesLeavesNoEndpointAndNoLease() throws {
        let driver = RecordingDriver(refusesAttach: true)
        model.driverOverride = { $0.name == "fake" ? driver : nil }
        let child = try UserNamespaceChild()
        defer { child.stop() }
        let error = #expect(throws: NetworkError.self) { try model.connect(network: "fake", sandbox: child.path) }
        #expect(error?.message.contains("the fake kernel said no") == true)
        #expect(driver.calls == ["attach eth0 10.60.0.2/24"])
        #expect(try leases() == 0)
        #expect(try model.endpoints(network: "fake").isEmpty)
    }

    @Test func gcDisconnectsTheEndpointsOfASandboxWhoseNamespaceIsGone() throws {
        let driver = RecordingDriver()
        model.driverOverride = { $0.name == "fake" ? driver : nil }
        let child = try UserNamespaceChild()
        let endpoint = try model.connect(network: "fake", sandbox: child.path)
        child.stop()
        let report = try model.gc()
        #expect(report.endpoints == ["fake/\(endpoint.sandbox)"], "\(report)")
        #expect(report.sandboxes == [endpoint.sandbox])
        #expect(driver.calls.last == "detach eth0")
        #expect(try leases() == 0)
        #expect(try model.endpoints().isEmpty)
    }
}
