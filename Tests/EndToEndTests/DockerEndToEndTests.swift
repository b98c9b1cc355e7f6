import Foundation
import Testing

/// netctl as Docker's network and IPAM plugin under a real dockerd 20.10 (scripts/e2e/docker.sh
/// starts containerd, dockerd with `--iptables=false --bridge=none` and netctld in namespaces of
/// its own inside the test sandbox, and runs containers from an image imported from
/// busybox-static).
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason),
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd"), "needs docker.io (make deps installs it)"),
       .serialized)
struct DockerEndToEndTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/e2e/docker.sh").standardized.path

    /// Runs one mode of the script and returns its PASS and FAIL lines.
    func run(_ mode: String) throws -> (passed: [String], failed: [String]) {
        let output = try runCommand([Self.script, mode, productsDirectory.path]).text
        let lines = output.split(separator: "\n").map(String.init)
        return (lines.filter { $0.hasPrefix("PASS ") }, lines.filter { $0.hasPrefix("FAIL ") || $0.hasPrefix("SKIP ") })
    }

    /// `docker network create -d netctl --ipam-driver netctl`, `docker run -p` from loopback and
    /// from another namespace, `-p 80` on a port netctl chose, names through Docker's DNS, `--ip`,
    /// a taken `--ip` and a bad `-o` refused with their names, `network connect` / `disconnect`, `netctl port ls` with Docker's names, `netctl network rm`
    /// refused, and `docker rm` / `network rm` leaving no link, rule, proxy, lease or row.
    @Test func bridgeNetworkThroughThePlugin() throws {
        let (passed, failed) = try run("bridge")
        #expect(failed.isEmpty, "\(failed)")
        #expect(passed.count == 22, "\(passed)")
    }

    /// A macvlan network through the plugin on a veth parent: the container's eth0 is a
    /// macvlan of it, and reaches and is reached from the LAN.
    @Test func macvlanNetworkThroughThePlugin() throws {
        let (passed, failed) = try run("macvlan")
        #expect(failed.isEmpty, "\(failed)")
        #expect(passed.count == 5, "\(passed)")
    }

    /// A plugin restart (ports stay published, new containers join, leases are not reused) and
    /// a dockerd restart (which replays nothing: the networks are served from the store).
    @Test func pluginAndDockerdRestartsLoseNothing() throws {
        let (passed, failed) = try run("restarts")
        #expect(failed.isEmpty, "\(failed)")
        #expect(passed.count == 9, "\(passed)")
    }
}

/// netctld as a daemon (scripts/e2e/netctld-daemon.py): the socket systemd passes
/// (`LISTEN_FDS`), one connection carrying several calls, a GET refused, a second server on a
/// live socket refused, a stale socket file replaced, SIGTERM ending it with status 0 and
/// removing the socket it made (not one it was passed), also when it comes the moment the socket
/// appears.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct NetctldDaemonTests {
    @Test func behavesAsADaemon() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../scripts/e2e/netctld-daemon.py").standardized.path
        let output = try runCommand([script, productsDirectory.appendingPathComponent("netctld").path]).text
        let lines = output.split(separator: "\n").map(String.init)
        let failed = lines.filter { $0.hasPrefix("FAIL ") }
        #expect(failed.isEmpty, "\(failed)")
        #expect(lines.filter { $0.hasPrefix("PASS ") }.count == 13, "\(lines)")
    }
}
