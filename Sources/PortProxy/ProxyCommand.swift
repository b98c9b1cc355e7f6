#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore
import ProxyClient

/// The `netctl-proxy` command line, and the process it runs:
///
///     netctl-proxy [--ready-fd N] [--udp-idle-timeout SECONDS] [--max-udp-flows N]
///                  [--pipe-size BYTES] --forward RULE [--forward RULE ...]
///
/// `RULE` is `PROTO:ADDRESS:PORT=ADDRESS:PORT` as ``ForwardRule/parse(_:)`` reads it. The
/// process binds every listener before it reports anything, then writes `ok` or
/// `error: MESSAGE` as one line to the ready descriptor and closes it, so a launcher knows
/// for certain whether all ports are served. `SIGTERM` closes the listeners and exits 0.
public struct ProxyCommand: Sendable {
    public var rules: [ForwardRule] = []
    public var configuration = ProxyConfiguration()
    /// An inherited descriptor to report readiness on; `nil` reports errors on stderr only.
    public var readyDescriptor: Int32?

    /// Reads the arguments after the program name.
    ///
    /// - Throws: ``NetworkError`` naming the option or value that is wrong.
    public init(arguments: [String]) throws {
        var remaining = arguments[...]
        func value(of option: String) throws -> String {
            guard let value = remaining.popFirst() else {
                throw NetworkError(code: .invalidArgument, message: "option \(option) needs a value")
            }
            return value
        }
        while let argument = remaining.popFirst() {
            switch argument {
            case "--forward":
                rules += try ForwardRule.parse(value(of: argument))
            case "--ready-fd":
                let text = try value(of: argument)
                guard let fd = Int32(text), fd >= 0 else {
                    throw NetworkError.invalid("--ready-fd", text, "must be a descriptor number")
                }
                readyDescriptor = fd
            case "--udp-idle-timeout":
                let text = try value(of: argument)
                guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
                    throw NetworkError.invalid("--udp-idle-timeout", text, "must be a positive number of seconds")
                }
                configuration.udpIdleTimeout = seconds
            case "--max-udp-flows":
                let text = try value(of: argument)
                guard let count = Int(text), count > 0 else {
                    throw NetworkError.invalid("--max-udp-flows", text, "must be a positive number")
                }
                configuration.maxUDPFlows = count
            case "--pipe-size":
                let text = try value(of: argument)
                guard let size = Int(text), (4096...(1 << 30)).contains(size) else {
                    throw NetworkError.invalid("--pipe-size", text, "must be a byte count from 4096 up")
                }
                configuration.pipeSize = size
            default:
                throw NetworkError(code: .invalidArgument, message: "unknown argument \"\(argument)\"")
            }
        }
        guard !rules.isEmpty else {
            throw NetworkError(code: .invalidArgument, message: "no --forward rule given")
        }
    }

    /// Runs the proxy as the process's main program and returns its exit status.
    public static func main(_ arguments: [String]) -> Int32 {
        var readyDescriptor = readyDescriptor(in: arguments)
        do {
            let command = try ProxyCommand(arguments: Array(arguments.dropFirst()))
            readyDescriptor = command.readyDescriptor
            // A daemon must not keep the launcher's working directory (and its mount) busy.
            _ = chdir("/")
            raiseDescriptorLimit()
            let server = try ProxyServer(rules: command.rules, configuration: command.configuration)
            try server.handleTerminationSignals()
            if let fd = readyDescriptor, !reportReadyAndAwaitKeeping(fd) {
                return 0 // the launcher went away before it recorded this proxy
            }
            try server.run()
            return 0
        } catch {
            let message = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
            if let fd = readyDescriptor {
                report("error: \(message)\n", to: fd)
            }
            report("netctl-proxy: \(message)\n", to: STDERR_FILENO)
            return ProxyExitStatus.status(for: (error as? NetworkError)?.code ?? .system)
        }
    }

    /// The ready descriptor, found even when the rest of the command line does not parse, so
    /// that error reaches the launcher too.
    private static func readyDescriptor(in arguments: [String]) -> Int32? {
        guard let index = arguments.firstIndex(of: "--ready-fd"), index + 1 < arguments.count else { return nil }
        return Int32(arguments[index + 1])
    }

    /// Writes the ready line on `fd`, then waits for the launcher's byte that keeps this
    /// proxy; the end of the channel without it means no one will ever stop this proxy, so
    /// it must not serve. Closes `fd`.
    private static func reportReadyAndAwaitKeeping(_ fd: Int32) -> Bool {
        writeAll("ok\n", to: fd)
        defer { close(fd) }
        var byte: UInt8 = 0
        while true {
            let count = read(fd, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            return count == 1
        }
    }

    /// Writes `text` and closes `fd`, unless it is stderr.
    private static func report(_ text: String, to fd: Int32) {
        writeAll(text, to: fd)
        if fd != STDERR_FILENO { close(fd) }
    }

    /// Raises the soft descriptor limit to the hard one: each TCP connection holds two
    /// sockets, and each direction of it a pipe while data is in flight.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
