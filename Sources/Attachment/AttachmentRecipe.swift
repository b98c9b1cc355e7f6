import Drivers
import NetCore

/// Where an attachment's addresses come from: netctl's IPAM, or a CNI IPAM plugin.
public protocol AddressLeasing {
    /// Takes the attachment's addresses and says what the interface gets.
    func lease() throws -> IPConfiguration
    /// Gives them back. Nothing leased is success.
    func release() throws
}

/// What an attachment publishes once its interface exists: ports, masquerade, a MAC guard.
public protocol AttachmentPublishing {
    /// For messages: `publish ports`, `masquerade`…
    var name: String { get }
    func publish(_ attached: AttachedInterfaces?, ip: IPConfiguration) throws
    /// Takes back what ``publish(_:ip:)`` did. Nothing published is success.
    func unpublish() throws
}

/// What an attachment got: its addresses (and routes) and the links its driver made.
public struct Attached {
    public var ip: IPConfiguration
    public var interfaces: AttachedInterfaces?
}

/// The one recipe every front end runs for an attachment: lease → driver.attach →
/// publishing, each step's undo on one ``UndoStack``, so a failure anywhere unwinds the steps
/// before it in reverse; and its mirror teardown. The CLI model runs all three steps; a CNI
/// plugin runs the steps it owns (bridge and macvlan: lease and link, with `ipMasq` and
/// `macspoofchk`; portmap: publishing, on the `null` driver).
public struct AttachmentRecipe {
    public let driver: any NetworkDriver
    public let addresses: (any AddressLeasing)?
    public let publishing: [any AttachmentPublishing]
    /// Last changes to the IP configuration before the driver sees it (the routes the
    /// sandbox lacks, say), with the context's sockets at hand.
    public let prepare: (inout IPConfiguration, AttachmentContext) throws -> Void

    public init(driver: any NetworkDriver, addresses: (any AddressLeasing)? = nil, publishing: [any AttachmentPublishing] = [],
                prepare: @escaping (inout IPConfiguration, AttachmentContext) throws -> Void = { _, _ in }) {
        self.driver = driver
        self.addresses = addresses
        self.publishing = publishing
        self.prepare = prepare
    }

    /// Runs the recipe. All or nothing: when a step fails, what the steps before it did is
    /// undone in reverse and the error is thrown.
    public func attach(_ context: AttachmentContext, mac: MACAddress? = nil) throws -> Attached {
        try UndoStack.transaction { undo in
            try run(context, mac: mac, undo: &undo)
        }
    }

    /// The recipe's steps on the caller's stack, for a caller with steps of its own after
    /// them (the model records the endpoint in the same transaction).
    public func run(_ context: AttachmentContext, mac: MACAddress?, undo: inout UndoStack) throws -> Attached {
        var ip = IPConfiguration()
        if let addresses {
            ip = try addresses.lease()
            undo.push("release the addresses of \(context.id)") { try addresses.release() }
        }
        try prepare(&ip, context)
        let interfaces = try driver.attach(context, ip: ip, mac: mac)
        undo.push("detach \(context.id)") { try driver.detach(context) }
        for step in publishing {
            try step.publish(interfaces, ip: ip)
            undo.push("\(step.name) of \(context.id)") { try step.unpublish() }
        }
        return Attached(ip: ip, interfaces: interfaces)
    }

    /// The mirror of ``attach(_:mac:)``: publishing in reverse, the driver, the addresses.
    /// Every step is tried whatever the others did; idempotent.
    ///
    /// - Returns: each step that failed, with its error (empty when all went).
    public func detach(_ context: AttachmentContext) -> [(name: String, error: any Error)] {
        var failures: [(name: String, error: any Error)] = []
        func attempt(_ name: String, _ body: () throws -> Void) {
            do { try body() } catch { failures.append((name, error)) }
        }
        for step in publishing.reversed() { attempt(step.name) { try step.unpublish() } }
        attempt("remove the interface") { try driver.detach(context) }
        if let addresses { attempt("release the addresses") { try addresses.release() } }
        return failures
    }
}
