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
    private let context: OpaquePointer
    private let namespace: NetNamespace?

    /// Opens a context in `namespace`, or in the calling thread's namespace when `nil`.
    ///
    /// - Throws: ``NetworkError`` when libnftables cannot be set up.
    public init(namespace: NetNamespace? = nil) throws {
        let make = { () -> OpaquePointer? in nft_ctx_new(UInt32(NFT_CTX_DEFAULT)) }
        guard let context = try namespace?.run(make) ?? make() else {
            throw NetworkError(code: .system, message: "cannot create a libnftables context")
        }
        // JSON output is also the switch that makes libnftables 1.0.6 parse JSON input.
        nft_ctx_output_set_flags(context, UInt32(NFT_CTX_OUTPUT_JSON))
        guard nft_ctx_buffer_output(context) == 0, nft_ctx_buffer_error(context) == 0 else {
            nft_ctx_free(context)
            throw NetworkError(code: .system, message: "cannot buffer libnftables output")
        }
        self.context = context
        self.namespace = namespace
    }

    deinit { nft_ctx_free(context) }

    public func run(_ commands: String) throws -> String {
        let body = { [context] () -> (status: Int32, output: String, error: String) in
            let status = nft_run_cmd_from_buffer(context, commands)
            // Reading a buffer also empties it for the next command.
            let output = String(cString: nft_ctx_get_output_buffer(context))
            let error = String(cString: nft_ctx_get_error_buffer(context))
            return (status, output, error)
        }
        let result = try namespace?.run(body) ?? body()
        guard result.status == 0 else { throw NftablesError(message: result.error) }
        return result.output
    }
}
