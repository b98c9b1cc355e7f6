import DockerPlugin
import Foundation
import NetCore
import NetctlModel
import Testing

/// The NetworkDriver calls with real bridges, veth pairs and nftables rules, driven by the
/// bodies dockerd 20.10 was recorded sending for `docker network create -d netctl --subnet
/// 10.77.0.0/24` and `docker run --network n1 -p 18080:80`. One at a time: they share the
/// sandbox's namespace and ruleset.
@Suite(.serialized, .enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct NetworkDriverTests {
    let plugin: Plugin

    init() throws {
        plugin = try Plugin()
    }

    static let portOptions = #"{"com.docker.network.endpoint.exposedports":[{"Proto":6,"Port":80}],"com.docker.network.portmap":[{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":18080,"HostPortEnd":18080}]}"#

    /// CreateNetwork as recorded (without the recorded plugin's own `-o fake.gw=yes`).
    static func createNetworkBody(_ id: String, pool: String, gateway: String, isInternal: Bool = false, generic: String = "{}") -> String {
        let internalOption = isInternal ? #","com.docker.network.internal":true"# : ""
        return #"{"NetworkID":"\#(id)","Options":{"com.docker.network.enable_ipv6":false,"com.docker.network.generic":\#(generic)\#(internalOption)},"IPv4Data":[{"AddressSpace":"LocalDefault","Gateway":"\#(gateway)","Pool":"\#(pool)"}],"IPv6Data":[]}"#
    }

    static func createEndpointBody(_ networkID: String, _ endpointID: String, address: String) -> String {
        #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","Interface":{"Address":"\#(address)","AddressIPv6":"","MacAddress":""},"Options":\#(portOptions)}"#
    }

    static func joinBody(_ networkID: String, _ endpointID: String) -> String {
        #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","SandboxKey":"/run/docker/netns/0403bd238001","Options":\#(portOptions)}"#
    }

    static func ids(_ networkID: String, _ endpointID: String) -> String {
        #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)"}"#
    }

    @Test func theRecordedLifeCycleOnABridge() throws {
        let networkID = dockerID("c65cd0db"), endpointID = dockerID("341a81cf")
        let short = String(networkID.prefix(12))
        let srcName = "nc" + endpointID.prefix(13)

        // docker network create: a netctl bridge network named after the Docker network.
        let create = Self.createNetworkBody(networkID, pool: "10.77.0.0/24", gateway: "10.77.0.1/24")
        try plugin.expectOK("NetworkDriver.CreateNetwork", create)
        let networks = try plugin.model.networks()
        let network = try #require(networks.first { $0.name == "docker-" + short }, "\(networks.map(\.name))")
        #expect(network.driver == .bridge)
        #expect(network.id == networkID)
        #expect(network.bridgeName == "br-" + short)
        #expect(network.subnets == [SubnetSpec(subnet: try CIDR(parsing: "10.77.0.0/24"), gateway: try IPAddress(parsing: "10.77.0.1", field: "t"))])
        #expect(!network.isInternal)
        #expect(network.dockerNetworks.map(\.id) == [networkID])
        #expect(try plugin.model.dockerNetworks().map { "\($0.id) \($0.network) \($0.made) \($0.name ?? "-")" } == ["\(networkID) docker-\(short) true -"])
        try plugin.expectOK("NetworkDriver.CreateNetwork", create) // repeated: success, nothing more
        #expect(try plugin.model.networks().count == 1)

        // docker run: CreateEndpoint, Join.
        try plugin.expectOK("NetworkDriver.CreateEndpoint", Self.createEndpointBody(networkID, endpointID, address: "10.77.0.2/24"))
        let endpoint = try #require(try plugin.model.dockerEndpoints(networkID: networkID).first)
        #expect(endpoint.id == endpointID)
        #expect(endpoint.addresses.map(\.description) == ["10.77.0.2/24"])
        #expect(endpoint.mac == nil)
        try plugin.expectOK("NetworkDriver.Join", Self.joinBody(networkID, endpointID),
                            answers: ["InterfaceName": ["SrcName": .string(srcName), "DstPrefix": "eth"], "Gateway": "10.77.0.1"])
        let link = try #require(try ipLink(srcName), "no link \(srcName) after Join")
        #expect(link["ifname"] as? String == srcName)
        #expect((link["linkinfo"] as? [String: Any])?["info_kind"] as? String == "veth")
        #expect(try ipLink("br-" + short) != nil, "no bridge br-\(short) after Join")
        #expect(try plugin.model.dockerEndpoints().first?.sandboxKey == "/run/docker/netns/0403bd238001")

        // The sandbox's gateway endpoint: `-p 80` (host port 0) gets a port chosen.
        let program = #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","Options":{"com.docker.network.endpoint.exposedports":[{"Proto":6,"Port":80}],"com.docker.network.portmap":[{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":0,"HostPortEnd":0}]}}"#
        try plugin.expectOK("NetworkDriver.ProgramExternalConnectivity", program)
        let rows = try plugin.model.publishedPorts().filter { $0.dockerEndpointID == endpointID }
        try #require(rows.count == 1, "\(rows)")
        let mapping = rows[0].mapping
        #expect(mapping.hostPorts.lowerBound != 0 && mapping.hostPorts.count == 1, "\(mapping)")
        #expect(mapping.containerPorts == 80...80)
        #expect(mapping.transport == .tcp)
        #expect(mapping.hostIP == nil)
        #expect(rows[0].network == "docker-" + short)
        #expect(rows[0].containerAddress == "10.77.0.2")
        try plugin.expectOK("NetworkDriver.EndpointOperInfo", Self.ids(networkID, endpointID),
                            answers: ["Value": ["netctl.interface": .string(srcName), "netctl.ports": [.string(mapping.description)]]])
        let chosen = mapping.hostPorts.lowerBound
        #expect(try rulesetMentions(port: chosen), "no rule for the chosen host port \(chosen)")

        // A network Docker made is Docker's to remove.
        let refusal = #expect(throws: NetworkError.self) { try plugin.model.removeNetwork("docker-" + short) }
        #expect(refusal?.message.contains("docker network rm") == true, "\(String(describing: refusal))")
        #expect(try plugin.model.networks().contains { $0.name == "docker-" + short })

        // Container exit: RevokeExternalConnectivity, Leave, DeleteEndpoint, each repeated.
        try plugin.expectOK("NetworkDriver.RevokeExternalConnectivity", Self.ids(networkID, endpointID))
        #expect(try plugin.model.publishedPorts().isEmpty)
        #expect(try !rulesetMentions(port: chosen), "a rule for host port \(chosen) is left after RevokeExternalConnectivity")
        try plugin.expectOK("NetworkDriver.EndpointOperInfo", Self.ids(networkID, endpointID),
                            answers: ["Value": ["netctl.interface": .string(srcName)]])
        try plugin.expectOK("NetworkDriver.RevokeExternalConnectivity", Self.ids(networkID, endpointID))
        try plugin.expectOK("NetworkDriver.Leave", Self.ids(networkID, endpointID))
        #expect(try ipLink(srcName) == nil, "\(srcName) is still there after Leave")
        #expect(try plugin.model.dockerEndpoints().first?.sandboxKey == nil)
        try plugin.expectOK("NetworkDriver.Leave", Self.ids(networkID, endpointID))
        try plugin.expectOK("NetworkDriver.DeleteEndpoint", Self.ids(networkID, endpointID))
        #expect(try plugin.model.dockerEndpoints().isEmpty)
        try plugin.expectOK("NetworkDriver.DeleteEndpoint", Self.ids(networkID, endpointID))

        // docker network rm: the bridge and the netctl network go.
        try plugin.expectOK("NetworkDriver.DeleteNetwork", #"{"NetworkID":"\#(networkID)"}"#)
        #expect(try ipLink("br-" + short) == nil, "br-\(short) is still there after DeleteNetwork")
        #expect(try plugin.model.networks().isEmpty)
        #expect(try plugin.model.dockerNetworks().isEmpty)
        try plugin.expectOK("NetworkDriver.DeleteNetwork", #"{"NetworkID":"\#(networkID)"}"#)
    }

    @Test func programmingAgainKeepsTheHostPortChosenBefore() throws {
        let networkID = dockerID("c65cd0db"), endpointID = dockerID("341a81cf")
        try plugin.expectOK("NetworkDriver.CreateNetwork", Self.createNetworkBody(networkID, pool: "10.75.0.0/24", gateway: "10.75.0.1/24"))
        defer { _ = plugin.call("NetworkDriver.DeleteNetwork", #"{"NetworkID":"\#(networkID)"}"#) }
        try plugin.expectOK("NetworkDriver.CreateEndpoint", Self.createEndpointBody(networkID, endpointID, address: "10.75.0.2/24"))
        let (status, joined) = try plugin.send("NetworkDriver.Join", Self.joinBody(networkID, endpointID))
        #expect(status == 200, "\(joined)")
        let program = #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","Options":{"com.docker.network.portmap":[{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":0,"HostPortEnd":0}]}}"#
        try plugin.expectOK("NetworkDriver.ProgramExternalConnectivity", program)
        let first = try plugin.model.publishedPorts().map(\.mapping)
        try #require(first.count == 1, "\(first)")
        // The same call again for the same endpoint: the host port it was given stays (what
        // EndpointOperInfo and `netctl port ls` showed must not move under a client).
        try plugin.expectOK("NetworkDriver.ProgramExternalConnectivity", program)
        let again = try plugin.model.publishedPorts().map(\.mapping)
        #expect(again.map(\.description) == first.map(\.description))
        // Whatever was chosen, only what is published has rules.
        let ports = Set((first + again).map(\.hostPorts.lowerBound))
        for port in ports where !again.contains(where: { $0.hostPorts.contains(port) }) {
            #expect(try !rulesetMentions(port: port), "host port \(port), no longer published, still has a rule")
        }
        try plugin.expectOK("NetworkDriver.RevokeExternalConnectivity", Self.ids(networkID, endpointID))
        for port in ports.sorted() {
            #expect(try !rulesetMentions(port: port), "a rule for host port \(port) is left after RevokeExternalConnectivity")
        }
    }

    @Test func theRecordedPortIsPublishedAsAsked() throws {
        let networkID = dockerID("c65cd0db"), endpointID = dockerID("341a81cf")
        try plugin.expectOK("NetworkDriver.CreateNetwork", Self.createNetworkBody(networkID, pool: "10.76.0.0/24", gateway: "10.76.0.1/24"))
        try plugin.expectOK("NetworkDriver.CreateEndpoint", Self.createEndpointBody(networkID, endpointID, address: "10.76.0.2/24"))
        let (status, joined) = try plugin.send("NetworkDriver.Join", Self.joinBody(networkID, endpointID))
        #expect(status == 200, "\(joined)")
        try plugin.expectOK("NetworkDriver.ProgramExternalConnectivity",
                            #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","Options":\#(Self.portOptions)}"#)
        let expected = try PortMapping(hostPort: 18080, containerPort: 80)
        #expect(try plugin.model.publishedPorts().map(\.mapping) == [expected])
        try plugin.expectOK("NetworkDriver.EndpointOperInfo", Self.ids(networkID, endpointID),
                            answers: ["Value": ["netctl.interface": .string("nc" + endpointID.prefix(13)), "netctl.ports": [.string(expected.description)]]])
        // DeleteNetwork with the endpoint still there (a dockerd that died meanwhile) takes it all.
        try plugin.expectOK("NetworkDriver.DeleteNetwork", #"{"NetworkID":"\#(networkID)"}"#)
        #expect(try plugin.model.publishedPorts().isEmpty)
        #expect(try plugin.model.dockerEndpoints().isEmpty)
        #expect(try ipLink("nc" + endpointID.prefix(13)) == nil)
        #expect(try ipLink("br-" + networkID.prefix(12)) == nil)
        #expect(try plugin.model.networks().isEmpty)
    }

    @Test func anInternalNetworkJoinsWithoutAGatewayAndPublishesNothing() throws {
        let networkID = dockerID("1a7e4a11"), endpointID = dockerID("e4d9")
        let srcName = "nc" + endpointID.prefix(13)
        try plugin.expectOK("NetworkDriver.CreateNetwork", Self.createNetworkBody(networkID, pool: "10.78.0.0/24", gateway: "10.78.0.1/24", isInternal: true))
        let network = try #require(try plugin.model.networks().first)
        #expect(network.isInternal)
        try plugin.expectOK("NetworkDriver.CreateEndpoint", Self.createEndpointBody(networkID, endpointID, address: "10.78.0.2/24"))
        try plugin.expectOK("NetworkDriver.Join", Self.joinBody(networkID, endpointID),
                            answers: ["InterfaceName": ["SrcName": .string(srcName), "DstPrefix": "eth"], "DisableGatewayService": true])
        #expect(try ipLink(srcName) != nil)
        try plugin.expectOK("NetworkDriver.ProgramExternalConnectivity",
                            #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","Options":\#(Self.portOptions)}"#)
        #expect(try plugin.model.publishedPorts().isEmpty)
        try plugin.expectOK("NetworkDriver.RevokeExternalConnectivity", Self.ids(networkID, endpointID))
        try plugin.expectOK("NetworkDriver.Leave", Self.ids(networkID, endpointID))
        #expect(try ipLink(srcName) == nil)
        try plugin.expectOK("NetworkDriver.DeleteEndpoint", Self.ids(networkID, endpointID))
        try plugin.expectOK("NetworkDriver.DeleteNetwork", #"{"NetworkID":"\#(networkID)"}"#)
        #expect(try plugin.model.networks().isEmpty)
    }

    @Test func aPoolOfANetctlBridgeNetworkSharesItsLeases() throws {
        var request = NetworkRequest(name: "shared", driver: .bridge)
        request.subnets = [try CIDR(parsing: "10.66.0.0/24")]
        _ = try plugin.model.createNetwork(request)
        let sandbox = "sb\(UInt32.random(in: 0...UInt32.max))"
        _ = try plugin.model.createSandbox(name: sandbox)
        defer {
            try? plugin.model.disconnect(network: "shared", sandbox: sandbox, force: true)
            _ = try? plugin.model.removeSandbox(sandbox, force: true)
            _ = try? plugin.model.removeNetwork("shared", force: true)
        }
        let connected = try plugin.model.connect(network: "shared", sandbox: sandbox)
        let netctlAddress = try #require(connected.addresses.first { $0.family == .v4 })

        // --ipam-driver netctl --ipam-opt netctl.network=shared
        let (pool, subnet) = try plugin.requestPool(#"{"AddressSpace":"netctl-local","Pool":"","SubPool":"","Options":{"netctl.network":"shared"},"V6":false}"#)
        #expect(subnet == "10.66.0.0/24")
        #expect(try plugin.address(pool: pool, options: #"{"RequestAddressType":"com.docker.network.gateway"}"#) == "10.66.0.1/24")
        // The address netctl leased is not Docker's to have.
        try plugin.expectError("IpamDriver.RequestAddress",
                               #"{"PoolID":\#(quoted(pool)),"Address":"\#(netctlAddress.address)","Options":null}"#,
                               status: 409, naming: [netctlAddress.address.description, "netctl sandbox \"\(sandbox)\""])
        // Nor is one handed out automatically.
        let docker = try plugin.address(pool: pool)
        #expect(docker != netctlAddress.description)
        #expect(try CIDR(parsing: docker).prefixLength == 24)
        // And what Docker has, netctl does not hand out.
        let other = "sb\(UInt32.random(in: 0...UInt32.max))"
        _ = try plugin.model.createSandbox(name: other)
        defer {
            try? plugin.model.disconnect(network: "shared", sandbox: other, force: true)
            _ = try? plugin.model.removeSandbox(other, force: true)
        }
        let second = try plugin.model.connect(network: "shared", sandbox: other)
        #expect(!second.addresses.map(\.description).contains(docker), "\(second.addresses) has Docker's \(docker)")

        // The netctl network carries a Docker network made with -o netctl.network=shared.
        let networkID = dockerID("5a4ed")
        try plugin.expectOK("NetworkDriver.CreateNetwork",
                            Self.createNetworkBody(networkID, pool: "10.66.0.0/24", gateway: "10.66.0.1/24", generic: #"{"netctl.network":"shared"}"#))
        #expect(try plugin.model.dockerNetworks().map { "\($0.id) \($0.network) \($0.made) \($0.name ?? "-")" } == ["\(networkID) shared false -"])
        let refusal = #expect(throws: NetworkError.self) { try plugin.model.removeNetwork("shared") }
        #expect(refusal?.message.contains("docker network rm") == true, "\(String(describing: refusal))")
        // Removing the Docker network leaves the netctl network as it was.
        try plugin.expectOK("NetworkDriver.DeleteNetwork", #"{"NetworkID":"\#(networkID)"}"#)
        #expect(try plugin.model.networks().map(\.name) == ["shared"])
        try plugin.expectOK("IpamDriver.ReleasePool", #"{"PoolID":\#(quoted(pool))}"#)
        // netctl's own leases stay with the pool gone.
        #expect(try plugin.model.endpoints(network: "shared").count == 2)
    }
}
