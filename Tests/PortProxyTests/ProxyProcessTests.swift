import Foundation
import NetCore
import Testing
@testable import PortProxy
@testable import ProxyClient

/// Starting and stopping the proxy executable as the port-publishing code does.
@Suite(.enabled(if: proxyExecutable != nil, "netctl-proxy is not built next to the test bundle"))
struct ProxyProcessTests {
    @Test func aPortInUseFailsNamingItAndLeavesNothingRunning() throws {
        let taken = try TestSocket(.v4, type: SOCK_STREAM)
        try taken.bind(loopback4, port: 0)
        try taken.listen()
        let free = try freePort()

        let error = try #require(throws: NetworkError.self) {
            try startProxy([rule(.tcp, free, 9), rule(.tcp, taken.localPort, 9)])
        }
        #expect(error.code == .busy)
        #expect(error.message == "cannot listen on 127.0.0.1:\(taken.localPort)/tcp: Address already in use")
        // No proxy is left serving, and the port bound first was released.
        #expect(proxyChildren(serving: taken.localPort).isEmpty)
        let again = try TestSocket(.v4, type: SOCK_STREAM)
        try again.bind(loopback4, port: free)
    }

    @Test func stopEndsTheProxyAndRepeatingItIsSuccess() throws {
        let pid = try startProxy([rule(.tcp, try freePort(), 9)])
        #expect(ProxyProcess.isProxy(pid: pid))
        // Detached: a session of its own, so no terminal's signals reach it.
        #expect(getsid(pid) == pid)
        try ProxyProcess.stop(pid: pid)
        #expect(!processExists(pid))
        try ProxyProcess.stop(pid: pid)
    }

    @Test func terminationClosesTheListenersAndExitsZero() throws {
        let port = try freePort()
        let pid = try startProxy([rule(.tcp, port, 9)])
        let start = Date()
        kill(pid, SIGTERM)
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(status == 0, "wait status \(status)")
        #expect(Date().timeIntervalSince(start) < 1)
        let again = try TestSocket(.v4, type: SOCK_STREAM)
        try again.bind(loopback4, port: port)
    }

    /// A proxy its launcher never kept (the launcher died before it recorded the PID) exits by
    /// itself with its listeners closed; a kept one serves on after its launcher lets go.
    @Test func aProxyNeverKeptExitsAndAKeptOneServes() throws {
        let executable = try #require(proxyExecutable, "netctl-proxy is not built next to the test bundle")
        let port = try freePort()
        let pending = try ProxyProcess.startPending(executable: executable, rules: [rule(.tcp, port, 9)])
        pending.release()
        var status: Int32 = 0
        var reaped: Int32 = 0
        for _ in 0..<250 where reaped == 0 { // up to 5 s
            reaped = waitpid(pending.pid, &status, WNOHANG)
            if reaped == 0 { usleep(20_000) }
        }
        #expect(reaped == pending.pid, "the proxy never kept is still running")
        if reaped == 0 { kill(pending.pid, SIGKILL); waitpid(pending.pid, nil, 0) }
        #expect(status == 0, "wait status \(status)")
        let again = try TestSocket(.v4, type: SOCK_STREAM)
        try again.bind(loopback4, port: port) // its listener is closed

        let kept = try ProxyProcess.startPending(executable: executable, rules: [rule(.tcp, try freePort(), 9)])
        kept.keep()
        kept.release() // nothing more to say: it serves on
        usleep(100_000)
        #expect(waitpid(kept.pid, &status, WNOHANG) == 0, "the kept proxy exited")
        try ProxyProcess.stop(pid: kept.pid)
    }

    @Test func stopLeavesAnotherProgramAlone() throws {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("10"), nil]
        defer { for pointer in argv { free(pointer) } }
        try #require(posix_spawn(&pid, "/bin/sleep", nil, nil, &argv, environ) == 0)
        defer {
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
        try ProxyProcess.stop(pid: pid)
        #expect(!ProxyProcess.isProxy(pid: pid))
        var status: Int32 = 0
        #expect(waitpid(pid, &status, WNOHANG) == 0, "sleep was signalled")
    }

    @Test func aMissingExecutableIsNotFound() throws {
        let error = try #require(throws: NetworkError.self) {
            try ProxyProcess.start(executable: "/nonexistent/netctl-proxy", rules: [rule(.tcp, 1, 9)])
        }
        #expect(error.code == .notFound)
    }

    /// Running children of this process that serve `port`. (A zombie has no command line to
    /// tell whose it is, and other tests' proxies run concurrently.)
    private func proxyChildren(serving port: UInt16) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  stat.contains("(\(ProxyProcess.executableName))"),
                  let end = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            guard fields.count > 1, Int32(fields[1]) == getpid() else { return false }
            guard let commandLine = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")),
                  !commandLine.isEmpty else { return false }
            return String(decoding: commandLine, as: UTF8.self).contains("127.0.0.1:\(port)=")
        }
    }
}
