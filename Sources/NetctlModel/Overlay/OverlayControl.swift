#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// Runs an overlay operation against etcd in `netctld overlay …`: `netctl` itself links no
/// etcd or HTTP client (it starts as fast as before). The daemon reaches etcd the way this
/// host's agent recorded, prints one JSON object on stdout (`{"error": {"code", "message"}}`
/// when it failed) and exits.
enum OverlayControl {
    static func run(_ arguments: [String]) throws -> JSON {
        guard let daemon = locateExecutable(named: "netctld") else {
            throw NetworkError(code: .notFound, message: "netctld is neither beside netctl nor on PATH: install it with `make install`")
        }
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw NetworkError(code: .system, message: "cannot make a pipe", cause: Errno.current) }
        // Neither end may leak into the child beyond the dup2 onto its stdout.
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        let pid: pid_t
        do {
            pid = try Spawn.start(daemon, arguments: ["netctld", "overlay"] + arguments) { actions in
                posix_spawn_file_actions_adddup2(&actions, ends[1], 1)
            }
        } catch {
            close(ends[0])
            close(ends[1])
            throw NetworkError(code: .system, message: "cannot run \(daemon)", cause: error as? Errno)
        }
        close(ends[1])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(ends[0], &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            output += buffer[..<count]
        }
        close(ends[0])
        let status = Spawn.wait(pid)
        guard let json = try? JSON(parsing: String(decoding: output, as: UTF8.self)) else {
            throw NetworkError(code: .system, message: "netctld overlay \(arguments.first ?? "") failed (exit status \(status)) without saying why")
        }
        if let error = json["error"] {
            let code = error["code"]?.stringValue.flatMap(NetworkError.Code.init(rawValue:)) ?? .system
            throw NetworkError(code: code, message: error["message"]?.stringValue ?? "netctld overlay failed")
        }
        return json
    }
}
