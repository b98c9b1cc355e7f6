#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// What a CNI plugin implements; ``PluginMain`` does the rest of the protocol.
public protocol CNIPlugin {
    /// Sets up the attachment and returns the result (with `prevResult` passed through or amended).
    func add(_ request: CNIRequest) throws -> CNIResult
    /// Tears down the attachment; what is already gone is success.
    func delete(_ request: CNIRequest) throws
    /// Verifies the attachment still matches `prevResult`.
    func check(_ request: CNIRequest) throws
    /// Removes everything this plugin made for attachments not in the valid set.
    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws
    /// Whether the plugin is ready; throw code 50 or 51 when not.
    func status(_ request: CNIRequest) throws
}

/// The protocol around a plugin: parse the request, dispatch, print the result or the error
/// JSON on stdout, and return the exit status.
public enum PluginMain {
    /// Runs one invocation.
    ///
    /// - Parameters:
    ///   - write: receives everything meant for stdout.
    /// - Returns: the exit status: 0 on success, 1 on error.
    public static func run(_ plugin: some CNIPlugin, environment: [String: String], stdin: [UInt8],
                           write: (String) -> Void) -> Int32 {
        var version = CNIVersion.current
        do {
            let request = try CNIRequest(environment: environment, stdin: stdin)
            version = request.version
            PhaseTrace.mark("request parsed")
            switch request.command {
            case .version:
                let versions = JSON.array(CNIVersion.supported.map { .string($0.description) })
                write(JSON.object(["cniVersion": .string(CNIVersion.current.description), "supportedVersions": versions]).serialized(pretty: true) + "\n")
            case .add:
                write(try plugin.add(request).json(version: version).serialized(pretty: true) + "\n")
            case .delete:
                try plugin.delete(request)
            case .check:
                try plugin.check(request)
            case .gc:
                try plugin.gc(request, validAttachments: try request.config.validAttachments())
            case .status:
                try plugin.status(request)
            }
            PhaseTrace.mark("result written")
            return 0
        } catch {
            // An error before the request was whole (a command the config's version lacks, a
            // bad variable) still speaks the config's version when it is one we speak.
            if version == .current, let declared = Self.declaredVersion(in: stdin) { version = declared }
            write(CNIError(error).json(cniVersion: version).serialized(pretty: true) + "\n")
            return 1
        }
    }

    /// The config's `cniVersion`, when it is readable and supported.
    static func declaredVersion(in stdin: [UInt8]) -> CNIVersion? {
        guard let text = (try? JSON(parsing: stdin))?["cniVersion"]?.stringValue, let version = CNIVersion(text),
              CNIVersion.supported.contains(version) else { return nil }
        return version
    }

    /// The process's environment as a dictionary.
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// Everything on stdin.
    public static func readStandardInput() throws -> [UInt8] {
        var bytes: [UInt8] = []
        // A network config is a few KiB: a larger buffer only costs page faults to zero it.
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = try systemCall("read", "stdin") { buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) } }
            if count == 0 { return bytes }
            bytes.append(contentsOf: buffer[0..<count])
        }
    }
}
