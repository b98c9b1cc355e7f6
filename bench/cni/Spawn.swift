#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What one exec of a plugin printed, returned and cost.
struct Execution {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]
    /// Wall time from before the fork to after the child was reaped, stdin and stdout included.
    var nanoseconds: UInt64
    /// Peak resident set of the child (`wait4`'s `ru_maxrss`), in KiB.
    var maxRSS: Int

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
func execute(_ path: String, arguments: [String] = [], environment: [String], input: [UInt8]) throws -> Execution {
    let argv = CStrings([path] + arguments)
    let envp = CStrings(environment)
    let start = now()
    let (pid, stdinWrite, stdoutRead, stderrRead) = try forkLock.withLock { _ in
        let stdinPipe = try makePipe(), stdoutPipe = try makePipe(), stderrPipe = try makePipe()
        let pid = fork()
        if pid == 0 {
            // Child: only async-signal-safe calls until the exec; the plugin gets the default
            // SIGPIPE disposition back (an ignored signal would stay ignored across the exec).
            signal(SIGPIPE, SIG_DFL)
            dup2(stdinPipe.read, 0)
            dup2(stdoutPipe.write, 1)
            dup2(stderrPipe.write, 2)
            execve(path, argv.pointers, envp.pointers)
            _exit(127)
        }
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
        return (pid, stdinPipe.write, stdoutPipe.read, stderrPipe.read)
    }
    writeAll(input, to: stdinWrite)
    close(stdinWrite)
    // Plugin output is far below a pipe's 64 KiB, so reading one pipe after the other is safe.
    let stdout = readAll(stdoutRead)
    let stderr = readAll(stderrRead)
    close(stdoutRead)
    close(stderrRead)
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0, errno == EINTR {}
    let elapsed = now() - start
    let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return Execution(status: exitCode, stdout: stdout, stderr: stderr, nanoseconds: elapsed, maxRSS: usage.ru_maxrss)
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
