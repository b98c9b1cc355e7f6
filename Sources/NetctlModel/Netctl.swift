#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Drivers
import IPAM
import Namespaces
import NetCore
import ProxyClient
import Publishing
import Store

/// The CNM model behind the `netctl` CLI: networks, sandboxes and endpoints kept in the state
/// store, set up through the same drivers, IPAM and firewall as the CNI plugins.
///
/// Every operation is transactional (a failure undoes what it did) and every removal is
/// idempotent. Not `Sendable`: one per process.
public final class Netctl {
    let store: StateStore
    let tables: ModelTables
    let docker: DockerTables
    let overlay: OverlayTables
    /// Set while the agent takes an overlay network off this host (not off every host).
    var removesOverlayLocally = false
    /// What runs an overlay operation against etcd; tests put a fake here (see OverlayControl).
    var overlayControl: ([String]) throws -> JSON = OverlayControl.run
    private var openedFirewall: FirewallRegistry?
    /// Where what went wrong beside the point of an operation that succeeded is told
    /// (stderr by default).
    public var warn: (String) -> Void = { message in writeAll("warning: \(message)\n", to: 2) }

    /// How errors name the request's fields: the front end's words for them.
    public let names: FieldNames
    /// Tests put a fake driver here: it serves the networks it returns one for.
    var driverOverride: ((NetworkRecord) -> (any NetworkDriver)?)?
    /// Tests with fake drivers turn it off: no resolver is started for their networks.
    var launchesResolver = true

    /// Opens the state store in `stateDirectory` (`NETCTL_STATE_DIR` or `/var/lib/netctl` when `nil`).
    ///
    /// - Parameter names: how errors name the fields of requests (the CLI passes its flags).
    public init(stateDirectory: String? = nil, names: FieldNames = FieldNames()) throws {
        self.names = names
        store = try StateStore(directory: stateDirectory, schema: Self.schema)
        tables = ModelTables(database: store.database)
        docker = DockerTables(database: store.database)
        overlay = OverlayTables(database: store.database)
    }

    /// The firewall, opened on first use: commands that never touch it never load libnftables.
    func firewall() throws -> FirewallRegistry {
        if let openedFirewall { return openedFirewall }
        let registry = try FirewallRegistry.onHost(store: store, proxyExecutable: ProxyProcess.locate())
        openedFirewall = registry
        return registry
    }

    /// Right before a netctl process exits, after everything is written: the kernel's wait
    /// after a ruleset change goes to a child (stdio is closed).
    public static func prepareForExit() {
        PublishingExit.leaveReclaimToAChild()
    }

    func allocator() throws -> AddressAllocator { try AddressAllocator(store: store) }

    /// The key under which IPAM and the firewall keep a netctl network's state, apart from
    /// CNI networks of the same name.
    static func stateKey(_ network: String) -> String { "netctl:\(network)" }

    static func now() -> Int64 { Int64(time(nil)) }

    /// 64 random hex digits, as Docker's IDs.
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let digits = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
    }

    /// A store another process kept locked past the wait: "busy" (exit 5), in words.
    public static func busyStoreError(_ error: any Error) -> NetworkError? {
        guard let error = error as? SQLiteError, error.isBusy else { return nil }
        return NetworkError(code: .busy, message: "the state store is busy: another process held its lock for 10 s; try again", cause: error)
    }

    static func notFound(_ kind: String, _ name: String) -> NetworkError {
        NetworkError(code: .notFound, message: "no such \(kind): \"\(name)\"")
    }

    /// Docker's name rule, so names are safe in paths and keys.
    static func validateName(_ name: String, field: String) throws {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
        guard !name.isEmpty, name.utf8.count <= 64, allowed, name.first?.isLetter == true || name.first?.isNumber == true else {
            throw NetworkError.invalid(field, name, "must be 1-64 characters of [a-zA-Z0-9_.-], starting with a letter or digit")
        }
    }
}
