import NetCore

/// The JSON bodies of etcd's v3 gateway (grpc-gateway over rpc.proto): requests built with
/// NetCore's JSON, answers read with its parser. Keys and values travel as base64, int64 as JSON
/// strings, and zero values are left out of answers (a missing field is false, 0 or empty).
enum EtcdWire {
    // MARK: Requests

    static func bytes(_ text: String) -> JSON { .string(Base64.encode(Array(text.utf8))) }

    static func int64(_ value: Int64) -> JSON { .string(String(value)) }

    /// The end of the range of keys that start with `prefix`: the prefix with its last byte below
    /// 0xFF incremented and what follows dropped; `\0` (every key) when there is none.
    static func prefixEnd(_ prefix: String) -> [UInt8] {
        var end = Array(prefix.utf8)
        while let last = end.last {
            if last < 0xFF {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }

    /// `{"key"}` or, for a prefix, `{"key","range_end"}`.
    static func keyRange(_ key: String, prefix: Bool) -> JSONObject {
        var object: JSONObject = ["key": bytes(key)]
        if prefix { object["range_end"] = .string(Base64.encode(prefixEnd(key))) }
        return object
    }

    static func put(_ key: String, _ value: String, lease: Int64?) -> JSONObject {
        var object: JSONObject = ["key": bytes(key), "value": bytes(value)]
        if let lease, lease != 0 { object["lease"] = int64(lease) }
        return object
    }

    static func compare(_ compare: EtcdCompare) -> JSON {
        let (key, target, field, value): (String, String, String, JSON) = switch compare {
        case .versionEquals(let key, let version): (key, "VERSION", "version", int64(version))
        case .modRevisionEquals(let key, let revision): (key, "MOD", "mod_revision", int64(revision))
        case .valueEquals(let key, let value): (key, "VALUE", "value", bytes(value))
        case .leaseEquals(let key, let lease): (key, "LEASE", "lease", int64(lease))
        }
        return .object(["key": bytes(key), "target": .string(target), "result": "EQUAL", field: value])
    }

    static func requestOp(_ operation: EtcdOperation) -> JSON {
        switch operation {
        case .put(let key, let value, let lease): .object(["request_put": .object(put(key, value, lease: lease))])
        case .delete(let key, let prefix): .object(["request_delete_range": .object(keyRange(key, prefix: prefix))])
        case .range(let key, let prefix): .object(["request_range": .object(keyRange(key, prefix: prefix))])
        }
    }

    static func txn(_ compares: [EtcdCompare], success: [EtcdOperation], failure: [EtcdOperation]) -> JSON {
        .object([
            "compare": .array(compares.map(compare)),
            "success": .array(success.map(requestOp)),
            "failure": .array(failure.map(requestOp)),
        ])
    }

    static func watchCreate(prefix: String, fromRevision: Int64) -> JSON {
        var request = keyRange(prefix, prefix: true)
        request["start_revision"] = int64(fromRevision)
        request["prev_kv"] = true
        return .object(["create_request": .object(request)])
    }

    // MARK: Answers

    /// An int64 field: a JSON string of digits as etcd sends it, or a number; 0 when absent.
    static func int64(_ json: JSON?, _ field: String) throws -> Int64 {
        switch json {
        case nil, .null?: return 0
        case .string(let text)?:
            guard let value = Int64(text) else { throw EtcdError.malformed("\(field) \"\(text)\" is not an integer") }
            return value
        case let value?:
            guard let number = value.intValue else { throw EtcdError.malformed("\(field) is \(value.kindName), not an integer") }
            return number
        }
    }

    /// A bytes field as UTF-8 text; empty when absent.
    static func text(_ json: JSON?, _ field: String) throws -> String {
        switch json {
        case nil, .null?: return ""
        case .string(let encoded)?:
            guard let bytes = Base64.decode(encoded) else { throw EtcdError.malformed("\(field) is not base64") }
            return String(decoding: bytes, as: UTF8.self)
        case let value?: throw EtcdError.malformed("\(field) is \(value.kindName), not base64")
        }
    }

    static func object(_ json: JSON?, _ field: String) throws -> JSONObject {
        switch json {
        case nil, .null?: return JSONObject()
        case .object(let object)?: return object
        case let value?: throw EtcdError.malformed("\(field) is \(value.kindName), not an object")
        }
    }

    static func array(_ json: JSON?, _ field: String) throws -> [JSON] {
        switch json {
        case nil, .null?: return []
        case .array(let elements)?: return elements
        case let value?: throw EtcdError.malformed("\(field) is \(value.kindName), not an array")
        }
    }

    static func bool(_ json: JSON?, _ field: String) throws -> Bool {
        switch json {
        case nil, .null?: return false
        case .bool(let value)?: return value
        case let value?: throw EtcdError.malformed("\(field) is \(value.kindName), not a boolean")
        }
    }

    static func revision(_ answer: JSONObject) throws -> Int64 {
        try int64(object(answer["header"], "header")["revision"], "header.revision")
    }

    static func keyValue(_ json: JSON) throws -> EtcdKeyValue {
        let kv = try object(json, "kv")
        return EtcdKeyValue(
            key: try text(kv["key"], "kv.key"), value: try text(kv["value"], "kv.value"),
            createRevision: try int64(kv["create_revision"], "kv.create_revision"),
            modRevision: try int64(kv["mod_revision"], "kv.mod_revision"),
            version: try int64(kv["version"], "kv.version"), lease: try int64(kv["lease"], "kv.lease"))
    }

    static func keyValues(_ json: JSON?) throws -> [EtcdKeyValue] {
        try array(json, "kvs").map(keyValue)
    }

    static func range(_ answer: JSONObject) throws -> EtcdRange {
        EtcdRange(revision: try revision(answer), kvs: try keyValues(answer["kvs"]))
    }

    static func txnResult(_ answer: JSONObject) throws -> EtcdTxnResult {
        var ranges: [[EtcdKeyValue]] = []
        for response in try array(answer["responses"], "responses") {
            let response = try object(response, "responses[]")
            if let range = response["response_range"] {
                ranges.append(try keyValues(object(range, "response_range")["kvs"]))
            }
        }
        return EtcdTxnResult(succeeded: try bool(answer["succeeded"], "succeeded"), revision: try revision(answer), ranges: ranges)
    }

    static func event(_ json: JSON) throws -> EtcdEvent {
        let event = try object(json, "event")
        let kind: EtcdEvent.Kind
        switch event["type"] {
        case nil, .null?, .string("PUT")?: kind = .put
        case .string("DELETE")?: kind = .delete
        case let other?: throw EtcdError.malformed("event type \(other)")
        }
        let previous = try event["prev_kv"].flatMap { $0.isNull ? nil : try keyValue($0) }
        return EtcdEvent(kind: kind, kv: try keyValue(event["kv"] ?? .object([:])), previous: previous)
    }

    /// The error of an answer with a failure status: `{"error","message","code"}` for a unary
    /// call, `{"error":{"grpc_code","http_code","message"}}` inside a stream.
    static func serverError(status: Int, body: [UInt8]) -> EtcdError {
        guard let answer = try? JSON(parsing: body), let object = answer.objectValue else {
            let text = String(decoding: body.prefix(512), as: UTF8.self)
            return .server(status: status, code: nil, message: text.isEmpty ? "no message" : text)
        }
        return serverError(status: status, object)
    }

    static func serverError(status: Int, _ object: JSONObject) -> EtcdError {
        if case .object(let inner)? = object["error"] {
            let status = inner["http_code"]?.intValue.map(Int.init) ?? status
            return .server(status: status, code: inner["grpc_code"]?.intValue.map(Int.init),
                           message: inner["message"]?.stringValue ?? "\(JSON.object(inner))")
        }
        let message = object["message"]?.stringValue ?? object["error"]?.stringValue ?? "\(JSON.object(object))"
        return .server(status: status, code: object["code"]?.intValue.map(Int.init), message: message)
    }

    /// etcd's message for a lease that does not exist (rpctypes.ErrLeaseNotFound).
    static func isLeaseNotFound(_ error: EtcdError) -> Bool {
        if case .server(_, let code, let message) = error { return (code == nil || code == 5) && message.hasSuffix("requested lease not found") }
        return false
    }
}

/// Splits a byte stream into lines, however the chunks cut it: the watch gateway writes one JSON
/// object per line.
struct LineSplitter {
    /// A line longer than this is refused rather than buffered without end.
    static let maximumLine = 256 << 20
    private var pending: [UInt8] = []

    /// The complete lines in the buffered bytes plus `bytes`, without their `\n` (nor a `\r`
    /// before it); blank lines are skipped. The rest waits for the next call.
    mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                if !pending.isEmpty { lines.append(pending) }
                pending.removeAll(keepingCapacity: true)
            } else {
                guard pending.count < Self.maximumLine else { throw EtcdError.malformed("a watch line longer than \(Self.maximumLine) bytes") }
                pending.append(byte)
            }
        }
        return lines
    }

    /// What is left at the end of the stream (a last object without its newline), if anything.
    mutating func finish() -> [UInt8]? {
        defer { pending = [] }
        return pending.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) ? nil : pending
    }
}

/// One line of a watch stream, read.
enum WatchLine: Equatable {
    /// The watch is set up (the first answer).
    case created
    /// Events, or an empty progress answer.
    case events(revision: Int64, [EtcdEvent])
    /// etcd canceled the watch: its start revision was compacted.
    case compacted(compactRevision: Int64)

    static func == (lhs: WatchLine, rhs: WatchLine) -> Bool {
        switch (lhs, rhs) {
        case (.created, .created): true
        case (.events(let a, let x), .events(let b, let y)): a == b && x.map(\.kv) == y.map(\.kv) && x.map(\.kind) == y.map(\.kind)
            && x.map(\.previous) == y.map(\.previous)
        case (.compacted(let a), .compacted(let b)): a == b
        default: false
        }
    }

    /// Reads one line: `{"result":{…}}`, or `{"error":{…}}` (thrown as ``EtcdError/server``).
    /// A cancel for any other reason than compaction is thrown as well.
    init(parsing line: [UInt8]) throws {
        let json: JSON
        do { json = try JSON(parsing: line) } catch { throw EtcdError.malformed("watch answer: \(error)") }
        guard let outer = json.objectValue else { throw EtcdError.malformed("watch answer is \(json.kindName)") }
        if outer["error"] != nil, outer["result"] == nil { throw EtcdWire.serverError(status: 200, outer) }
        let result = try EtcdWire.object(outer["result"], "result")
        if try EtcdWire.bool(result["canceled"], "canceled") {
            let compactRevision = try EtcdWire.int64(result["compact_revision"], "compact_revision")
            if compactRevision > 0 {
                self = .compacted(compactRevision: compactRevision)
                return
            }
            let reason = result["cancel_reason"]?.stringValue ?? "no reason given"
            throw EtcdError.server(status: 200, code: nil, message: "etcd canceled the watch: \(reason)")
        }
        let events = try EtcdWire.array(result["events"], "events").map(EtcdWire.event)
        if try EtcdWire.bool(result["created"], "created"), events.isEmpty {
            self = .created
            return
        }
        self = .events(revision: try EtcdWire.revision(result), events)
    }
}
