import AsyncHTTPClient
@testable import Cluster
import NIOCore
import NetCore
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Bodies, answers and configuration, without an etcd.
final class EtcdWireTests: XCTestCase {
    func testCreateCASTxnBody() {
        let body = EtcdWire.txn([.versionEquals(key: "/n/a", 0)], success: [.put(key: "/n/a", value: "v", lease: 7)],
                                failure: [.range(key: "/n/a", prefix: false)])
        XCTAssertEqual(body.serialized(), #"{"compare":[{"key":"L24vYQ==","target":"VERSION","result":"EQUAL","version":"0"}],"#
            + #""success":[{"request_put":{"key":"L24vYQ==","value":"dg==","lease":"7"}}],"failure":[{"request_range":{"key":"L24vYQ=="}}]}"#)
    }

    func testEveryCompareAndOperationBody() {
        let body = EtcdWire.txn(
            [.modRevisionEquals(key: "k", 12), .valueEquals(key: "k", "é"), .leaseEquals(key: "k", 694_201_234_567_890_123)],
            success: [.delete(key: "/p/", prefix: true), .put(key: "k", value: "", lease: nil), .range(key: "/p/", prefix: true)],
            failure: [.delete(key: "k", prefix: false)])
        XCTAssertEqual(body.serialized(), #"{"compare":[{"key":"aw==","target":"MOD","result":"EQUAL","mod_revision":"12"},"#
            + #"{"key":"aw==","target":"VALUE","result":"EQUAL","value":"w6k="},"#
            + #"{"key":"aw==","target":"LEASE","result":"EQUAL","lease":"694201234567890123"}],"#
            + #""success":[{"request_delete_range":{"key":"L3Av","range_end":"L3Aw"}},{"request_put":{"key":"aw==","value":""}},"#
            + #"{"request_range":{"key":"L3Av","range_end":"L3Aw"}}],"failure":[{"request_delete_range":{"key":"aw=="}}]}"#)
    }

    func testWatchCreateBody() {
        XCTAssertEqual(EtcdWire.watchCreate(prefix: "/n/", fromRevision: 42).serialized(),
                       #"{"create_request":{"key":"L24v","range_end":"L24w","start_revision":"42","prev_kv":true}}"#)
    }

    func testPrefixEnd() {
        XCTAssertEqual(EtcdWire.prefixEnd("/a/"), Array("/a0".utf8))
        XCTAssertEqual(EtcdWire.prefixEnd("a"), Array("b".utf8))
        XCTAssertEqual(EtcdWire.prefixEnd(""), [0])
    }

    func testAnswersWithZeroValuesLeftOut() throws {
        let range = try EtcdWire.range(try object(#"{"header":{"cluster_id":"1","revision":"7"},"count":"0"}"#))
        XCTAssertEqual(range.revision, 7)
        XCTAssertEqual(range.kvs, [])
        let failed = try EtcdWire.txnResult(try object(
            #"{"header":{"revision":"9"},"responses":[{"response_range":{"header":{},"kvs":[{"key":"YQ==","create_revision":"3","#
                + #""mod_revision":"5","version":"2","value":"eA=="}],"count":"1"}}]}"#))
        XCTAssertFalse(failed.succeeded)
        XCTAssertEqual(failed.revision, 9)
        XCTAssertEqual(failed.ranges, [[EtcdKeyValue(key: "a", value: "x", createRevision: 3, modRevision: 5, version: 2, lease: 0)]])
        let succeeded = try EtcdWire.txnResult(try object(#"{"header":{"revision":"10"},"succeeded":true,"responses":[{"response_put":{"header":{}}}]}"#))
        XCTAssertTrue(succeeded.succeeded)
        XCTAssertEqual(succeeded.ranges.count, 0)
        XCTAssertThrowsError(try EtcdWire.range(try object(#"{"header":{"revision":"x7"}}"#)))
        XCTAssertThrowsError(try EtcdWire.range(try object(#"{"header":{"revision":"1"},"kvs":[{"key":"not base64!"}]}"#)))
    }

    func testServerErrorShapes() {
        let unary = EtcdWire.serverError(status: 404, body: Array(#"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#.utf8))
        guard case .server(404, 5?, "etcdserver: requested lease not found") = unary else { return XCTFail("\(unary)") }
        XCTAssertTrue(EtcdWire.isLeaseNotFound(unary))
        let stream = EtcdWire.serverError(status: 200, body: Array(#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#.utf8))
        guard case .server(503, 14?, "etcdserver: no leader") = stream else { return XCTFail("\(stream)") }
        let text = EtcdWire.serverError(status: 502, body: Array("bad gateway".utf8))
        guard case .server(502, nil, "bad gateway") = text else { return XCTFail("\(text)") }
    }

    /// Three answers of a watch as etcd 3.4's gateway writes them (header fields trimmed), then a
    /// compaction cancel: cut at every byte, and at every pair of bytes, they read the same.
    func testWatchLinesSplitAtEveryBoundary() throws {
        let stream = Array((
            #"{"result":{"header":{"cluster_id":"86","member_id":"14","revision":"5","raft_term":"2"},"created":true}}"# + "\n"
                + #"{"result":{"header":{"revision":"6"},"events":[{"kv":{"key":"L24vYQ==","create_revision":"6","mod_revision":"6","#
                + #""version":"1","value":"MQ==","lease":"77"}}]}}"# + "\r\n"
                + #"{"result":{"header":{"revision":"8"},"events":[{"type":"DELETE","kv":{"key":"L24vYQ==","mod_revision":"8"},"#
                + #""prev_kv":{"key":"L24vYQ==","create_revision":"6","mod_revision":"7","version":"2","value":"Mg==","lease":"77"}}]}}"# + "\n\n"
                + #"{"result":{"header":{"revision":"9"},"canceled":true,"compact_revision":"4"}}"# + "\n").utf8)
        let expected: [WatchLine] = [
            .created,
            .events(revision: 6, [EtcdEvent(kind: .put, kv: EtcdKeyValue(key: "/n/a", value: "1", createRevision: 6, modRevision: 6, version: 1, lease: 77),
                                            previous: nil)]),
            .events(revision: 8, [EtcdEvent(kind: .delete, kv: EtcdKeyValue(key: "/n/a", value: "", modRevision: 8),
                                            previous: EtcdKeyValue(key: "/n/a", value: "2", createRevision: 6, modRevision: 7, version: 2, lease: 77))]),
            .compacted(compactRevision: 4),
        ]
        func read(_ chunks: [ArraySlice<UInt8>]) throws -> [WatchLine] {
            var splitter = LineSplitter()
            var lines: [WatchLine] = []
            for chunk in chunks {
                lines += try splitter.feed(chunk).map { try WatchLine(parsing: $0) }
            }
            XCTAssertNil(splitter.finish())
            return lines
        }
        XCTAssertEqual(try read([stream[...]]), expected)
        XCTAssertEqual(try read(stream.indices.map { stream[$0...$0] }), expected)
        for cut in 0...stream.count {
            XCTAssertEqual(try read([stream[..<cut], stream[cut...]]), expected, "cut at \(cut)")
        }
        for first in stride(from: 0, through: stream.count, by: 23) {
            for second in first...stream.count {
                XCTAssertEqual(try read([stream[..<first], stream[first..<second], stream[second...]]), expected)
            }
        }
    }

    func testWatchStreamWithoutFinalNewline() throws {
        var splitter = LineSplitter()
        XCTAssertEqual(try splitter.feed(Array(#"{"result":{"header":{"revision":"3"},"created":true}}"#.utf8)), [])
        let last = try XCTUnwrap(splitter.finish())
        XCTAssertEqual(try WatchLine(parsing: last), .created)
    }

    func testWatchErrorsAndOtherCancels() {
        XCTAssertThrowsError(try WatchLine(parsing: Array(#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}}"#.utf8))) {
            guard case EtcdError.server(503, 14?, _) = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try WatchLine(parsing: Array(#"{"result":{"header":{},"canceled":true,"cancel_reason":"permission denied"}}"#.utf8))) {
            guard case EtcdError.server(_, _, let message) = $0, message.contains("permission denied") else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try WatchLine(parsing: Array("{\"result\":".utf8))) {
            guard case EtcdError.malformed = $0 else { return XCTFail("\($0)") }
        }
    }

    // MARK: Configuration

    func testEndpointsParsing() throws {
        XCTAssertEqual(try EtcdConfiguration.endpoints(parsing: " http://10.0.0.1:2379 ,https://[fd00::1]:2379, unix:///run/etcd.sock:0"),
                       ["http://10.0.0.1:2379", "https://[fd00::1]:2379", "unix:///run/etcd.sock:0"])
        XCTAssertEqual(try EtcdEndpoint(parsing: "unix:///run/etcd.sock:0").baseURL, "http+unix://%2Frun%2Fetcd.sock%3A0")
        XCTAssertEqual(try EtcdEndpoint(parsing: "unixs://etcd.sock:0").baseURL, "https+unix://etcd.sock%3A0")
        XCTAssertEqual(try EtcdEndpoint(parsing: "HTTP://etcd-1.example/").baseURL, "http://etcd-1.example:2379")
        XCTAssertEqual(try EtcdEndpoint(parsing: "https://[::1]:3379").baseURL, "https://[::1]:3379")
        for (text, words) in [("", "names no etcd endpoint"), ("http://a:1,,http://b:2", "empty endpoint"), ("ftp://a:1", "unknown scheme"),
                              ("a:2379", "not a URL"), ("http://a:99999", "port"), ("http://a:1/v3", "no path"), ("http://::1:2379", "brackets"),
                              ("unix://", "socket path"), ("http://", "no host")] {
            XCTAssertThrowsError(try EtcdConfiguration.endpoints(parsing: text), text) {
                let message = "\($0)"
                XCTAssertTrue(message.contains("--store") && message.contains(words), message)
            }
        }
    }

    func testConfigurationChecks() async throws {
        XCTAssertThrowsError(try EtcdConfiguration(endpoints: [])) { XCTAssertTrue("\($0)".contains("--store"), "\($0)") }
        XCTAssertThrowsError(try EtcdConfiguration(endpoints: ["https://a:1"], certFile: "/c.pem")) {
            XCTAssertTrue("\($0)".contains("--store-cert \"/c.pem\"") && "\($0)".contains("--store-key"), "\($0)")
        }
        XCTAssertThrowsError(try EtcdConfiguration(endpoints: ["https://a:1"], keyFile: "/k.pem")) {
            XCTAssertTrue("\($0)".contains("--store-key \"/k.pem\""), "\($0)")
        }
        XCTAssertThrowsError(try EtcdConfiguration(endpoints: ["http://a:1"], requestTimeout: .zero))
        // https with no CA: the system's trust.
        let configuration = try EtcdConfiguration(endpoints: ["https://a:1"])
        XCTAssertEqual(configuration.requestTimeout, .seconds(5))
        let client = try EtcdClient(configuration)
        try await client.shutdown()
        try await client.shutdown()
    }

    func testUnreadableCAFileIsNamed() throws {
        let configuration = try EtcdConfiguration(endpoints: ["https://127.0.0.1:2379"], caFile: "/nonexistent/ca.pem")
        XCTAssertThrowsError(try EtcdClient(configuration)) {
            let message = "\($0)"
            XCTAssertTrue(message.contains("--store-cacert \"/nonexistent/ca.pem\"") && message.contains("No such file"), message)
        }
    }

    func testWhatCountsAsNotSent() {
        XCTAssertTrue(EtcdClient.notSent(IOError(errnoCode: ECONNREFUSED, reason: "connect")))
        XCTAssertTrue(EtcdClient.notSent(IOError(errnoCode: ENOENT, reason: "connect")))
        XCTAssertTrue(EtcdClient.notSent(HTTPClientError.connectTimeout))
        XCTAssertFalse(EtcdClient.notSent(IOError(errnoCode: ECONNRESET, reason: "read")))
        XCTAssertFalse(EtcdClient.notSent(HTTPClientError.remoteConnectionClosed))
        XCTAssertFalse(EtcdClient.notSent(HTTPClientError.deadlineExceeded))
    }

    private func object(_ text: String) throws -> JSONObject {
        try XCTUnwrap(JSON(parsing: text).objectValue)
    }
}
