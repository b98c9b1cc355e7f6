#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// Lines on stderr, one per event, as a daemon under systemd or a supervisor logs: the
/// journal adds the time.
struct Log: Sendable {
    var verbose: Bool

    func info(_ message: String) { writeAll("netctld: \(message)\n", to: 2) }

    func debug(_ message: String) {
        if verbose { info(message) }
    }
}
