#if canImport(Glibc)
import Glibc
#endif
import CBenchTrace
import Synchronization

/// What one exec of a plugin printed, returned and cost.
struct Execution {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]
    /// Wall time from before the fork to after the child was reaped, stdin and stdout included.
    var nanoseconds: UInt64
    /// `CLOCK_MONOTONIC` before the fork and after the reap (for `--steps`).
    var started: UInt64 = 0
    var ended: UInt64 = 0
    /// `CLOCK_MONOTONIC` when `fork` returned in this process (its pipes made, its page tables copied).
    var forked: UInt64 = 0
    /// Peak resident set of the child (`wait4`'s `ru_maxrss`), in KiB.
    var maxRSS: Int
    /// The child's minor page faults (`ru_minflt`): pages of its binary, libraries, heap and
    /// stack mapped on first touch.
    var minorFaults: Int = 0
    /// With `memoryAtExit`: the child's memory as it was about to exit.
    var exitMemory: ExitMemory?

    var succeeded: Bool { status == 0 }
    var output: String { String(decoding: stdout, as: UTF8.self) }
    var errorText: String { String(decoding: stderr, as: UTF8.self) }
}

func now() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Held from making a child's pipes until it is forked, so a child forked by the other worker
/// never inherits them (`pipe2` is not visible from Swift) and our reads see EOF in time.
private let forkLock = Mutex(())

/// Runs `path` with `environment` and `input` on stdin, the way a runtime execs a CNI plugin.
///
/// `fork` + `execve`, not `posix_spawn`: glibc's `posix_spawn` shares this process's memory
/// until the exec (`CLONE_VM`), and the kernel then reports this driver's whole resident set
/// as the child's `ru_maxrss`. A forked child starts from only the anonymous pages it copied,
/// which for this driver is below any plugin's peak. (Foundation's `Process` is out of the
/// question: it took ~50 ms per spawn on a 2-core VM.)
///
/// `memoryAtExit` traces the child (ptrace) to read its `smaps_rollup` when it is about to
/// exit; that costs time, so such calls are for the memory table only.
func execute(_ path: String, arguments: [String] = [], environment: [String], input: [UInt8],
             memoryAtExit: Bool = false) throws -> Execution {
    let argv = CStrings([path] + arguments)
    let envp = CStrings(environment)
    let start = now()
    let (pid, stdinWrite, stdoutRead, stderrRead, forked) = try forkLock.withLock { _ in
        let stdinPipe = try makePipe(), stdoutPipe = try makePipe(), stderrPipe = try makePipe()
        let pid = fork()
        if pid == 0 {
            // Child: only async-signal-safe calls until the exec; the plugin gets the default
            // SIGPIPE disposition back (an ignored signal would stay ignored across the exec).
            signal(SIGPIPE, SIG_DFL)
            dup2(stdinPipe.read, 0)
            dup2(stdoutPipe.write, 1)
            dup2(stderrPipe.write, 2)
            if memoryAtExit { _ = bench_trace_me() }
            execve(path, argv.pointers, envp.pointers)
            _exit(127)
        }
        let forked = now()
        close(stdinPipe.read)
        close(stdoutPipe.write)
        close(stderrPipe.write)
        guard pid > 0 else {
            let error = errno
            close(stdinPipe.write)
            close(stdoutPipe.read)
            close(stderrPipe.read)
            throw SpawnError(message: "fork failed: errno \(error)")
        }
        return (pid, stdinPipe.write, stdoutPipe.read, stderrPipe.read, forked)
    }
    var status: Int32 = 0
    var usage = rusage()
    var exitMemory: ExitMemory?
    if memoryAtExit {
        // The exec stop: from here the child stops once more, at its exit.
        while wait4(pid, &status, 0, &usage) < 0, errno == EINTR {}
        _ = bench_trace_exit_too(pid)
        _ = bench_trace_continue(pid, 0)
    }
    writeAll(input, to: stdinWrite)
    close(stdinWrite)
    if memoryAtExit {
        // Waited for before its output is read: that fits the pipes' 64 KiB, so it never
        // blocks the child, which keeps its descriptors open at the exit stop.
        while true {
            while wait4(pid, &status, 0, &usage) < 0, errno == EINTR {}
            guard (status & 0xff) == 0x7f else { break } // exited or killed
            var forwarded: Int32 = 0
            if bench_trace_is_exit_stop(status) != 0 {
                exitMemory = ExitMemory(pid: pid)
            } else if (status >> 8) & 0xff != SIGTRAP {
                forwarded = (status >> 8) & 0xff
            }
            _ = bench_trace_continue(pid, forwarded)
        }
    }
    // Plugin output is far below a pipe's 64 KiB, so reading one pipe after the other is safe.
    let stdout = readAll(stdoutRead)
    let stderr = readAll(stderrRead)
    close(stdoutRead)
    close(stderrRead)
    if !memoryAtExit {
        while wait4(pid, &status, 0, &usage) < 0, errno == EINTR {}
    }
    let end = now()
    let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return Execution(status: exitCode, stdout: stdout, stderr: stderr, nanoseconds: end - start, started: start, ended: end,
                     forked: forked, maxRSS: usage.ru_maxrss, minorFaults: usage.ru_minflt, exitMemory: exitMemory)
}

/// A process's memory from `/proc/PID/smaps_rollup`, in KiB: all it maps (`Rss`), and the part
/// that is its own to pay for (`Anonymous`: heap, stacks, written data). The rest of `Rss`
/// is clean page-cache pages of its binary and libraries, shared with every other process
/// that maps them, and mapped 64 KiB at a time around each page touched (fault-around).
struct ExitMemory {
    var rss = 0
    var anonymous = 0

    init?(pid: pid_t) {
        guard let file = fopen("/proc/\(pid)/smaps_rollup", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let value = Int(fields[1]) else { continue }
            if fields[0] == "Rss:" { rss = value }
            if fields[0] == "Anonymous:" { anonymous = value }
        }
    }
}

struct SpawnError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

private func makePipe() throws -> (read: Int32, write: Int32) {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { throw SpawnError(message: "pipe failed: errno \(errno)") }
    for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
    return (ends[0], ends[1])
}

private func writeAll(_ bytes: [UInt8], to descriptor: Int32) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0, errno == EINTR { continue }
        guard written > 0 else { return }
        offset += written
    }
}

private func readAll(_ descriptor: Int32) -> [UInt8] {
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16384)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        guard count > 0 else { return result }
        result += buffer[0..<count]
    }
}

/// A NULL-terminated C string array that lives as long as this value, made before the fork
/// so the child allocates nothing.
final class CStrings {
    let pointers: [UnsafeMutablePointer<CChar>?]

    init(_ strings: [String]) {
        pointers = strings.map { strdup($0) } + [nil]
    }

    deinit {
        for pointer in pointers { free(pointer) }
    }
}

/// This process's resident and anonymous memory and page tables, from `/proc/self/status`.
func spawnerMemory() -> String {
    guard let file = fopen("/proc/self/status", "r") else { return "?" }
    defer { fclose(file) }
    var fields: [String: String] = [:]
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { continue }
        fields[String(parts[0])] = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
    }
    return ["VmRSS", "RssAnon", "VmPTE"].map { "\($0) \(fields[$0] ?? "?")" }.joined(separator: ", ")
}
