import Glibc
import Namespaces
import NetCore
import Testing

private struct BodyFailed: Error, Equatable {
    let code: Int
}

/// Tests that create and enter namespaces: root inside the `make test` sandbox only.
@Suite
struct NamespaceLifecycleTests {
    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func createMakesANewNamespaceVisibleUnderRunNetns() throws {
        let name = uniqueNamespaceName("create")
        let namespace = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }

        #expect(namespace.path == "/run/netns/\(name)")
        #expect(exists("/run/netns/\(name)"))
        #expect(namespace.identity != (try NetNamespace.current()).identity)
        #expect(try NetNamespace.open(path: "/run/netns/\(name)").identity == namespace.identity)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func twoCreatedNamespacesAreDistinct() throws {
        let first = uniqueNamespaceName("one")
        let second = uniqueNamespaceName("two")
        let a = try NetNamespace.create(named: first)
        defer { try? NetNamespace.delete(named: first) }
        let b = try NetNamespace.create(named: second)
        defer { try? NetNamespace.delete(named: second) }
        #expect(a.identity != b.identity)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func creatingTheSameNameTwiceThrowsAlreadyExists() throws {
        let name = uniqueNamespaceName("twice")
        let namespace = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }

        let error = #expect(throws: NetworkError.self) { try NetNamespace.create(named: name) }
        #expect(error?.code == .alreadyExists)
        #expect(error?.message.contains("\"\(name)\"") == true)
        #expect(error.map { Errno.fileExists ~= $0 } == true)
        // The failed attempt left the first one alone.
        #expect(try NetNamespace.open(path: namespace.path).identity == namespace.identity)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func deleteRemovesTheNameAndIsIdempotent() throws {
        let name = uniqueNamespaceName("delete")
        let path = try NetNamespace.path(named: name)
        _ = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }

        try NetNamespace.delete(named: name)
        #expect(!exists(path))
        let error = #expect(throws: NetworkError.self) { try NetNamespace.open(path: path) }
        #expect(error?.code == .notFound)
        try NetNamespace.delete(named: name)
        try NetNamespace.delete(path: path)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func deletingANameNeverCreatedSucceeds() throws {
        try NetNamespace.delete(named: uniqueNamespaceName("never"))
        try NetNamespace.delete(path: "/run/netns/\(uniqueNamespaceName("never"))")
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func nameCanBeReusedAfterDelete() throws {
        let name = uniqueNamespaceName("reuse")
        let first = try NetNamespace.create(named: name)
        try NetNamespace.delete(named: name)
        let second = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }
        #expect(first.identity != second.identity)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func aDeletedNamespaceLivesOnWhileItIsHeldOpen() throws {
        let name = uniqueNamespaceName("held")
        let namespace = try NetNamespace.create(named: name)
        try NetNamespace.delete(named: name)
        #expect(try namespace.run { try NetNamespace.current().identity } == namespace.identity)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func badNamesAreRefusedBeforeAnythingIsTouched() {
        for name in ["", ".", "..", "../x", "a/b"] {
            let created = #expect(throws: NetworkError.self) { try NetNamespace.create(named: name) }
            #expect(created?.code == .invalidArgument)
            let deleted = #expect(throws: NetworkError.self) { try NetNamespace.delete(named: name) }
            #expect(deleted?.code == .invalidArgument)
        }
    }

    // Deliberately synchronous: the whole test stays on one thread, so "the calling thread"
    // is well defined.
    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func runExecutesInsideTheNamespaceAndLeavesTheCallerWhereItWas() throws {
        let name = uniqueNamespaceName("run")
        let namespace = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }

        let before = try NetNamespace.current().identity
        let inside = try namespace.run { try NetNamespace.current().identity }
        let after = try NetNamespace.current().identity

        #expect(inside == namespace.identity)
        #expect(inside != before)
        #expect(after == before)
        #expect(after == (try NetNamespace.of(pid: getpid())).identity)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func runUsesAThreadOfItsOwn() throws {
        let name = uniqueNamespaceName("thread")
        let namespace = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }
        let caller = pthread_self()
        let worker = try namespace.run { pthread_self() }
        #expect(pthread_equal(caller, worker) == 0)
    }

    /// No thread of its own: the calling thread goes in, and comes back to `home` whether the
    /// body returns or throws.
    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func runOnCallingThreadSwitchesThisThreadAndBack() throws {
        let name = uniqueNamespaceName("here")
        let namespace = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }
        let home = try NetNamespace.current()
        let caller = pthread_self()

        let (thread, inside) = try namespace.runOnCallingThread(returningTo: home) { (pthread_self(), try NetNamespace.current().identity) }
        #expect(pthread_equal(thread, caller) != 0)
        #expect(inside == namespace.identity)
        #expect(try NetNamespace.current().identity == home.identity)

        #expect(throws: BodyFailed(code: 3)) {
            try namespace.runOnCallingThread(returningTo: home) { () throws -> Int in throw BodyFailed(code: 3) }
        }
        #expect(try NetNamespace.current().identity == home.identity)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func runRethrowsTheBodysError() throws {
        let name = uniqueNamespaceName("throw")
        let namespace = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }

        #expect(throws: BodyFailed(code: 7)) {
            try namespace.run { () throws -> Int in throw BodyFailed(code: 7) }
        }
        // The namespace is still usable afterwards.
        #expect(try namespace.run { "ok" } == "ok")
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func namespaceSwitchesNeverLeakIntoOtherThreads() async throws {
        let original = try NetNamespace.of(pid: getpid()).identity
        let first = uniqueNamespaceName("leak-a")
        let second = uniqueNamespaceName("leak-b")
        let a = try NetNamespace.create(named: first)
        defer { try? NetNamespace.delete(named: first) }
        let b = try NetNamespace.create(named: second)
        defer { try? NetNamespace.delete(named: second) }
        #expect(Set([original, a.identity, b.identity]).count == 3)

        for round in 0..<5 {
            let mismatches = try await withThrowingTaskGroup(
                of: (task: Int, expected: NetNamespace.Identity, actual: NetNamespace.Identity).self
            ) { group in
                for task in 0..<64 {
                    group.addTask {
                        switch task % 4 {
                        case 0: (task, a.identity, try a.run { try NetNamespace.current().identity })
                        case 2: (task, b.identity, try b.run { try NetNamespace.current().identity })
                        default: (task, original, try NetNamespace.current().identity)
                        }
                    }
                }
                var mismatches: [String] = []
                for try await result in group where result.actual != result.expected {
                    mismatches.append("task \(result.task): expected \(result.expected), got \(result.actual)")
                }
                return mismatches
            }
            #expect(mismatches.isEmpty, "round \(round): \(mismatches)")
        }
        #expect(try NetNamespace.of(pid: getpid()).identity == original)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func sysctlsAreWrittenAndReadInsideTheNamespaceOnly() throws {
        let key = "net.ipv4.ip_forward"
        // Only ever read here: never write a sysctl outside a namespace this test created.
        let original = try NetNamespace.of(pid: getpid())
        let before = try original.readSysctl(key)

        let name = uniqueNamespaceName("sysctl")
        let namespace = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }

        try namespace.writeSysctl(key, "1")
        #expect(try namespace.readSysctl(key) == "1")
        #expect(try namespace.readSysctl("net/ipv4/ip_forward") == "1")
        #expect(try original.readSysctl(key) == before)

        try namespace.writeSysctl("net/ipv4/ip_forward", "0")
        #expect(try namespace.readSysctl(key) == "0")
        #expect(try original.readSysctl(key) == before)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func missingSysctlKeysThrowNotFoundNamingTheKey() throws {
        let name = uniqueNamespaceName("nokey")
        let namespace = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }

        let key = "net.ipv4.no_such_sysctl"
        let written = #expect(throws: NetworkError.self) { try namespace.writeSysctl(key, "1") }
        #expect(written?.code == .notFound)
        #expect(written?.message.contains("\"\(key)\"") == true)
        #expect(written?.errno == .noSuchFileOrDirectory)

        let read = #expect(throws: NetworkError.self) { try namespace.readSysctl(key) }
        #expect(read?.code == .notFound)
        #expect(read?.message.contains("\"\(key)\"") == true)
    }

    @Test(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
    func badSysctlKeysAreRefusedBeforeWriting() throws {
        let name = uniqueNamespaceName("badkey")
        let namespace = try NetNamespace.create(named: name)
        defer { try? NetNamespace.delete(named: name) }
        for key in ["net/../kernel/hostname", "..", "", "net..ipv4"] {
            let error = #expect(throws: NetworkError.self) { try namespace.writeSysctl(key, "x") }
            #expect(error?.code == .invalidArgument)
        }
    }
}
