import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NetCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An etcd v3 client over etcd's JSON gateway (HTTP/1.1 POSTs of JSON to `/v3/...`), through
/// AsyncHTTPClient: TCP, unix sockets, TLS with a CA and a client certificate.
///
/// Endpoints are tried in order, starting with the last one that answered; a call moves on to the
/// next when the connection fails. A call that changes the store (put, delete, a txn with writes,
/// a lease grant) moves on only when the request cannot have reached etcd (the connection was
/// refused or never set up); when it may have, the call throws ``EtcdError/unavailable(_:)``
/// saying so, and the caller decides (a CAS re-reads, it never puts blindly).
///
/// Every method may be called from any task, concurrently. Call ``shutdown()`` when done: it
/// closes the connections and ends the watches (their streams throw).
public final class EtcdClient: Sendable {
    public let configuration: EtcdConfiguration
    let endpoints: [EtcdEndpoint]
    /// Unary calls.
    private let http: HTTPClient
    /// Watches, each holding its own connection for as long as it runs: apart, so that many
    /// watches never queue a keepalive behind them.
    private let watchHTTP: HTTPClient
    /// For `unixs://` endpoints: the chain is checked against the CA, but a socket has no name
    /// to check the certificate against.
    private let unixTLS: TLSConfiguration?
    private let timeout: TimeAmount
    private let state = Mutex(State())

    private struct State {
        /// The endpoint that answered last: where the next call starts.
        var preferred = 0
        var shutDown = false
    }

    /// The largest answer read: a range of many keys can be large.
    static let maximumAnswer = 256 << 20

    /// - Throws: `NetworkError` naming `--store`, `--store-cacert`, `--store-cert` or
    ///   `--store-key` when an endpoint or a TLS file cannot be used.
    public init(_ configuration: EtcdConfiguration) throws {
        self.configuration = configuration
        endpoints = try configuration.endpoints.map(EtcdEndpoint.init(parsing:))
        let tls = try Self.tlsConfiguration(configuration, needed: endpoints.contains(where: \.tls))
        unixTLS = tls.map {
            var unix = $0
            unix.certificateVerification = .noHostnameVerification
            return unix
        }
        timeout = Self.timeAmount(configuration.requestTimeout)

        var config = HTTPClient.Configuration()
        config.tlsConfiguration = tls
        config.httpVersion = .http1Only
        config.redirectConfiguration = .disallow
        config.timeout = HTTPClient.Configuration.Timeout(connect: timeout, read: nil)
        config.connectionPool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        // A refused connection fails the call at once, and the call moves on to the next endpoint,
        // rather than AsyncHTTPClient retrying the same endpoint until the deadline.
        config.connectionPool.retryConnectionEstablishment = false
        http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: config)
        config.connectionPool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(5), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        config.connectionPool.retryConnectionEstablishment = false
        watchHTTP = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: config)
    }

    deinit {
        // AsyncHTTPClient traps (debug builds) when a client is dropped running: close them here if
        // shutdown() was never called.
        if !state.withLock({ $0.shutDown }) {
            _ = http.shutdown()
            _ = watchHTTP.shutdown()
        }
    }

    /// Closes every connection; running watches end by throwing. Calling it again does nothing.
    public func shutdown() async throws {
        let first = state.withLock { state in
            defer { state.shutDown = true }
            return !state.shutDown
        }
        guard first else { return }
        var failure: (any Error)?
        do { try await http.shutdown() } catch { failure = error }
        do { try await watchHTTP.shutdown() } catch { failure = failure ?? error }
        if let failure { throw failure }
    }

    // MARK: KV

    public func range(_ key: String, prefix: Bool = false) async throws -> EtcdRange {
        try EtcdWire.range(await call("/v3/kv/range", .object(EtcdWire.keyRange(key, prefix: prefix)), idempotent: true))
    }

    /// - Returns: the store's revision after the put.
    @discardableResult
    public func put(_ key: String, _ value: String, lease: Int64? = nil) async throws -> Int64 {
        try await mappingLeaseNotFound(lease) {
            try EtcdWire.revision(await call("/v3/kv/put", .object(EtcdWire.put(key, value, lease: lease)), idempotent: false))
        }
    }

    /// - Returns: how many keys were deleted.
    @discardableResult
    public func delete(_ key: String, prefix: Bool = false) async throws -> Int64 {
        let answer = try await call("/v3/kv/deleterange", .object(EtcdWire.keyRange(key, prefix: prefix)), idempotent: false)
        return try EtcdWire.int64(answer["deleted"], "deleted")
    }

    /// All `compares` hold → `success` runs, else `failure`; atomically, in one revision.
    public func txn(_ compares: [EtcdCompare], success: [EtcdOperation], failure: [EtcdOperation]) async throws -> EtcdTxnResult {
        let readOnly = (success + failure).allSatisfy { if case .range = $0 { true } else { false } }
        let lease = (success + failure).lazy.compactMap { if case .put(_, _, let lease?) = $0, lease != 0 { lease } else { nil } }.first
        return try await mappingLeaseNotFound(lease) {
            try EtcdWire.txnResult(await call("/v3/kv/txn", EtcdWire.txn(compares, success: success, failure: failure), idempotent: readOnly))
        }
    }

    /// The create-if-absent CAS: `version(key) == 0` → put; otherwise returns the current holder.
    public func create(_ key: String, _ value: String, lease: Int64?) async throws -> (created: Bool, current: EtcdKeyValue?) {
        let result = try await txn([.versionEquals(key: key, 0)], success: [.put(key: key, value: value, lease: lease)],
                                   failure: [.range(key: key, prefix: false)])
        return (result.succeeded, result.succeeded ? nil : result.ranges.first?.first)
    }

    /// Compacts the history up to `revision` (tests use it to make a watch start too early).
    func compact(_ revision: Int64) async throws {
        _ = try await call("/v3/kv/compaction", .object(["revision": EtcdWire.int64(revision), "physical": true]), idempotent: true)
    }

    // MARK: Leases

    /// - Returns: the lease's ID and its TTL (etcd raises a TTL below its minimum, 2 s by default).
    public func grantLease(ttl: Int64) async throws -> (id: Int64, ttl: Int64) {
        let answer = try await call("/v3/lease/grant", .object(["TTL": EtcdWire.int64(ttl)]), idempotent: false)
        if let error = answer["error"]?.stringValue, !error.isEmpty { throw EtcdError.server(status: 200, code: nil, message: error) }
        let id = try EtcdWire.int64(answer["ID"], "ID")
        guard id != 0 else { throw EtcdError.malformed("lease grant without an ID") }
        return (id, try EtcdWire.int64(answer["TTL"], "TTL"))
    }

    /// One keepalive; returns the remaining TTL; throws ``EtcdError/leaseNotFound(_:)`` when the
    /// lease is gone (the gateway answers TTL 0 / absent).
    public func keepAlive(_ lease: Int64) async throws -> Int64 {
        let answer = try await mappingLeaseNotFound(lease) {
            try await call("/v3/lease/keepalive", .object(["ID": EtcdWire.int64(lease)]), idempotent: true)
        }
        if answer["result"] == nil, let error = answer["error"] {
            let failure = EtcdWire.serverError(status: 200, ["error": error])
            throw EtcdWire.isLeaseNotFound(failure) ? EtcdError.leaseNotFound(lease) : failure
        }
        let ttl = try EtcdWire.int64(EtcdWire.object(answer["result"], "result")["TTL"], "TTL")
        guard ttl > 0 else { throw EtcdError.leaseNotFound(lease) }
        return ttl
    }

    /// The remaining TTL in seconds; `nil` when the lease is gone.
    public func timeToLive(_ lease: Int64) async throws -> Int64? {
        let answer = try await call("/v3/lease/timetolive", .object(["ID": EtcdWire.int64(lease)]), idempotent: true)
        let ttl = try EtcdWire.int64(answer["TTL"], "TTL")
        return ttl < 0 ? nil : ttl
    }

    /// Revokes the lease and deletes its keys. A lease that is gone already is not an error
    /// (teardown is idempotent, and a revoke retried on another endpoint finds it gone).
    public func revoke(_ lease: Int64) async throws {
        do {
            try await mappingLeaseNotFound(lease) {
                _ = try await call("/v3/lease/revoke", .object(["ID": EtcdWire.int64(lease)]), idempotent: true)
            }
        } catch EtcdError.leaseNotFound {
            return
        }
    }

    private func mappingLeaseNotFound<T>(_ lease: Int64?, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as EtcdError {
            if let lease, EtcdWire.isLeaseNotFound(error) { throw EtcdError.leaseNotFound(lease) }
            throw error
        }
    }

    // MARK: Watch

    /// A watch of a prefix from `fromRevision` (inclusive), with each change's previous value.
    ///
    /// The stream yields each answer's events as they arrive; it ends after
    /// ``EtcdWatchMessage/compacted(compactRevision:)`` when etcd cancels the watch because
    /// `fromRevision` was compacted (list again, watch from the listed revision + 1). It throws
    /// when the connection drops or etcd ends the stream (``EtcdError/unavailable(_:)``): watch
    /// again from the last revision seen + 1. Dropping the stream (ending its iteration) cancels
    /// the watch and closes its connection.
    public func watch(prefix: String, fromRevision: Int64) -> AsyncThrowingStream<EtcdWatchMessage, Error> {
        let payload = EtcdWire.watchCreate(prefix: prefix, fromRevision: fromRevision).serialized()
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await self.runWatch(payload, continuation)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func runWatch(_ payload: String, _ continuation: AsyncThrowingStream<EtcdWatchMessage, Error>.Continuation) async throws {
        let (start, count) = try startingPoint()
        var failures: [String] = []
        for step in 0..<count {
            let index = (start + step) % count
            let endpoint = endpoints[index]
            let response: HTTPClientResponse
            do {
                response = try await withHeadTimeout {
                    try await self.watchHTTP.execute(self.request(endpoint, "/v3/watch", payload), deadline: .distantFuture)
                }
            } catch {
                try rethrowIfFinal(error)
                failures.append("\(endpoint.text): \(describe(error))")
                continue
            }
            if response.status != .ok {
                let body = try await response.body.collect(upTo: 1 << 20)
                throw EtcdWire.serverError(status: Int(response.status.code), body: Array(buffer: body))
            }
            remember(index)
            var splitter = LineSplitter()
            do {
                for try await buffer in response.body {
                    for line in try splitter.feed(buffer.readableBytesView) {
                        if try deliver(line, continuation) { return }
                    }
                }
                if let last = splitter.finish(), try deliver(last, continuation) { return }
            } catch {
                try rethrowIfFinal(error)
                if error is EtcdError { throw error }
                throw EtcdError.unavailable("\(endpoint.text): the watch connection failed: \(describe(error))")
            }
            throw EtcdError.unavailable("\(endpoint.text): etcd ended the watch stream")
        }
        throw EtcdError.unavailable(failures.joined(separator: "; "))
    }

    /// Yields the line's events; `true` when the watch is over (compacted).
    private func deliver(_ line: [UInt8], _ continuation: AsyncThrowingStream<EtcdWatchMessage, Error>.Continuation) throws -> Bool {
        switch try WatchLine(parsing: line) {
        case .created:
            return false
        case .events(let revision, let events):
            if !events.isEmpty { continuation.yield(.events(revision: revision, events)) }
            return false
        case .compacted(let compactRevision):
            continuation.yield(.compacted(compactRevision: compactRevision))
            return true
        }
    }

    /// The watch's answer head within the request timeout (its body has no deadline).
    private func withHeadTimeout(_ body: @escaping @Sendable () async throws -> HTTPClientResponse) async throws -> HTTPClientResponse {
        let limit = configuration.requestTimeout
        return try await withThrowingTaskGroup(of: HTTPClientResponse?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let response = first else {
                throw EtcdError.unavailable("no answer to the watch within \(limit)")
            }
            return response
        }
    }

    // MARK: Calls

    /// POSTs `body` to `path` on the first endpoint that answers; the answer's JSON object.
    private func call(_ path: String, _ body: JSON, idempotent: Bool) async throws -> JSONObject {
        let payload = body.serialized()
        let (start, count) = try startingPoint()
        var failures: [String] = []
        for step in 0..<count {
            let index = (start + step) % count
            let endpoint = endpoints[index]
            let status: HTTPResponseStatus
            let answer: [UInt8]
            do {
                let response = try await http.execute(request(endpoint, path, payload), deadline: .now() + timeout)
                status = response.status
                answer = Array(buffer: try await response.body.collect(upTo: Self.maximumAnswer))
            } catch {
                try rethrowIfFinal(error)
                failures.append("\(endpoint.text): \(describe(error))")
                if idempotent || Self.notSent(error) { continue }
                throw EtcdError.unavailable(failures.joined(separator: "; ")
                    + " (the request may have reached etcd, so it was not sent to another endpoint)")
            }
            remember(index)
            guard status == .ok else {
                let error = EtcdWire.serverError(status: Int(status.code), body: answer)
                // gRPC's Unavailable (no leader, this member stopping): another member may serve a read.
                if idempotent, step + 1 < count, case .server(_, 14?, _) = error {
                    failures.append("\(endpoint.text): \(error)")
                    continue
                }
                throw error
            }
            let json: JSON
            do { json = try JSON(parsing: answer) } catch { throw EtcdError.malformed("\(path): \(error)") }
            guard let object = json.objectValue else { throw EtcdError.malformed("\(path) answered \(json.kindName)") }
            return object
        }
        throw EtcdError.unavailable(failures.joined(separator: "; "))
    }

    private func request(_ endpoint: EtcdEndpoint, _ path: String, _ payload: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: endpoint.baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        // HTTP/1.1 needs a Host, which AsyncHTTPClient leaves out on a unix socket (etcd answers 400).
        if endpoint.unixSocket { request.headers.add(name: "Host", value: "localhost") }
        request.body = .bytes(ByteBuffer(string: payload))
        if endpoint.unixSocket, endpoint.tls { request.tlsConfiguration = unixTLS }
        return request
    }

    private func startingPoint() throws -> (start: Int, count: Int) {
        try state.withLock { state in
            guard !state.shutDown else { throw EtcdError.unavailable("the etcd client is shut down") }
            return (state.preferred, endpoints.count)
        }
    }

    /// The endpoint the next call tries first (tests).
    var preferredEndpoint: String { endpoints[state.withLock { $0.preferred }].text }

    private func remember(_ index: Int) {
        state.withLock { $0.preferred = index }
    }

    /// Cancellation and a shut-down client end a call at once, whatever endpoints are left.
    private func rethrowIfFinal(_ error: any Error) throws {
        if Task.isCancelled { throw CancellationError() }
        if state.withLock({ $0.shutDown }) { throw EtcdError.unavailable("the etcd client is shut down") }
        if error is CancellationError { throw error }
        if case EtcdError.server = error { throw error }
    }

    /// Whether the request certainly did not reach etcd: the connection or its TLS handshake
    /// failed before anything was sent.
    static func notSent(_ error: any Error) -> Bool {
        switch error {
        case is NIOConnectionError: return true
        case let error as ChannelError:
            if case .connectTimeout = error { return true }
            return false
        case let error as HTTPClientError: return error == .connectTimeout || error == .tlsHandshakeTimeout
        case let error as IOError:
            return [ECONNREFUSED, ENOENT, ENOTSOCK, EACCES, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL].contains(error.errnoCode)
        case let error as NIOSSLError:
            if case .handshakeFailed = error { return true }
            return false
        case is BoringSSLError:
            // TLS 1.3 finishes the client's handshake before etcd checks its certificate: etcd's
            // refusal arrives as an alert after the request was written, but etcd never read it.
            return tlsReasons(error)?.contains { $0.contains("ALERT") && ($0.contains("CERTIFICATE") || $0.contains("UNKNOWN_CA")) } ?? false
        default: return false
        }
    }

    /// What went wrong with one endpoint, in a line: TLS failures by BoringSSL's reason, with
    /// what usually causes it.
    func describe(_ error: any Error) -> String {
        if let reasons = Self.tlsReasons(error) {
            let reason = reasons.joined(separator: ", ")
            if reasons.contains(where: { $0.contains("ALERT") && ($0.contains("CERTIFICATE") || $0.contains("UNKNOWN_CA")) }) {
                let given = configuration.certFile == nil ? " (none given: --store-cert, --store-key)" : ""
                return "TLS: etcd refused the client certificate\(given): \(reason)"
            }
            if reasons.contains(where: { $0.contains("CERTIFICATE_VERIFY_FAILED") }) {
                let trust = configuration.caFile.map { "--store-cacert \($0)" } ?? "the system's trust (no --store-cacert)"
                return "TLS: etcd's certificate is not trusted by \(trust): \(reason)"
            }
            return "TLS: \(reason)"
        }
        switch error {
        case let error as NIOSSLError:
            return "TLS: \(error)"
        case let error as NIOSSLExtraError:
            return "TLS: \(error)"
        case let error as NIOConnectionError:
            return error.connectionErrors.first.map { "connect to \($0.target): \($0.error)" } ?? "\(error)"
        default:
            return "\(error)"
        }
    }

    /// BoringSSL's reasons (`CERTIFICATE_VERIFY_FAILED`, `SSLV3_ALERT_BAD_CERTIFICATE`) in a TLS error.
    static func tlsReasons(_ error: any Error) -> [String]? {
        let stack: NIOBoringSSLErrorStack
        switch error {
        case NIOSSLError.handshakeFailed(let inner): return tlsReasons(inner)
        case BoringSSLError.sslError(let errors), BoringSSLError.unknownError(let errors): stack = errors
        default: return nil
        }
        // "Error: 268436498 error:10000412:SSL routines:OPENSSL_internal:SSLV3_ALERT_BAD_CERTIFICATE at <file>:<line>"
        let reasons = stack.map { error -> String in
            let text = error.description
            let message = text.firstRange(of: " at ").map { text[..<$0.lowerBound] } ?? Substring(text)
            return message.split(separator: ":").last.map(String.init) ?? text
        }
        return reasons.isEmpty ? nil : reasons
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .nanoseconds(Int64.max) }
        return .nanoseconds(nanoseconds.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue)
    }

    // MARK: TLS

    private static func tlsConfiguration(_ configuration: EtcdConfiguration, needed: Bool) throws -> TLSConfiguration? {
        guard needed || configuration.caFile != nil || configuration.certFile != nil else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.applicationProtocols = ["http/1.1"]
        if let ca = configuration.caFile {
            try checkReadable(ca, "--store-cacert")
            let certificates: [NIOSSLCertificate]
            do { certificates = try NIOSSLCertificate.fromPEMFile(ca) } catch {
                throw NetworkError(code: .invalidArgument, message: "invalid --store-cacert \"\(ca)\": not a PEM certificate", cause: error)
            }
            guard !certificates.isEmpty else { throw NetworkError.invalid("--store-cacert", ca, "holds no PEM certificate") }
            tls.trustRoots = .certificates(certificates)
        }
        if let cert = configuration.certFile, let key = configuration.keyFile {
            try checkReadable(cert, "--store-cert")
            try checkReadable(key, "--store-key")
            do { tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) } } catch {
                throw NetworkError(code: .invalidArgument, message: "invalid --store-cert \"\(cert)\": not a PEM certificate", cause: error)
            }
            guard !tls.certificateChain.isEmpty else { throw NetworkError.invalid("--store-cert", cert, "holds no PEM certificate") }
            do { tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)) } catch {
                throw NetworkError(code: .invalidArgument, message: "invalid --store-key \"\(key)\": not a PEM private key", cause: error)
            }
        }
        do { _ = try NIOSSLContext(configuration: tls) } catch {
            if let cert = configuration.certFile, let key = configuration.keyFile {
                throw NetworkError(code: .invalidArgument, message: "invalid --store-key \"\(key)\": does not match --store-cert \"\(cert)\"", cause: error)
            }
            throw NetworkError(code: .invalidArgument, message: "invalid TLS setup for --store", cause: error)
        }
        return tls
    }

    private static func checkReadable(_ path: String, _ field: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let errno = Errno.current
            throw NetworkError(code: .invalidArgument, message: "invalid \(field) \"\(path)\": cannot be read", cause: errno)
        }
        close(descriptor)
    }
}
