import Foundation
import NetCore
import Testing
@testable import PortProxy
@testable import ProxyClient

/// A UDP listener on the wildcard address of a host with two addresses on one link: the reply
/// leaves from the address the client sent to, not from the one routing picks for the way back.
///
///     client namespace: c0 10.77.0.2/24, fd00:77::2/64; 10.77.1.0/24 and fd00:77:1::/64 via the host
///     host namespace:   h0 10.77.0.1/24 + 10.77.1.1/24, fd00:77::1/64 + fd00:77:1::1/64;
///                       the proxy on 0.0.0.0 or ::, the echo server on 127.0.0.1
///
/// The client sends to the host's second address. The route back to the client has the first
/// address as its source, so a reply whose source the kernel picked comes from there, and a
/// client whose socket is connected to the second address drops it.
@Suite(
    .enabled(if: proxyExecutable != nil, "netctl-proxy is not built next to the test bundle"),
    .enabled(if: TwoAddressHost.isAvailable, "needs root inside the test sandbox (run `make test`)")
)
struct WildcardReplySourceTests {
    @Test(arguments: [IPAddress.Family.v4, .v6])
    func aReplyLeavesFromTheAddressTheClientSentTo(family: IPAddress.Family) throws {
        let host = try TwoAddressHost()
        let (first, second) = host.addresses(family)
        let port: UInt16 = 7007
        let (server, pid) = try host.inHost {
            let server = try UDPTestServer()
            return (server, try startProxy([rule(.udp, listen: .unspecified(family), port, server.port)]))
        }
        defer {
            try? ProxyProcess.stop(pid: pid)
            withExtendedLifetime(server) {}
        }

        // Unconnected, so the reply is seen whatever its source.
        let probe = try host.inClient { try TestSocket(family, type: SOCK_DGRAM) }
        probe.setTimeout(seconds: 2)
        try probe.sendDatagram("to the second address", to: second, port: port)
        let reply = try #require(probe.receiveDatagramAndSender(), "no reply at all")
        #expect(reply.text.hasSuffix("|to the second address"))
        #expect(reply.address == second && reply.port == port,
                "the reply to \(second) came from \(reply.address):\(reply.port)")

        // A socket connected to the second address takes only what comes from there.
        let connected = try host.inClient { try TestSocket(family, type: SOCK_DGRAM) }
        connected.setTimeout(seconds: 2)
        try connected.connect(second, port: port)
        try connected.sendAll(Array("connected".utf8))
        let echoed = try #require(connected.receiveDatagramAndSender(), "the connected client got no reply")
        #expect(echoed.text.hasSuffix("|connected"))

        // The first address, the one routing picks anyway, still answers from itself.
        try probe.sendDatagram("to the first address", to: first, port: port)
        let direct = try #require(probe.receiveDatagramAndSender(), "no reply from the first address")
        #expect(direct.text.hasSuffix("|to the first address"))
        #expect(direct.address == first && direct.port == port)
    }
}

/// Two namespaces made for one test and removed with it: a host whose link `h0` has two
/// addresses of each family, and a client on the other end of the veth pair (see
/// ``WildcardReplySourceTests``).
final class TwoAddressHost {
    /// Privileged tests run only as root inside the throwaway sandbox of `scripts/sandbox.sh`.
    static let isAvailable = getuid() == 0 && getenv("NETCTL_SANDBOX") != nil

    let host: String
    let client: String

    init() throws {
        let tag = UInt32.random(in: 0...UInt32.max)
        host = "pp-host-\(tag)"
        client = "pp-client-\(tag)"
        // deinit deletes both names, whichever of them exist, when a step below fails.
        try command("ip", "netns", "add", host)
        try command("ip", "netns", "add", client)
        for name in [host, client] {
            // Link-local addresses would otherwise be tentative for a moment, and the first
            // neighbour solicitation would wait for them.
            try command("ip", "netns", "exec", name, "sysctl", "-qw",
                        "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
            try command("ip", "-n", name, "link", "set", "lo", "up")
        }
        try command("ip", "-n", host, "link", "add", "h0", "type", "veth", "peer", "name", "c0", "netns", client)
        for address in ["10.77.0.1/24", "10.77.1.1/24"] {
            try command("ip", "-n", host, "address", "add", address, "dev", "h0")
        }
        for address in ["fd00:77::1/64", "fd00:77:1::1/64"] {
            try command("ip", "-n", host, "address", "add", address, "dev", "h0", "nodad")
        }
        try command("ip", "-n", client, "address", "add", "10.77.0.2/24", "dev", "c0")
        try command("ip", "-n", client, "address", "add", "fd00:77::2/64", "dev", "c0", "nodad")
        try command("ip", "-n", host, "link", "set", "h0", "up")
        try command("ip", "-n", client, "link", "set", "c0", "up")
        try command("ip", "-n", client, "route", "add", "10.77.1.0/24", "via", "10.77.0.1")
        try command("ip", "-n", client, "-6", "route", "add", "fd00:77:1::/64", "via", "fd00:77::1")
    }

    deinit {
        try? command("ip", "netns", "del", client)
        try? command("ip", "netns", "del", host)
    }

    /// The host's first address (the source of its route to the client) and its second.
    func addresses(_ family: IPAddress.Family) -> (first: IPAddress, second: IPAddress) {
        family == .v4
            ? (IPAddress("10.77.0.1")!, IPAddress("10.77.1.1")!)
            : (IPAddress("fd00:77::1")!, IPAddress("fd00:77:1::1")!)
    }

    /// Runs `body` in the host namespace; sockets and processes it makes stay there.
    func inHost<T>(_ body: () throws -> T) throws -> T { try inNamespace(host, body) }

    /// Runs `body` in the client namespace.
    func inClient<T>(_ body: () throws -> T) throws -> T { try inNamespace(client, body) }

    /// Runs `body` on a new thread that has joined the named namespace, and waits for it; the
    /// thread ends afterwards, so the switch reaches nothing else.
    private func inNamespace<T>(_ name: String, _ body: () throws -> T) throws -> T {
        var outcome: Result<T, any Error>?
        try withoutActuallyEscaping(body) { body in
            let work = Unmanaged.passRetained(ThreadWork {
                outcome = Result {
                    try Self.join(name)
                    return try body()
                }
            })
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { argument in
                guard let argument else { return nil }
                Unmanaged<ThreadWork>.fromOpaque(argument).takeRetainedValue().run()
                return nil
            }, work.toOpaque())
            guard status == 0 else {
                work.release()
                throw SystemCallError(Errno(rawValue: status), call: "pthread_create", subject: name)
            }
            // The closure escapes only into the thread joined here.
            pthread_join(thread, nil)
        }
        return try outcome!.get()
    }

    /// `setns(2)` into `/run/netns/NAME` for the calling thread. Glibc declares `setns` only
    /// under `_GNU_SOURCE`, which the Swift module is built without, so it is looked up.
    private static func join(_ name: String) throws {
        typealias SetNamespace = @convention(c) (Int32, Int32) -> Int32
        let cloneNewNet: Int32 = 0x4000_0000
        guard let symbol = dlsym(nil, "setns") else {
            throw NetworkError(code: .system, message: "setns is not available")
        }
        let setns = unsafeBitCast(symbol, to: SetNamespace.self)
        let fd = try systemCall("open", "/run/netns/\(name)") { open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        try systemCall("setns", name) { setns(fd, cloneNewNet) }
    }
}

/// Work handed to a fresh pthread through its `void *` argument.
private final class ThreadWork {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Runs `arguments` (found through `PATH`) and throws with its output when it fails.
private func command(_ arguments: String...) throws {
    // Foundation's Process traps when a read of its pipe is interrupted; the output goes to a
    // file instead, read when the command fails.
    let output = FileManager.default.temporaryDirectory
        .appendingPathComponent("wildcard-reply-\(UInt64.random(in: 0...UInt64.max))").path
    defer { unlink(output) }
    let pid = try Spawn.start("/usr/bin/env", arguments: ["env"] + arguments) { actions in
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO)
    }
    let status = Spawn.wait(pid)
    guard status == 0 else {
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        throw NetworkError(code: .system, message: "\(arguments.joined(separator: " ")) failed (\(status)): \(text)")
    }
}

extension TestSocket {
    /// One datagram and its sender's address and port, or `nil` after the receive timeout.
    func receiveDatagramAndSender() -> (text: String, address: IPAddress, port: UInt16)? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var from = SocketAddress()
        let count = buffer.withUnsafeMutableBytes { raw in
            from.withMutableSockaddr { recvfrom(fd, raw.baseAddress, raw.count, 0, $0, $1) }
        }
        guard count >= 0, let sender = from.endpoint else { return nil }
        return (String(decoding: buffer[..<count], as: UTF8.self), sender.address, sender.port)
    }
}
