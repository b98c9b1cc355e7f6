import Drivers
import Firewall
import Foundation
import NetCore
import ProxyClient
import Publishing
import Store
import Testing

/// The registry with the userland proxy, as `netctl connect -p` uses it: one detached proxy
/// per attachment serving loopback, its PID in the store, stopped on teardown and restarted
/// by a reload.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct ProxyLifecycleTests {
    @Test func loopbackIsServedByOneProxyWhosePIDIsStoredAndStoppedOnDetach() throws {
        let container = try ScratchNamespace("proxy")
        try runCommand(["ip", "link", "add", "proxybr0", "type", "bridge"])
        defer { _ = try? runCommand(["ip", "link", "delete", "proxybr0"]) }
        try runCommand(["ip", "link", "add", "proxyveth0", "master", "proxybr0", "type", "veth", "peer", "name", "eth0", "netns", container.name])
        try runCommand(["ip", "addr", "add", "10.170.0.1/24", "dev", "proxybr0"])
        for command in [["ip", "link", "set", "proxybr0", "up"], ["ip", "link", "set", "proxyveth0", "up"],
                        ["ip", "-n", container.name, "addr", "add", "10.170.0.2/24", "dev", "eth0"],
                        ["ip", "-n", container.name, "link", "set", "eth0", "up"]] {
            try runCommand(command)
        }
        let server = try HTTPServer(in: container, port: 80, body: "through the proxy")
        defer { server.stop() }

        let proxy = productsDirectory.appendingPathComponent("netctl-proxy").path
        // The store the plugins use too: a reload rebuilds the ruleset from everyone's records.
        let registry = FirewallRegistry(store: try StateStore(schema: [FirewallRegistry.schema]),
                                        firewall: try NftablesFirewall.open(), // the plugins' lock: they share this ruleset
                                        proxyExecutable: proxy)
        let network = FirewallNetwork(name: "proxy", bridge: try InterfaceName("proxybr0"), subnets: [try CIDR(parsing: "10.170.0.0/24")])
        let id = AttachmentID(network: "proxy", containerID: "p1", interface: try InterfaceName("eth0"))
        try registry.attach(id, network: network, ports: [PortMapping(parsing: "8280:80"), PortMapping(parsing: "8281:80")],
                            containerAddresses: [try IPAddress(parsing: "10.170.0.2", field: "test")])

        let pid = try #require(try registry.published().first { $0.attachment == id }?.proxyPID)
        #expect(ProxyProcess.isProxy(pid: pid))
        #expect(try fetch(from: nil, "http://127.0.0.1:8280/") == "through the proxy")
        #expect(try fetch(from: nil, "http://127.0.0.1:8281/") == "through the proxy") // same process, both ports

        kill(pid, SIGKILL) // a crashed proxy comes back with a reload
        usleep(200_000)
        try registry.reload()
        let restarted = try #require(try registry.published().first { $0.attachment == id }?.proxyPID)
        #expect(restarted != pid)
        #expect(try fetch(from: nil, "http://127.0.0.1:8280/") == "through the proxy")

        try registry.detach(id)
        try registry.detach(id)
        #expect(!ProxyProcess.isProxy(pid: restarted))
        #expect(try fetch(from: nil, "http://127.0.0.1:8280/", timeout: 1) == nil)
        #expect(try !registry.published().contains { $0.attachment == id })
    }
}
