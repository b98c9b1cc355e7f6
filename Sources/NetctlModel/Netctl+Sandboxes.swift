#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Drivers
import Namespaces
import NetCore

/// How a new sandbox gets its network namespace (`sandbox create --network`).
public enum SandboxMode: Sendable, Hashable {
    /// A new namespace with only `lo` up (Docker's `none`).
    case none
    /// The host's namespace.
    case host
    /// The namespace of another sandbox: its interfaces and localhost are shared.
    case container(String)

    /// - Parameter field: how the caller names the field, for the error.
    public init(parsing text: String, field: String = FieldNames().networkMode) throws {
        switch text {
        case "none", "null", "": self = .none
        case "host": self = .host
        default:
            guard text.hasPrefix("container:"), text.count > "container:".count else {
                throw NetworkError.invalid(field, text, "must be none, host or container:<sandbox>")
            }
            self = .container(String(text.dropFirst("container:".count)))
        }
    }
}

extension Netctl {
    /// Where a sandbox of the host's namespace points: the namespace of whichever process opens
    /// it, netctl's own (or, handed to a runtime, the runtime's). "The host" is the namespace
    /// netctl runs in, never PID 1's, which may be another one altogether (a container, a
    /// test sandbox made with `unshare --net`).
    static let hostNamespacePath = "/proc/self/ns/net"

    /// The namespace netctl runs in, opened now.
    static func hostNamespace() throws -> NetNamespace {
        try NetNamespace.open(path: hostNamespacePath)
    }

    /// Whether `namespace` is the one netctl runs in, by device and inode: paths differ
    /// (`/proc/self/ns/net`, `/proc/PID/ns/net`, a bind mount) for one namespace.
    static func isHostNamespace(_ namespace: NetNamespace) -> Bool {
        namespace.identity == NetNamespace.Identity.of(path: hostNamespacePath)
    }

    /// As ``isHostNamespace(_:)`` for the namespace at `path`.
    static func isHostNamespace(_ path: String) throws -> Bool {
        isHostNamespace(try NetNamespace.open(path: path))
    }

    public func sandboxes() throws -> [SandboxRecord] { try tables.sandboxes() }

    public func sandbox(_ name: String) throws -> SandboxRecord {
        guard let sandbox = try tables.sandbox(name) else { throw Self.notFound("sandbox", name) }
        return sandbox
    }

    /// Creates a sandbox: a persistent namespace at `/run/netns/NAME` with `lo` up, the host's
    /// namespace, or another sandbox's.
    public func createSandbox(name: String?, mode: SandboxMode = .none) throws -> SandboxRecord {
        let id = Self.newID()
        let name = name ?? "sb-" + id.prefix(12)
        try Self.validateName(name, field: "sandbox name")
        return try store.database.immediateTransaction {
            if try tables.sandbox(name) != nil {
                throw NetworkError(code: .alreadyExists, message: "sandbox \"\(name)\" already exists")
            }
            var record = SandboxRecord(name: name, id: id, path: "", isOwned: false, sharesWith: nil, created: Self.now())
            switch mode {
            case .none:
                let namespace = try NetNamespace.create(named: name)
                do {
                    try HostLinks.setLoopback(in: namespace, up: true)
                } catch {
                    try? NetNamespace.delete(named: name)
                    throw error
                }
                record.path = namespace.path
                record.isOwned = true
            case .host:
                record.path = Self.hostNamespacePath
            case .container(let other):
                let target = try sandbox(other)
                record.path = target.path
                record.sharesWith = target.name
            }
            do {
                try tables.insert(record)
            } catch {
                if record.isOwned { try? NetNamespace.delete(path: record.path) }
                throw error
            }
            return record
        }
    }

    /// The sandbox named `nameOrPath`, or for a path that no sandbox has, a new record of that
    /// namespace (a runtime's; netctl will not delete it). `check` sees the namespace path
    /// first, so a refused connect leaves no new record behind.
    func sandbox(forConnecting nameOrPath: String, check: (String) throws -> Void = { _ in }) throws -> SandboxRecord {
        if let known = try tables.sandbox(nameOrPath) {
            try check(known.path)
            return known
        }
        guard nameOrPath.contains("/") else { throw Self.notFound("sandbox", nameOrPath) }
        _ = try NetNamespace.open(path: nameOrPath) // refuse what is not a network namespace
        try check(nameOrPath)
        return try store.database.immediateTransaction {
            if let known = try tables.sandbox(nameOrPath) { return known } // a concurrent connect made it
            let id = Self.newID()
            let base = nameOrPath.split(separator: "/").last.map(String.init) ?? "netns"
            var name = base
            let taken = try tables.sandbox(name) != nil
            if (try? Self.validateName(name, field: "")) == nil || taken { name = "ns-" + id.prefix(12) }
            let record = SandboxRecord(name: name, id: id, path: nameOrPath, isOwned: false, sharesWith: nil, created: Self.now())
            try tables.insert(record)
            return record
        }
    }

    /// Removes a sandbox: refused while it has endpoints or others share its namespace,
    /// unless `force` (which disconnects them). Missing is success.
    @discardableResult
    public func removeSandbox(_ name: String, force: Bool = false) throws -> Bool {
        guard let sandbox = try tables.sandbox(name) else { return false }
        let endpoints = try tables.endpoints(sandbox: sandbox.name)
        let sharing = try tables.sandboxes().filter { $0.sharesWith == sandbox.name }
        if !force, !endpoints.isEmpty || !sharing.isEmpty {
            let users = endpoints.map { "network \($0.network)" } + sharing.map { "sandbox \($0.name)" }
            throw NetworkError(code: .busy, message: "sandbox \"\(sandbox.name)\" is in use (\(users.joined(separator: ", "))); use --force")
        }
        for endpoint in endpoints { try disconnect(network: endpoint.network, sandbox: sandbox.name, force: true) }
        for other in sharing { try removeSandbox(other.name, force: true) }
        if sandbox.isOwned {
            removeResolvConf(of: sandbox)
            do {
                try NetNamespace.delete(path: sandbox.path)
            } catch let error as NetworkError where error.code == .notFound {
                // Already gone.
            }
        }
        try tables.deleteSandbox(sandbox.name)
        return true
    }
}
