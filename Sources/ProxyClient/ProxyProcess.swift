#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import NetCore

/// Starts and stops `netctl-proxy` processes for the code that publishes ports.
///
/// The proxy runs detached (its own session, stdio on `/dev/null`) so it outlives the command
/// that started it; the caller keeps the returned PID in the store and hands it to ``stop(pid:timeout:)``
/// on teardown.
public enum ProxyProcess {
    /// The executable's file name. ``stop(pid:timeout:)`` signals only a process whose
    /// `argv[0]` ends in it, because a stored PID may have been reused by now.
    public static let executableName = "netctl-proxy"

    /// Where the proxy writes its ready line: always this descriptor in the child.
    static let readyDescriptor: Int32 = 3

    /// Spawns a proxy serving `rules`, waits until it has bound every listener, and keeps it.
    ///
    /// - Parameters:
    ///   - executable: the path of `netctl-proxy`.
    ///   - rules: every port of one endpoint; one process serves them all.
    ///   - configuration: the proxy's tunables.
    ///   - timeout: seconds to wait for the ready line.
    /// - Returns: the proxy's PID.
    /// - Throws: ``NetworkError`` with the proxy's own message, such as
    ///   `cannot listen on 127.0.0.1:8080/tcp: Address already in use`. The proxy has exited
    ///   and been reaped by then, with none of its listeners left open.
    public static func start(executable: String, rules: [ForwardRule],
                             configuration: ProxyConfiguration = ProxyConfiguration(),
                             timeout: Double = 10) throws -> Int32 {
        let proxy = try startPending(executable: executable, rules: rules, configuration: configuration, timeout: timeout)
        proxy.keep()
        return proxy.pid
    }

    /// As ``start(executable:rules:configuration:timeout:)``, but the proxy serves only once
    /// ``PendingProxy/keep()`` is called: the caller records its PID first. Should the caller
    /// die before, the proxy sees its channel close and exits, so no proxy outlives a launcher
    /// that never recorded it.
    public static func startPending(executable: String, rules: [ForwardRule],
                                    configuration: ProxyConfiguration = ProxyConfiguration(),
                                    timeout: Double = 10) throws -> PendingProxy {
        guard !rules.isEmpty else {
            throw NetworkError(code: .invalidArgument, message: "no forward rules to serve")
        }
        let arguments = [executable, "--ready-fd", "\(readyDescriptor)"] + configuration.arguments
            + ForwardRule.specs(for: rules).flatMap { ["--forward", $0] }
        var fds: [Int32] = [-1, -1]
        try systemCall("socketpair", "ready channel") { cportproxy_socketpair(&fds) }
        var ourEnd = fds[0]
        var childEnd = fds[1]
        defer {
            if ourEnd >= 0 { close(ourEnd) }
            if childEnd >= 0 { close(childEnd) }
        }
        // The child's dup2 onto descriptor 3 must be a real copy, which clears close-on-exec;
        // keep both ends clear of 0-3 so the stdio redirections cannot clobber them either.
        ourEnd = try movedAbove(readyDescriptor, ourEnd)
        childEnd = try movedAbove(readyDescriptor, childEnd)

        let pid = try spawn(executable, arguments: arguments, readyEnd: childEnd)
        close(childEnd)
        childEnd = -1

        let line = readLine(from: ourEnd, timeout: timeout)
        if line == "ok" {
            defer { ourEnd = -1 }
            return PendingProxy(pid: pid, channel: ourEnd)
        }
        if line == nil { kill(pid, SIGKILL) }
        let status = reap(pid)
        if let line, line.hasPrefix("error: ") {
            throw NetworkError(code: ProxyExitStatus.code(forExitStatus: status), message: String(line.dropFirst("error: ".count)))
        }
        let reason = line == nil ? "did not report readiness within \(timeout) s" : "exited before it was ready"
        throw NetworkError(code: .system, message: "proxy \(executable) \(reason) (wait status \(status))")
    }

    /// Stops a proxy started by ``start(executable:rules:configuration:timeout:)``: `SIGTERM`,
    /// then `SIGKILL` if it has not exited within `timeout` seconds. A PID that is gone, or that
    /// now belongs to some other program, is success, so teardown can repeat.
    ///
    /// - Throws: ``NetworkError`` when the proxy cannot be signalled or survives `SIGKILL`.
    public static func stop(pid: Int32, timeout: Double = 5) throws {
        guard pid > 0 else { throw NetworkError.invalid("proxy pid", "\(pid)", "must be positive") }
        guard isProxy(pid: pid) else {
            reapIfExitedChild(pid)
            return
        }
        for (signal, wait) in [(SIGTERM, timeout), (SIGKILL, 2.0)] {
            // Checked again before SIGKILL: the PID may have been reused while we waited.
            guard signal == SIGTERM || isProxy(pid: pid) else { return }
            if kill(pid, signal) != 0 {
                let error = Errno.current
                if error == .noSuchProcess { return }
                throw NetworkError(code: error == .notPermitted ? .permissionDenied : .system,
                                   message: "cannot stop proxy process \(pid)", cause: error)
            }
            if waitForExit(pid, timeout: wait) { return }
        }
        throw NetworkError(code: .busy, message: "proxy process \(pid) did not exit after SIGKILL")
    }

    /// Whether `pid` runs the proxy executable (a zombie has no command line, so it is not).
    public static func isProxy(pid: Int32) -> Bool {
        guard let commandLine = readSmallFile("/proc/\(pid)/cmdline"),
              let program = commandLine.split(separator: 0, omittingEmptySubsequences: false).first,
              let name = program.split(separator: UInt8(ascii: "/")).last else { return false }
        return name.elementsEqual(executableName.utf8)
    }

    // MARK: - Spawning

    private static func spawn(_ executable: String, arguments: [String], readyEnd: Int32) throws -> Int32 {
        do {
            return try Spawn.startDaemon(executable, arguments: arguments, readyEnd: readyEnd, readyDescriptor: readyDescriptor)
        } catch let error as Errno {
            throw NetworkError(code: error == .noSuchFileOrDirectory ? .notFound : .system,
                               message: "cannot start proxy \(executable)", cause: error)
        }
    }

    /// `fd`, or a close-on-exec copy of it numbered above `floor` (closing the original).
    private static func movedAbove(_ floor: Int32, _ fd: Int32) throws -> Int32 {
        guard fd <= floor else { return fd }
        let copy = try systemCall("fcntl", "F_DUPFD_CLOEXEC") { fcntl(fd, F_DUPFD_CLOEXEC, floor + 1) }
        close(fd)
        return copy
    }

    /// The first line on the non-blocking `fd`, without its newline; `nil` on timeout.
    /// End of input without a newline returns what was read (possibly empty).
    private static func readLine(from fd: Int32, timeout: Double) -> String? {
        let deadline = monotonicNow() + UInt64(max(timeout, 0) * 1_000_000_000)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes += buffer[..<count]
                if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
                    return String(decoding: bytes[..<newline], as: UTF8.self)
                }
                continue
            }
            if count == 0 { return String(decoding: bytes, as: UTF8.self) }
            guard errno == EAGAIN || errno == EINTR else { return String(decoding: bytes, as: UTF8.self) }
            let now = monotonicNow()
            guard now < deadline else { return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, Int32(clamping: (deadline - now) / 1_000_000 + 1))
        }
    }

    // MARK: - Waiting

    /// Waits for our child `pid` to exit and returns how it ended, as a shell shows it.
    private static func reap(_ pid: Int32) -> Int32 { Spawn.wait(pid) }

    /// Polls until `pid` has exited; reaps it when it is our child. Returns whether it exited.
    private static func waitForExit(_ pid: Int32, timeout: Double) -> Bool {
        let deadline = monotonicNow() + UInt64(timeout * 1_000_000_000)
        var pause: UInt32 = 500
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return true }
            // Not our child (the launcher that started it has gone): watch the PID instead.
            if result < 0 && errno == ECHILD && !isProxy(pid: pid) { return true }
            if monotonicNow() >= deadline { return false }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    /// Reaps `pid` if it is an exited child of this process, as when a proxy died on its own
    /// before it was stopped; leaves any other process alone.
    private static func reapIfExitedChild(_ pid: Int32) {
        guard let status = ProcessStatus(pid: pid), status.state == "Z", status.parentPID == getpid() else { return }
        var waitStatus: Int32 = 0
        _ = waitpid(pid, &waitStatus, WNOHANG)
    }
}

extension ProxyProcess {
    /// Finds `netctl-proxy` for a program installed at `program`: beside it (a build
    /// directory; `PREFIX/bin`, where `netctl` is installed with it), then on `PATH`. The CNI
    /// plugins never look for it: they start no proxy (their firewall has no proxy executable).
    ///
    /// - Parameter program: the running executable; `/proc/self/exe` when `nil`.
    public static func locate(besides program: String? = nil) -> String? {
        locateExecutable(named: executableName, besides: program)
    }
}

/// A proxy that has bound its listeners and waits to hear whether it is kept: ``keep()`` lets
/// it serve; ``release()`` (or dropping this without keeping it) makes it exit on its own.
public final class PendingProxy {
    public let pid: Int32
    private var channel: Int32

    init(pid: Int32, channel: Int32) {
        self.pid = pid
        self.channel = channel
    }

    /// Tells the proxy to serve on; it then no longer depends on this process.
    public func keep() {
        guard channel >= 0 else { return }
        var byte = UInt8(ascii: "k")
        while write(channel, &byte, 1) < 0 && errno == EINTR {}
        release()
    }

    /// Closes the channel: a proxy not kept by then exits.
    public func release() {
        guard channel >= 0 else { return }
        close(channel)
        channel = -1
    }

    deinit { release() }
}
