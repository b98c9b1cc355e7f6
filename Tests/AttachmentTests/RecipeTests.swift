import Attachment
import Drivers
import NetCore
import Synchronization
import Testing

/// What happened, in order, across the recipe's steps; a step fails when its name is `failing`.
final class Journal: Sendable {
    let failing: String?
    private let entries = Mutex<[String]>([])
    init(failing: String?) { self.failing = failing }

    var log: [String] { entries.withLock { $0 } }

    func record(_ entry: String) throws {
        entries.withLock { $0.append(entry) }
        if entry == failing { throw NetworkError(code: .system, message: "\(entry) refused") }
    }
}

struct FakeLeasing: AddressLeasing {
    let journal: Journal
    func lease() throws -> IPConfiguration {
        try journal.record("lease")
        return IPConfiguration(assignments: [.init(address: try CIDR(parsing: "10.6.0.2/24"))])
    }
    func release() throws { try journal.record("release") }
}

struct FakeDriver: NetworkDriver {
    let journal: Journal
    var addsInterface: Bool { true }
    func attach(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws -> AttachedInterfaces? {
        try journal.record("attach")
        return nil
    }
    func detach(_ context: AttachmentContext) throws { try journal.record("detach") }
    func check(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws { try journal.record("check") }
}

struct FakePublishing: AttachmentPublishing {
    let journal: Journal
    let name: String
    func publish(_ attached: AttachedInterfaces?, ip: IPConfiguration) throws { try journal.record("publish \(name)") }
    func unpublish() throws { try journal.record("unpublish \(name)") }
}

struct RecipeTests {
    func recipe(_ journal: Journal) -> AttachmentRecipe {
        AttachmentRecipe(driver: FakeDriver(journal: journal), addresses: FakeLeasing(journal: journal),
                         publishing: [FakePublishing(journal: journal, name: "ports"), FakePublishing(journal: journal, name: "guard")]) { ip, _ in
            try journal.record("prepare")
            ip.addDefaultRoutes(besides: [])
        }
    }

    func context() throws -> AttachmentContext {
        AttachmentContext(id: AttachmentID(network: "n", containerID: "c", interface: try InterfaceName("eth0")), namespace: nil)
    }

    @Test func attachRunsLeaseDriverPublishingInOrderAndDetachIsTheMirror() throws {
        let journal = Journal(failing: nil)
        let attached = try recipe(journal).attach(context())
        #expect(attached.ip.assignments.map(\.address.description) == ["10.6.0.2/24"])
        #expect(journal.log == ["lease", "prepare", "attach", "publish ports", "publish guard"])
        let failures = recipe(journal).detach(try context())
        #expect(failures.isEmpty)
        #expect(journal.log.suffix(4) == ["unpublish guard", "unpublish ports", "detach", "release"])
    }

    /// A failure at any step undoes exactly the steps before it, in reverse, and nothing else.
    @Test(arguments: ["lease", "prepare", "attach", "publish ports", "publish guard"])
    func aFailureAtAnyStepUndoesTheStepsBeforeItInReverse(failing: String) throws {
        let journal = Journal(failing: failing)
        #expect(throws: NetworkError.self) { try recipe(journal).attach(context()) }
        let done = ["lease", "prepare", "attach", "publish ports", "publish guard"]
        let position = try #require(done.firstIndex(of: failing))
        let undo: [String: String] = ["lease": "release", "attach": "detach", "publish ports": "unpublish ports", "publish guard": "unpublish guard"]
        let expected = Array(done[...position]) + done[..<position].reversed().compactMap { undo[$0] }
        #expect(journal.log == expected, "failing at \(failing)")
    }

    /// Teardown goes on past a step that fails and reports every failure.
    @Test func detachTriesEveryStepAndReportsAllFailures() throws {
        let journal = Journal(failing: "detach")
        let failures = recipe(journal).detach(try context())
        #expect(journal.log == ["unpublish guard", "unpublish ports", "detach", "release"])
        #expect(failures.map(\.name) == ["remove the interface"])
    }
}
