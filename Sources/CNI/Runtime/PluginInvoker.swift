/// How the runtime finds and runs plugin binaries; tests substitute a fake.
public protocol PluginInvoker: Sendable {
    /// The executable for plugin `type` in `directories`, or `nil`.
    func find(_ type: String, in directories: [String]) -> String?
    /// Runs `executable` for `command` with the CNI variables in `environment` and the config on
    /// stdin; returns its stdout.
    ///
    /// - Throws: the plugin's ``CNIError`` when it fails.
    func run(_ executable: String, command: CNICommand, environment: [String: String], stdin: [UInt8]) throws -> [UInt8]
}

/// Execs real plugins through ``PluginExecutor``, with this process's environment under the
/// CNI variables (as libcni does, so plugins get `PATH` and the like).
public struct ExecPluginInvoker: PluginInvoker {
    public init() {}

    public func find(_ type: String, in directories: [String]) -> String? {
        PluginExecutor.find(type, in: directories)
    }

    public func run(_ executable: String, command: CNICommand, environment: [String: String], stdin: [UInt8]) throws -> [UInt8] {
        // Stale CNI_* from whoever started us must not leak into the plugin's request.
        var merged = PluginMain.processEnvironment().filter { !$0.key.hasPrefix("CNI_") }
        merged.merge(environment) { $1 }
        return try PluginExecutor.run(executable, command: command, environment: merged, stdin: stdin)
    }
}
