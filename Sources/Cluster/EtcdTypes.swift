/// One key as etcd stores it. Keys and values are UTF-8 text here (etcd's are bytes: a value that
/// is not UTF-8 reads with replacement characters).
public struct EtcdKeyValue: Sendable, Hashable {
    public var key: String
    public var value: String
    /// The revision of the put that created the key (0 for a deleted key in a watch event).
    public var createRevision: Int64
    /// The revision of the last change of the key: its last put, or for a watch's delete event
    /// the delete's revision.
    public var modRevision: Int64
    /// Puts since the key was created (1 after the first); 0 for a key that does not exist.
    public var version: Int64
    /// The lease the key lives on; 0 for none.
    public var lease: Int64

    public init(key: String, value: String, createRevision: Int64 = 0, modRevision: Int64 = 0, version: Int64 = 0, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}

/// The keys a range found, with the store's revision at the time: a watch of the same keys from
/// `revision + 1` misses nothing and repeats nothing.
public struct EtcdRange: Sendable {
    public var revision: Int64
    public var kvs: [EtcdKeyValue]

    public init(revision: Int64, kvs: [EtcdKeyValue]) {
        self.revision = revision
        self.kvs = kvs
    }
}

/// One condition of a transaction (all are `EQUAL` comparisons).
public enum EtcdCompare: Sendable {
    /// `version(key) == n`; `n == 0` means the key does not exist.
    case versionEquals(key: String, Int64)
    case modRevisionEquals(key: String, Int64)
    case valueEquals(key: String, String)
    /// `lease(key) == id`; 0 for a key on no lease.
    case leaseEquals(key: String, Int64)
}

/// One operation of a transaction branch.
public enum EtcdOperation: Sendable {
    case put(key: String, value: String, lease: Int64?)
    case delete(key: String, prefix: Bool)
    case range(key: String, prefix: Bool)
}

public struct EtcdTxnResult: Sendable {
    /// Whether every compare held, so the success branch ran.
    public var succeeded: Bool
    /// The store's revision after the transaction.
    public var revision: Int64
    /// The keys of each range operation of the branch that ran, in order.
    public var ranges: [[EtcdKeyValue]]

    public init(succeeded: Bool, revision: Int64, ranges: [[EtcdKeyValue]]) {
        self.succeeded = succeeded
        self.revision = revision
        self.ranges = ranges
    }
}

public struct EtcdEvent: Sendable {
    public enum Kind: Sendable { case put, delete }
    public var kind: Kind
    /// For a put, the key as written; for a delete, its key and the delete's `modRevision` (value
    /// empty, other fields 0).
    public var kv: EtcdKeyValue
    /// The key before this change (watches ask for it): the last value of a deleted key, also
    /// when a lease expiry deleted it; `nil` for the first put of a key.
    public var previous: EtcdKeyValue?

    public init(kind: Kind, kv: EtcdKeyValue, previous: EtcdKeyValue?) {
        self.kind = kind
        self.kv = kv
        self.previous = previous
    }
}

public enum EtcdWatchMessage: Sendable {
    /// The events of one watch response, all at revisions up to `revision` (the store's revision
    /// when etcd sent them). Never empty.
    case events(revision: Int64, [EtcdEvent])
    /// etcd canceled the watch because its start revision was compacted away: list again, then
    /// watch from the listed revision + 1. The stream ends after this message.
    case compacted(compactRevision: Int64)
}

public enum EtcdError: Error, CustomStringConvertible {
    /// The lease does not exist (it expired or was revoked).
    case leaseNotFound(Int64)
    /// No endpoint answered; the message names each endpoint and what went wrong with it.
    case unavailable(String)
    /// etcd answered with an error: the HTTP status, the gRPC status code when etcd gave one,
    /// and its message.
    case server(status: Int, code: Int?, message: String)
    /// An answer that is not what etcd's gateway sends.
    case malformed(String)

    public var description: String {
        switch self {
        case .leaseNotFound(let id): "etcd lease \(id) not found (expired or revoked)"
        case .unavailable(let message): "etcd unavailable: \(message)"
        case .server(let status, let code, let message):
            "etcd error (HTTP \(status)\(code.map { ", code \($0)" } ?? "")): \(message)"
        case .malformed(let message): "malformed answer from etcd: \(message)"
        }
    }
}
