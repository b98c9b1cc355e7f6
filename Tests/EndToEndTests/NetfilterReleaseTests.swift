import Foundation
import NetCore
import Testing

/// The netfilter sockets of the short-lived plugin processes go to one collector per network
/// namespace, which releases them once nftables has been quiet for a grace period (releasing
/// them one by one after back-to-back changes held nf_tables' commit lock for a grace period
/// each, stalling the next transaction and the next link change): none is left behind, and
/// none goes to a process of another user that took the collector's name.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct NetfilterReleaseTests {
    static let collectorName = "@netctl-netfilter-release"

    func chain(_ index: Int) -> (bridge: String, portmap: String) {
        let bridge = #"""
            {"cniVersion":"1.1.0","name":"nfrel","type":"bridge","bridge":"nfrelbr0","isGateway":true,"ipMasq":true,
             "ipam":{"type":"host-local","ranges":[[{"subnet":"10.139.0.0/24"}]]}}
            """#
        let portmap = #"""
            {"cniVersion":"1.1.0","name":"nfrel","type":"portmap","capabilities":{"portMappings":true},
             "runtimeConfig":{"portMappings":[{"hostPort":\#(18_400 + index),"containerPort":80,"protocol":"tcp"}]}
            """#
        return (bridge, portmap)
    }

    /// Netfilter netlink sockets of processes in the host's namespace (`/proc/net/netlink`: the
    /// protocol, 12, in the second column; the port ID in the third, 0 for the kernel's own).
    func netfilterSockets(_ host: PrivateHost) throws -> Int {
        let lines = try host.namespace.exec("cat", "/proc/net/netlink").text.split(separator: "\n").dropFirst()
        var count = 0
        for line in lines {
            let fields = line.split(separator: " ")
            if fields.count > 2, fields[1] == "12", fields[2] != "0" { count += 1 }
        }
        return count
    }

    func collectorListens(_ host: PrivateHost) throws -> Bool {
        try host.namespace.exec("cat", "/proc/net/unix").text.contains(Self.collectorName)
    }

    /// Waits up to `seconds` for the namespace to hold no netfilter socket (and no collector).
    func released(_ host: PrivateHost, within seconds: Double = 5, collector: Bool = true) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try netfilterSockets(host) == 0, try !collector || !collectorListens(host) { return true }
            usleep(20_000)
        }
        return false
    }

    /// Containers added and deleted back to back through bridge + portmap.
    func churn(_ host: PrivateHost, count: Int, tag: String) throws {
        let containers = try (0..<count).map { try ScratchNamespace("\(tag)\($0)") }
        var added: [String] = []
        for (index, container) in containers.enumerated() {
            let (bridge, portmap) = chain(index)
            let add = try host.plugin("bridge", command: "ADD", containerID: "\(tag)\(index)", netns: container.path, config: bridge)
            #expect(add.status == 0, "\(add.stdout)")
            added.append(add.stdout)
            let mapped = try host.plugin("portmap", command: "ADD", containerID: "\(tag)\(index)", netns: container.path,
                                         config: portmap + #","prevResult":\#(add.stdout)}"#)
            #expect(mapped.status == 0, "\(mapped.stdout)")
        }
        for (index, container) in containers.enumerated() {
            let (bridge, portmap) = chain(index)
            #expect(try host.plugin("portmap", command: "DEL", containerID: "\(tag)\(index)", netns: container.path,
                                    config: portmap + #","prevResult":\#(added[index])}"#).status == 0)
            #expect(try host.plugin("bridge", command: "DEL", containerID: "\(tag)\(index)", netns: container.path, config: bridge).status == 0)
        }
    }

    @Test func aBurstOfPortmapCallsLeavesNoNetfilterSocketBehind() throws {
        let host = try PrivateHost("nfrel")
        try churn(host, count: 6, tag: "nfr")
        // The collector lets go a grace period after the last hand-off, and after 2 s at the latest.
        let gone = try released(host)
        #expect(gone, "netfilter sockets: \((try? netfilterSockets(host)) ?? -1), collector: \((try? collectorListens(host)) ?? false)")
        #expect(try host.namespace.nftTable().map { !$0.contains("18400") } ?? true)
    }

    @Test func theSocketsGoToNoProcessOfAnotherUser() throws {
        let host = try PrivateHost("nfimp")
        let work = NSTemporaryDirectory() + "nfimp-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        defer { try? FileManager.default.removeItem(atPath: work) }
        // An unprivileged process holding the collector's name: it counts the descriptors sent to it.
        let impostor = Process()
        impostor.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        impostor.arguments = ["ip", "netns", "exec", host.namespace.name, "setpriv", "--reuid", "65534", "--regid", "65534",
                              "--clear-groups", "/usr/bin/python3", "-c", #"""
            import array, socket, sys, time
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            listener.bind("\0netctl-netfilter-release")
            listener.listen(64)
            listener.settimeout(0.2)
            open(sys.argv[1] + "/ready", "w").close()
            received, connections, end = 0, 0, time.time() + 20
            while time.time() < end:
                try:
                    channel, _ = listener.accept()
                except socket.timeout:
                    continue
                connections += 1
                channel.settimeout(0.5)
                try:
                    while True:
                        data, ancillary, _, _ = channel.recvmsg(1, socket.CMSG_SPACE(64 * 4))
                        for level, kind, payload in ancillary:
                            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                                received += len(payload) // 4
                        if not data:
                            break
                except OSError:
                    pass
                channel.close()
                with open(sys.argv[1] + "/count", "w") as out:
                    out.write(f"{connections} {received}")
            """#, work]
        try impostor.run()
        defer { if impostor.isRunning { kill(impostor.processIdentifier, SIGKILL) }; impostor.waitUntilExit() }
        for _ in 0..<250 where !FileManager.default.fileExists(atPath: work + "/ready") { usleep(20_000) }
        #expect(FileManager.default.fileExists(atPath: work + "/ready"))

        try churn(host, count: 2, tag: "nfi")
        let gone = try released(host, collector: false)
        #expect(gone, "netfilter sockets: \((try? netfilterSockets(host)) ?? -1)")
        let counted = (try? String(contentsOfFile: work + "/count", encoding: .utf8))?.split(separator: " ").map { Int($0) ?? -1 } ?? [0, 0]
        // It was asked (our exit children connect, see who listens, and leave), and got nothing.
        #expect(counted.count == 2 && counted[0] > 0 && counted[1] == 0, "connections and descriptors: \(counted)")
    }
}
