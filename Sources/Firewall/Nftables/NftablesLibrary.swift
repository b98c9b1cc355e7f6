#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// libnftables' entry points, opened with `dlopen` the first time a context is made.
///
/// Linked the usual way, libnftables and what it pulls in (libnftnl, libxtables, libjansson,
/// libgmp) would be loaded and relocated at every exec of every binary that links the
/// Firewall module, the CNI plugin's `VERSION` included; most of those execs never touch
/// nftables. The header (CNftables) still gives the constants.
struct NftablesLibrary: Sendable {
    typealias Context = OpaquePointer

    let newContext: @Sendable @convention(c) (UInt32) -> Context?
    let freeContext: @Sendable @convention(c) (Context?) -> Void
    let setOutputFlags: @Sendable @convention(c) (Context?, UInt32) -> Void
    let bufferOutput: @Sendable @convention(c) (Context?) -> Int32
    let bufferError: @Sendable @convention(c) (Context?) -> Int32
    let runCommands: @Sendable @convention(c) (Context?, UnsafePointer<CChar>?) -> Int32
    let outputBuffer: @Sendable @convention(c) (Context?) -> UnsafePointer<CChar>?
    let errorBuffer: @Sendable @convention(c) (Context?) -> UnsafePointer<CChar>?

    /// The soname Debian's and Fedora's libnftables1 install.
    static let soname = "libnftables.so.1"

    /// Loaded once per process; the handle is never closed.
    static let shared = Result { try NftablesLibrary(soname) }

    private init(_ soname: String) throws {
        guard let handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL) else {
            throw NetworkError(code: .system, message: "cannot load \(soname): \(Self.lastError())")
        }
        func symbol<T>(_ name: String) throws -> T {
            guard let address = dlsym(handle, name) else {
                throw NetworkError(code: .system, message: "\(soname) has no \(name): \(Self.lastError())")
            }
            return unsafeBitCast(address, to: T.self)
        }
        newContext = try symbol("nft_ctx_new")
        freeContext = try symbol("nft_ctx_free")
        setOutputFlags = try symbol("nft_ctx_output_set_flags")
        bufferOutput = try symbol("nft_ctx_buffer_output")
        bufferError = try symbol("nft_ctx_buffer_error")
        runCommands = try symbol("nft_run_cmd_from_buffer")
        outputBuffer = try symbol("nft_ctx_get_output_buffer")
        errorBuffer = try symbol("nft_ctx_get_error_buffer")
    }

    private static func lastError() -> String {
        dlerror().map { String(cString: $0) } ?? "unknown error"
    }
}
