#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI
import Drivers
import NetCore

/// Where an interface plugin gets its addresses: the `ipam` section's plugin, run in this
/// process when it is our own `host-local` and exec'd from `CNI_PATH` otherwise.
protocol IPAMBackend {
    func add(_ request: CNIRequest) throws -> CNIResult
    func delete(_ request: CNIRequest) throws
    func check(_ request: CNIRequest) throws
    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws
    func status(_ request: CNIRequest) throws
}

/// An IPAM plugin exec'd as the spec says, with the same environment and the whole config.
struct DelegatedIPAM: IPAMBackend {
    let executable: String

    func add(_ request: CNIRequest) throws -> CNIResult {
        try CNIResult(json: JSON(parsing: run(.add, request)))
    }
    func delete(_ request: CNIRequest) throws { _ = try run(.delete, request) }
    func check(_ request: CNIRequest) throws { _ = try run(.check, request) }
    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws { _ = try run(.gc, request) }
    func status(_ request: CNIRequest) throws { _ = try run(.status, request) }

    private func run(_ command: CNICommand, _ request: CNIRequest) throws -> [UInt8] {
        try PluginExecutor.run(executable, command: command, environment: request.environment,
                               stdin: Array(JSON.object(request.config.raw).serialized().utf8))
    }
}

extension CNIRequest {
    /// The IPAM backend the config names, or `nil` when it has no `ipam` section (layer 2 only).
    ///
    /// - Throws: ``CNIError`` code 7 when the type is missing or cannot be found in `CNI_PATH`.
    func ipamBackend() throws -> (any IPAMBackend)? {
        guard let ipam = try config.object("ipam"), !ipam.isEmpty else { return nil }
        guard let type = ipam["type"]?.stringValue, !type.isEmpty else {
            throw CNIError(.invalidConfig, "invalid \"ipam\": missing \"type\"")
        }
        guard let executable = PluginExecutor.find(type, in: path) else {
            throw CNIError(.invalidConfig, "IPAM plugin \"\(type)\" not found in CNI_PATH \"\(path.joined(separator: ":"))\"")
        }
        if type == "host-local", isThisExecutable(executable) {
            return HostLocalIPAM()
        }
        return DelegatedIPAM(executable: executable)
    }

    /// `CNI_PATH`'s entry is this very binary (a symlink or hard link to it): skip the exec.
    private func isThisExecutable(_ path: String) -> Bool {
        var mine = stat(), theirs = stat()
        guard stat("/proc/self/exe", &mine) == 0, stat(path, &theirs) == 0 else { return false }
        return mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino
    }
}

extension CNIResult {
    /// The addresses and routes an IPAM result gives the container interface.
    var ipConfiguration: IPConfiguration {
        IPConfiguration(
            assignments: ips.map { IPConfiguration.Assignment(address: $0.address, gateway: $0.gateway) },
            routes: routes.map { IPConfiguration.route(to: $0.destination, via: $0.gateway, metric: $0.priority.map { UInt32($0) }) })
    }
}
