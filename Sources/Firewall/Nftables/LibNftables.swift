import CNftables
import Namespaces
import NetCore

/// A libnftables context: parses a JSON batch and applies it as one netlink transaction.
///
/// Not `Sendable`: a context must be used by one thread at a time. When it belongs to
/// another network namespace every call runs on a thread inside that namespace, because
/// libnftables may reopen its netlink socket (after an interrupted dump) in whatever
/// namespace the calling thread is in.
public final class LibNftables: NftablesTransport {
    private let library: NftablesLibrary
    private let context: OpaquePointer
    private let namespace: NetNamespace?

    /// Opens a context in `namespace`, or in the calling thread's namespace when `nil`.
    ///
    /// - Throws: ``NetworkError`` when libnftables cannot be set up.
    public init(namespace: NetNamespace? = nil) throws {
        let library = try NftablesLibrary.shared.get()
        PhaseTrace.mark("libnftables loaded")
        // The context's socket is a netfilter one (see `NetfilterSocketRelease`).
        BackgroundRelease.noteNetfilterSocket()
        let make = { () -> OpaquePointer? in library.newContext(UInt32(NFT_CTX_DEFAULT)) }
        guard let context = try namespace?.run(make) ?? make() else {
            throw NetworkError(code: .system, message: "cannot create a libnftables context")
        }
        // JSON output is also the switch that makes libnftables 1.0.6 parse JSON input.
        library.setOutputFlags(context, UInt32(NFT_CTX_OUTPUT_JSON))
        guard library.bufferOutput(context) == 0, library.bufferError(context) == 0 else {
            library.freeContext(context)
            throw NetworkError(code: .system, message: "cannot buffer libnftables output")
        }
        self.library = library
        self.context = context
        self.namespace = namespace
        PhaseTrace.mark("libnftables context")
    }

    deinit { library.freeContext(context) }

    public func run(_ commands: String) throws -> String {
        try FaultInjection.check(.nftables)
        let body = { [context, library] () -> (status: Int32, output: String, error: String) in
            let status = library.runCommands(context, commands)
            // Reading a buffer also empties it for the next command.
            let output = library.outputBuffer(context).map { String(cString: $0) } ?? ""
            let error = library.errorBuffer(context).map { String(cString: $0) } ?? ""
            return (status, output, error)
        }
        let result = try namespace?.run(body) ?? body()
        guard result.status == 0 else { throw NftablesError(message: result.error) }
        return result.output
    }
}

/// A ``LibNftables`` context made on the first batch: a process whose batches all go another
/// way (``NftnlElements``) never loads libnftables.
final class DeferredLibNftables: NftablesTransport {
    private let namespace: NetNamespace?
    private var opened: LibNftables?

    init(namespace: NetNamespace?) { self.namespace = namespace }

    func run(_ commands: String) throws -> String {
        if let opened { return try opened.run(commands) }
        let context = try LibNftables(namespace: namespace)
        opened = context
        return try context.run(commands)
    }
}
