@testable import Cluster
import NetCore
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Against a real etcd 3.4 that each test starts on a unix socket of its own (or on 127.0.0.1 with
/// TLS: run them in the sandbox, `scripts/sandbox.sh swift test --skip-build --filter ClusterTests`).
final class EtcdClientTests: XCTestCase {
    private func withEtcd(_ body: (EtcdProcess, EtcdClient) async throws -> Void) async throws {
        try skipUnlessEtcd()
        let etcd = try EtcdProcess()
        defer { etcd.stop() }
        let client = try await etcd.client()
        do {
            try await body(etcd, client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func testPutRangePrefixAndDelete() async throws {
        try await withEtcd { _, client in
            let first = try await client.put("/t/a", "1")
            XCTAssertGreaterThan(first, 1)
            try await client.put("/t/b", "2")
            try await client.put("/u/x", "elsewhere")
            let text = "é \"quoted\"\nline\t{}"
            try await client.put("/t/é", text)

            let one = try await client.range("/t/a")
            XCTAssertEqual(one.kvs, [EtcdKeyValue(key: "/t/a", value: "1", createRevision: first, modRevision: first, version: 1, lease: 0)])
            XCTAssertEqual(one.revision, first + 3)

            let second = try await client.put("/t/a", "1b")
            let updated = try await client.range("/t/a")
            XCTAssertEqual(updated.kvs.first?.version, 2)
            XCTAssertEqual(updated.kvs.first?.createRevision, first)
            XCTAssertEqual(updated.kvs.first?.modRevision, second)

            let prefix = try await client.range("/t/", prefix: true)
            XCTAssertEqual(prefix.kvs.map(\.key), ["/t/a", "/t/b", "/t/é"])
            XCTAssertEqual(prefix.kvs.map(\.value), ["1b", "2", text])
            XCTAssertEqual(prefix.revision, second)

            let absent = try await client.range("/t/absent")
            XCTAssertEqual(absent.kvs, [])
            XCTAssertEqual(absent.revision, second)

            let deletedOne = try await client.delete("/t/a")
            XCTAssertEqual(deletedOne, 1)
            let deletedRest = try await client.delete("/t/", prefix: true)
            XCTAssertEqual(deletedRest, 2)
            let deletedNone = try await client.delete("/t/a")
            XCTAssertEqual(deletedNone, 0)
            let emptied = try await client.range("/t/", prefix: true)
            XCTAssertEqual(emptied.kvs, [])
            let elsewhere = try await client.range("/u/x")
            XCTAssertEqual(elsewhere.kvs.map(\.value), ["elsewhere"])
        }
    }

    func testCreateCASBothOutcomes() async throws {
        try await withEtcd { _, client in
            let created = try await client.create("/cas/k", "first", lease: nil)
            XCTAssertTrue(created.created)
            XCTAssertNil(created.current)

            let lost = try await client.create("/cas/k", "second", lease: nil)
            XCTAssertFalse(lost.created)
            XCTAssertEqual(lost.current?.key, "/cas/k")
            XCTAssertEqual(lost.current?.value, "first")
            XCTAssertEqual(lost.current?.version, 1)
            let unchanged = try await client.range("/cas/k")
            XCTAssertEqual(unchanged.kvs.map(\.value), ["first"])

            let lease = try await client.grantLease(ttl: 30)
            let leased = try await client.create("/cas/leased", "mine", lease: lease.id)
            XCTAssertTrue(leased.created)
            let holder = try await client.create("/cas/leased", "theirs", lease: nil)
            XCTAssertEqual(holder.current?.lease, lease.id)
            XCTAssertEqual(holder.current?.value, "mine")
        }
    }

    func testTxnWithModRevisionCompare() async throws {
        try await withEtcd { _, client in
            let revision = try await client.put("/txn/k", "v1")
            let won = try await client.txn([.modRevisionEquals(key: "/txn/k", revision)],
                                           success: [.put(key: "/txn/k", value: "v2", lease: nil), .range(key: "/txn/k", prefix: false)],
                                           failure: [.range(key: "/txn/k", prefix: false)])
            XCTAssertTrue(won.succeeded)
            XCTAssertEqual(won.revision, revision + 1)
            XCTAssertEqual(won.ranges.map { $0.map(\.value) }, [["v2"]])

            // The same compare again is stale: the failure branch shows the current value.
            let stale = try await client.txn([.modRevisionEquals(key: "/txn/k", revision)],
                                             success: [.put(key: "/txn/k", value: "v3", lease: nil)],
                                             failure: [.range(key: "/txn/k", prefix: false), .range(key: "/txn/", prefix: true)])
            XCTAssertFalse(stale.succeeded)
            XCTAssertEqual(stale.revision, revision + 1)
            XCTAssertEqual(stale.ranges.map { $0.map(\.value) }, [["v2"], ["v2"]])

            let cleared = try await client.txn([.valueEquals(key: "/txn/k", "v2"), .leaseEquals(key: "/txn/k", 0), .versionEquals(key: "/txn/k", 2)],
                                               success: [.delete(key: "/txn/", prefix: true)], failure: [])
            XCTAssertTrue(cleared.succeeded)
            XCTAssertEqual(cleared.ranges.count, 0)
            let gone = try await client.range("/txn/k")
            XCTAssertEqual(gone.kvs, [])
        }
    }

    func testLeaseGrantKeepAliveTimeToLiveRevoke() async throws {
        try await withEtcd { _, client in
            let lease = try await client.grantLease(ttl: 10)
            XCTAssertNotEqual(lease.id, 0)
            XCTAssertEqual(lease.ttl, 10)
            try await client.put("/lease/k", "v", lease: lease.id)
            let leased = try await client.range("/lease/k")
            XCTAssertEqual(leased.kvs.first?.lease, lease.id)

            let remaining = try await client.timeToLive(lease.id)
            XCTAssertNotNil(remaining)
            XCTAssertTrue((1...10).contains(remaining ?? 0), "\(String(describing: remaining))")
            let renewed = try await client.keepAlive(lease.id)
            XCTAssertEqual(renewed, 10)

            try await client.revoke(lease.id)
            let afterRevoke = try await client.timeToLive(lease.id)
            XCTAssertNil(afterRevoke)
            let keys = try await client.range("/lease/k")
            XCTAssertEqual(keys.kvs, [], "a revoke deletes the lease's keys")
            try await client.revoke(lease.id)  // gone already: no error

            await assertLeaseNotFound(lease.id) { _ = try await client.keepAlive(lease.id) }
            await assertLeaseNotFound(lease.id) { try await client.put("/lease/k", "again", lease: lease.id) }
            await assertLeaseNotFound(lease.id) { _ = try await client.create("/lease/new", "v", lease: lease.id) }

            let short = try await client.grantLease(ttl: 1)
            XCTAssertEqual(short.ttl, 2, "etcd's minimum TTL")
        }
    }

    func testKeyOnAnExpiredLeaseDisappears() async throws {
        try await withEtcd { _, client in
            let lease = try await client.grantLease(ttl: 2)
            try await client.put("/expiry/k", "v", lease: lease.id)
            let deadline = ContinuousClock.now + .seconds(10)
            while try await !client.range("/expiry/k").kvs.isEmpty {
                XCTAssertLessThan(ContinuousClock.now, deadline, "the key outlived its 2 s lease by 8 s")
                guard ContinuousClock.now < deadline else { return }
                try await Task.sleep(for: .milliseconds(200))
            }
            let remaining = try await client.timeToLive(lease.id)
            XCTAssertNil(remaining)
            await assertLeaseNotFound(lease.id) { _ = try await client.keepAlive(lease.id) }
        }
    }

    func testWatchSeesPutsDeletesAndALeaseExpiry() async throws {
        try await withEtcd { _, client in
            let start = try await client.range("/w/", prefix: true).revision
            let lease = try await client.grantLease(ttl: 2)
            let stream = client.watch(prefix: "/w/", fromRevision: start + 1)
            try await client.put("/w/a", "1")
            try await client.put("/other", "not watched")
            try await client.put("/w/a", "2")
            let deleted = try await client.delete("/w/a")
            XCTAssertEqual(deleted, 1)
            let deleteRevision = try await client.range("/w/").revision
            try await client.put("/w/l", "leased", lease: lease.id)

            // The lease expires about 2 s later: its key goes as a DELETE with its last value.
            let events = try await collectEvents(stream, count: 5, timeout: .seconds(15))
            XCTAssertEqual(events.map(\.kind), [.put, .put, .delete, .put, .delete])
            XCTAssertEqual(events.map(\.kv.key), ["/w/a", "/w/a", "/w/a", "/w/l", "/w/l"])
            XCTAssertEqual(events[0].kv.value, "1")
            XCTAssertNil(events[0].previous)
            XCTAssertEqual(events[1].previous?.value, "1")
            XCTAssertEqual(events[2].kv.value, "")
            XCTAssertEqual(events[2].kv.modRevision, deleteRevision)
            XCTAssertEqual(events[2].previous?.value, "2")
            XCTAssertEqual(events[3].kv.lease, lease.id)
            XCTAssertEqual(events[4].previous?.value, "leased")
            XCTAssertEqual(events[4].previous?.lease, lease.id)
        }
    }

    func testWatchFromACompactedRevisionYieldsCompacted() async throws {
        try await withEtcd { _, client in
            var last: Int64 = 0
            for value in 1...5 { last = try await client.put("/c/k", "\(value)") }
            try await client.compact(last)

            let reader = WatchReader(client.watch(prefix: "/c/", fromRevision: 2))
            let first = try await reader.next(timeout: .seconds(10))
            guard case .compacted(let compactRevision)? = first else { return XCTFail("\(String(describing: first))") }
            XCTAssertEqual(compactRevision, last)
            let after = try await reader.next(timeout: .seconds(10))
            XCTAssertNil(after, "the stream ends after .compacted")

            // Re-listed and watched from the listed revision + 1, nothing is missed.
            let listed = try await client.range("/c/", prefix: true)
            let stream = client.watch(prefix: "/c/", fromRevision: listed.revision + 1)
            try await client.put("/c/k", "6")
            let events = try await collectEvents(stream, count: 1, timeout: .seconds(10))
            XCTAssertEqual(events.first?.kv.value, "6")
            XCTAssertEqual(events.first?.previous?.value, "5")
        }
    }

    func testWatchThrowsWhenEtcdIsKilled() async throws {
        try await withEtcd { etcd, client in
            let start = try await client.range("/k/").revision
            let reader = WatchReader(client.watch(prefix: "/k/", fromRevision: start + 1))
            try await client.put("/k/a", "1")
            let first = try await reader.next(timeout: .seconds(10))
            guard case .events(_, let events)? = first else { return XCTFail("\(String(describing: first))") }
            XCTAssertEqual(events.map(\.kv.key), ["/k/a"])

            etcd.kill()
            do {
                let message = try await reader.next(timeout: .seconds(10))
                XCTFail("the watch went on after etcd was killed: \(String(describing: message))")
            } catch EtcdError.unavailable(let message) {
                XCTAssertTrue(message.contains(etcd.endpoint), message)
            }
            do {
                _ = try await client.range("/k/")
                XCTFail("a range answered with etcd killed")
            } catch EtcdError.unavailable {}
        }
    }

    /// What an agent does when etcd restarts: calls fail meanwhile, then the same client goes on,
    /// and a watch resumed from the last revision seen + 1 misses nothing.
    func testTheSameClientGoesOnAfterEtcdRestarts() async throws {
        try await withEtcd { etcd, client in
            let lease = try await client.grantLease(ttl: 30)
            let seen = try await client.put("/r/a", "1", lease: lease.id)
            etcd.kill()
            do {
                _ = try await client.put("/r/b", "lost")
                XCTFail("a put answered with etcd killed")
            } catch EtcdError.unavailable {}
            try etcd.restart()
            try await etcd.waitUntilReady(client)
            try await client.put("/r/b", "2")
            let renewed = try await client.keepAlive(lease.id)
            XCTAssertEqual(renewed, 30)
            let events = try await collectEvents(client.watch(prefix: "/r/", fromRevision: seen + 1), count: 1, timeout: .seconds(10))
            XCTAssertEqual(events.map(\.kv.key), ["/r/b"])
            let keys = try await client.range("/r/", prefix: true)
            XCTAssertEqual(keys.kvs.map(\.value), ["1", "2"])
        }
    }

    func testFailoverPastDeadEndpoints() async throws {
        try skipUnlessEtcd()
        let etcd = try EtcdProcess()
        defer { etcd.stop() }
        let deadSocket = "unix://\(etcd.directory)/absent.sock:0"
        let refusedPort = "http://127.0.0.1:\(try freeTCPPort())"
        let client = try await etcd.client(before: [deadSocket, refusedPort])
        do {
            XCTAssertEqual(client.preferredEndpoint, etcd.endpoint, "the endpoint that answered is remembered")
            // A put (not idempotent) moves on too: a refused connection sent nothing.
            let revision = try await client.put("/f/k", "v")
            let range = try await client.range("/f/k")
            XCTAssertEqual(range.kvs.first?.modRevision, revision)
            let created = try await client.create("/f/new", "v", lease: nil)
            XCTAssertTrue(created.created)
            let stream = client.watch(prefix: "/f/", fromRevision: revision)
            let events = try await collectEvents(stream, count: 2, timeout: .seconds(10))
            XCTAssertEqual(events.map(\.kv.key), ["/f/k", "/f/new"])
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }

        // Nothing answers: one error naming every endpoint, at once rather than after retries.
        let dead = try EtcdClient(EtcdConfiguration(endpoints: [deadSocket, refusedPort]))
        let begin = ContinuousClock.now
        do {
            _ = try await dead.put("/f/k", "v")
            XCTFail("a put answered with no etcd")
        } catch EtcdError.unavailable(let message) {
            XCTAssertTrue(message.contains(deadSocket) && message.contains(refusedPort), message)
        }
        XCTAssertLessThan(ContinuousClock.now - begin, .seconds(2))
        let reader = WatchReader(dead.watch(prefix: "/f/", fromRevision: 1))
        do {
            _ = try await reader.next(timeout: .seconds(5))
            XCTFail("a watch started with no etcd")
        } catch EtcdError.unavailable {}
        try await dead.shutdown()
        do {
            _ = try await dead.range("/f/k")
            XCTFail("a shut-down client answered")
        } catch EtcdError.unavailable(let message) {
            XCTAssertTrue(message.contains("shut down"), message)
        }
    }

    func testShutdownEndsARunningWatch() async throws {
        try await withEtcd { _, client in
            let start = try await client.range("/s/").revision
            let reader = WatchReader(client.watch(prefix: "/s/", fromRevision: start + 1))
            try await client.put("/s/a", "1")
            _ = try await reader.next(timeout: .seconds(10))
            try await client.shutdown()
            do {
                let message = try await reader.next(timeout: .seconds(10))
                XCTFail("the watch went on after shutdown: \(String(describing: message))")
            } catch EtcdError.unavailable {}
        }
    }

    /// More watches than a host's pool of connections for calls, and calls at once: the watches hold
    /// connections of their own, so the calls never wait behind them.
    func testManyWatchesAndConcurrentCalls() async throws {
        try await withEtcd { _, client in
            let start = try await client.range("/m/").revision
            let streams = (0..<12).map { _ in client.watch(prefix: "/m/", fromRevision: start + 1) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<50 {
                    group.addTask { try await client.put("/m/\(index)", "\(index)") }
                }
                try await group.waitForAll()
            }
            for stream in streams {
                let events = try await collectEvents(stream, count: 50, timeout: .seconds(10))
                XCTAssertEqual(Set(events.map(\.kv.key)).count, 50)
            }
            let all = try await client.range("/m/", prefix: true)
            XCTAssertEqual(all.kvs.count, 50)
        }
    }

    /// shutdown() is the way to end a client, but one dropped without it must not trap (as an
    /// AsyncHTTPClient dropped running does in debug builds).
    func testDroppingAClientWithoutShutdown() async throws {
        try skipUnlessEtcd()
        let etcd = try EtcdProcess()
        defer { etcd.stop() }
        var client: EtcdClient? = try await etcd.client()
        try await client?.put("/d/k", "v")
        client = nil
        try await Task.sleep(for: .milliseconds(300))
        let other = try await etcd.client()
        let range = try await other.range("/d/k")
        XCTAssertEqual(range.kvs.map(\.value), ["v"])
        try await other.shutdown()
    }

    // MARK: TLS

    private func withTLSEtcd(unixSocket: Bool = false, _ body: (EtcdProcess, EtcdProcess.TLSFiles) async throws -> Void) async throws {
        try skipUnlessEtcd()
        guard access(opensslExecutable, X_OK) == 0 else { throw XCTSkip("\(opensslExecutable) is missing: the TLS tests make their certificates with it") }
        let directory = try makeTemporaryDirectory("/tmp/etcd-tls.")
        let files: EtcdProcess.TLSFiles
        do { files = try makeCertificates(in: directory) } catch {
            removeTree(directory)
            throw error
        }
        let etcd = try EtcdProcess(tls: files, unixSocket: unixSocket, directory: directory)
        defer { etcd.stop() }
        try await body(etcd, files)
    }

    func testTLSWithAClientCertificate() async throws {
        try await withTLSEtcd { etcd, files in
            let client = try await etcd.client(caFile: files.ca, certFile: files.clientCert, keyFile: files.clientKey)
            do {
                let revision = try await client.put("/tls/k", "v")
                let range = try await client.range("/tls/", prefix: true)
                XCTAssertEqual(range.kvs.map(\.value), ["v"])
                let events = try await collectEvents(client.watch(prefix: "/tls/", fromRevision: revision), count: 1, timeout: .seconds(10))
                XCTAssertEqual(events.first?.kv.key, "/tls/k")
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                throw error
            }

            // The certificate names localhost too.
            let byName = try await etcd.client(endpoints: [etcd.endpoint.replacing("127.0.0.1", with: "localhost")],
                                               caFile: files.ca, certFile: files.clientCert, keyFile: files.clientKey)
            let found = try await byName.range("/tls/k")
            XCTAssertEqual(found.kvs.map(\.value), ["v"])
            try await byName.shutdown()
        }
    }

    func testTLSWithoutAClientCertificateIsRefused() async throws {
        try await withTLSEtcd { etcd, files in
            // Wait until it serves, with a client that may.
            let good = try await etcd.client(caFile: files.ca, certFile: files.clientCert, keyFile: files.clientKey)
            try await good.shutdown()

            let client = try EtcdClient(EtcdConfiguration(endpoints: [etcd.endpoint], caFile: files.ca))
            do {
                _ = try await client.range("/tls/k")
                XCTFail("etcd with --client-cert-auth served a client with no certificate")
            } catch EtcdError.unavailable(let message) {
                XCTAssertTrue(message.contains(etcd.endpoint), message)
                XCTAssertTrue(message.contains("etcd refused the client certificate (none given: --store-cert, --store-key)"), message)
                print("no client certificate: \(message)")
            }
            // A put says the same: etcd read nothing, so it is not "may have reached etcd".
            do {
                _ = try await client.put("/tls/k", "v")
                XCTFail("etcd with --client-cert-auth took a put from a client with no certificate")
            } catch EtcdError.unavailable(let message) {
                XCTAssertTrue(message.contains("refused the client certificate") && !message.contains("may have reached"), message)
            }
            try await client.shutdown()

            // No CA: the system's trust does not know the test CA.
            let untrusting = try EtcdClient(EtcdConfiguration(endpoints: [etcd.endpoint], certFile: files.clientCert, keyFile: files.clientKey))
            do {
                _ = try await untrusting.range("/tls/k")
                XCTFail("a server certificate from an unknown CA was accepted")
            } catch EtcdError.unavailable(let message) {
                XCTAssertTrue(message.contains("etcd's certificate is not trusted by the system's trust"), message)
                print("unknown CA: \(message)")
            }
            try await untrusting.shutdown()

            // A key that is not the certificate's is refused before any connection.
            XCTAssertThrowsError(try EtcdClient(EtcdConfiguration(endpoints: [etcd.endpoint], caFile: files.ca,
                                                                  certFile: files.clientCert, keyFile: files.serverKey))) {
                XCTAssertTrue("\($0)".contains("--store-key \"\(files.serverKey)\""), "\($0)")
            }
        }
    }

    func testTLSOverAUnixSocket() async throws {
        try await withTLSEtcd(unixSocket: true) { etcd, files in
            XCTAssertTrue(etcd.endpoint.hasPrefix("unixs://"))
            let client = try await etcd.client(caFile: files.ca, certFile: files.clientCert, keyFile: files.clientKey)
            do {
                try await client.put("/tls/u", "v")
                let range = try await client.range("/tls/u")
                XCTAssertEqual(range.kvs.map(\.value), ["v"])
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }

    // MARK: Helpers

    private func assertLeaseNotFound(_ lease: Int64, file: StaticString = #filePath, line: UInt = #line,
                                     _ body: () async throws -> Void) async {
        do {
            try await body()
            XCTFail("no error for a revoked lease", file: file, line: line)
        } catch EtcdError.leaseNotFound(let id) {
            XCTAssertEqual(id, lease, file: file, line: line)
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }
}

/// One watch read message by message, each within a timeout. One reader at a time (the tests'
/// own task), hence unchecked.
final class WatchReader: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<EtcdWatchMessage, Error>.AsyncIterator

    init(_ stream: AsyncThrowingStream<EtcdWatchMessage, Error>) {
        iterator = stream.makeAsyncIterator()
    }

    private enum Outcome: Sendable {
        case message(EtcdWatchMessage?)
        case timedOut
    }

    /// The next message; `nil` when the stream has ended; a failure after `timeout`.
    func next(timeout: Duration) async throws -> EtcdWatchMessage? {
        let outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask { .message(try await self.iterator.next()) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return .timedOut
            }
            defer { group.cancelAll() }
            return try await group.next() ?? .timedOut
        }
        guard case .message(let message) = outcome else { throw EtcdTestFailure("no watch message within \(timeout)") }
        return message
    }
}

/// The first `count` events of a watch (failing after `timeout`).
func collectEvents(_ stream: AsyncThrowingStream<EtcdWatchMessage, Error>, count: Int, timeout: Duration) async throws -> [EtcdEvent] {
    try await withThrowingTaskGroup(of: [EtcdEvent]?.self) { group in
        group.addTask {
            var events: [EtcdEvent] = []
            for try await message in stream {
                guard case .events(_, let batch) = message else { throw EtcdTestFailure("unexpected \(message)") }
                events += batch
                if events.count >= count { return events }
            }
            throw EtcdTestFailure("the watch ended after \(events.count) events")
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let events = first else {
            throw EtcdTestFailure("fewer than \(count) events within \(timeout)")
        }
        return events
    }
}
