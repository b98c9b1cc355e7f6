import Firewall
import Foundation
import NetCore
import Testing

/// CVE-2020-8558: with `route_localnet` on a bridge, a neighbour on it could reach services
/// bound to the host's 127.0.0.1 by sending frames to the bridge's MAC with a loopback
/// destination. The guard rule must drop them; the probe proves itself by succeeding once
/// the guard is gone.
@Suite(.serialized, .enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct LocalnetGuardTests {
    /// Sends a hand-made TCP SYN for DST_IP:PORT to DST_MAC out of IFNAME and prints
    /// "SYNACK" if anything answers it within a second and a half, else "nothing".
    static let probe = #"""
    import socket, struct, sys, time
    ifname, dst_mac, src_ip, dst_ip, dport = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((ifname, 0))
    src_mac = s.getsockname()[4]
    def checksum(data):
        if len(data) % 2: data += b"\0"
        total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
        total = (total >> 16) + (total & 0xffff); total += total >> 16
        return ~total & 0xffff
    sport = 41000 + (int(time.time() * 1000) % 20000)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    frame = bytes.fromhex(dst_mac.replace(":", "")) + src_mac + b"\x08\x00" + ip + tcp
    s.settimeout(0.2)
    deadline = time.time() + 1.5
    s.send(frame)
    while time.time() < deadline:
        try:
            packet = s.recv(2048)
        except socket.timeout:
            s.send(frame); continue
        if packet[12:14] != b"\x08\x00" or packet[23] != 6: continue
        header = (packet[14] & 0xf) * 4
        segment = packet[14 + header:]
        if struct.unpack("!H", segment[2:4])[0] == sport and segment[13] & 0x12 == 0x12:
            print("SYNACK"); sys.exit(0)
    print("nothing")
    """#

    @Test func aNeighbourCannotReachTheHostsLoopbackThroughARouteLocalnetBridge() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0, localhostDNAT: true)
        try topology.firewall.addNetwork(network)
        #expect(try topology.host.namespace.readSysctl("net/ipv4/conf/br0/route_localnet") == "1")
        // A service on the host's loopback only.
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        listener.arguments = ["ip", "netns", "exec", topology.host.name, "python3", "-c",
                              "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 7777)); s.listen(8); print('ready', flush=True); time.sleep(60)"]
        let ready = Pipe()
        listener.standardOutput = ready
        try listener.run()
        defer { kill(listener.processIdentifier, SIGKILL); listener.waitUntilExit() }
        _ = ready.fileHandleForReading.availableData
        let bridgeMAC = try #require(try topology.host.socket.link(named: InterfaceName("br0"))?.mac)
        // The host must know the container's MAC to answer: an ARP request of its own would
        // carry 127.0.0.1 as the sender, which the container ignores.
        #expect(try topology.containers[0].exec("ping", "-c", "1", "-W", "1", "10.10.0.1").status == 0)

        func probe() throws -> String {
            try topology.containers[0].exec("python3", "-c", Self.probe, "eth0", bridgeMAC.description, "10.10.0.2", "127.0.0.1", "7777")
                .text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try probe() == "nothing")

        // Without the guard the same frame reaches the listener: the probe is sound.
        #expect(try topology.host.exec("nft", "flush", "chain", "inet", "netctl", "localnet-guard").status == 0)
        #expect(try probe() == "SYNACK")
        try topology.firewall.removeNetwork(network)
    }

    @Test func tablesOfOtherOwnersSurviveEveryOperation() throws {
        let topology = try Topology()
        #expect(try topology.host.exec("nft", "add table inet someone_else; add chain inet someone_else input { type filter hook input priority 0; }").status == 0)
        let network = try topology.addBridgeNetwork(0)
        let port = try topology.port("8080:80", on: network)
        try topology.firewall.addNetwork(network)
        try topology.firewall.publish([port], on: network)
        try topology.firewall.reload(FirewallState(networks: [.init(network, publishedPorts: [port])]))
        try topology.firewall.unpublish([port], from: network)
        try topology.firewall.removeNetwork(network)
        #expect(try topology.host.listFirewallTable() == nil)
        let other = try topology.host.exec("nft", "-j", "list", "table", "inet", "someone_else")
        #expect(other.status == 0)
        #expect(other.text.contains(#""name": "input""#))
    }
}
