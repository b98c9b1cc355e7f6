import DockerPlugin
import NetCore
import Testing

/// The handshake, the calls with fixed answers, and bad requests: every bad body is a 4xx
/// with `Err` naming the method and the field, never a crash and never a 404 (dockerd takes a
/// 404 from ProgramExternalConnectivity as "not implemented" and goes on).
struct ProtocolTests {
    let plugin: Plugin

    init() throws {
        plugin = try Plugin()
    }

    // MARK: Fixed answers

    @Test func activateNamesBothInterfaces() throws {
        // dockerd sends no body at all.
        try plugin.expectOK("Plugin.Activate", answers: ["Implements": ["NetworkDriver", "IpamDriver"]])
        // Nor does an empty object change anything.
        try plugin.expectOK("Plugin.Activate", "{}", answers: ["Implements": ["NetworkDriver", "IpamDriver"]])
    }

    @Test func networkDriverCapabilitiesAreLocalScope() throws {
        try plugin.expectOK("NetworkDriver.GetCapabilities", answers: ["Scope": "local", "ConnectivityScope": "local"])
    }

    @Test func ipamCapabilitiesAndAddressSpaces() throws {
        try plugin.expectOK("IpamDriver.GetCapabilities", answers: ["RequiresMACAddress": false, "RequiresRequestReplay": false])
        try plugin.expectOK("IpamDriver.GetDefaultAddressSpaces",
                            answers: ["LocalDefaultAddressSpace": "netctl-local", "GlobalDefaultAddressSpace": "netctl-global"])
    }

    @Test func discoveryIsAcceptedAndIgnored() throws {
        let body = #"{"DiscoveryType":1,"DiscoveryData":{"Address":"192.0.2.7","self":true}}"#
        try plugin.expectOK("NetworkDriver.DiscoverNew", body)
        try plugin.expectOK("NetworkDriver.DiscoverDelete", body)
    }

    @Test(arguments: ["NetworkDriver.AllocateNetwork", "NetworkDriver.FreeNetwork", "IpamDriver.Nothing", "VolumeDriver.Mount", "Plugin.activate"])
    func anUnknownMethodIs404NamingIt(method: String) throws {
        let (status, answer) = try plugin.send(method, "{}")
        #expect(status == 404)
        #expect(answer == ["Err": .string("netctl does not implement \(method)")])
    }

    // MARK: Bad bodies

    @Test(arguments: [
        #"{"NetworkID":"#, "{", "NetworkID", #"{"NetworkID":"abc",}"#, "\u{FF}\u{FE}", #"{"NetworkID":"abc"} trailing"#,
    ])
    func aBodyThatIsNotJSONIs400(body: String) throws {
        for method in ["NetworkDriver.CreateNetwork", "NetworkDriver.Join", "IpamDriver.RequestPool"] {
            try plugin.expectError(method, body, status: 400, naming: [method, "not JSON"])
        }
    }

    @Test func aBodyDeeperThanTheParserTakesIs400() throws {
        let body = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        try plugin.expectError("NetworkDriver.CreateNetwork", body, status: 400, naming: ["NetworkDriver.CreateNetwork"])
    }

    @Test(arguments: [("[]", "an array"), (#"[{"NetworkID":"abc"}]"#, "an array"), (#""abc""#, "a string"), ("42", "a number"), ("null", "null")])
    func aBodyThatIsNotAnObjectIs400(body: String, kind: String) throws {
        try plugin.expectError("NetworkDriver.DeleteNetwork", body, status: 400,
                               naming: ["NetworkDriver.DeleteNetwork", "must be a JSON object", kind])
    }

    @Test(arguments: [
        ("NetworkDriver.CreateNetwork", #"{"Options":{},"IPv4Data":[],"IPv6Data":[]}"#, "NetworkID"),
        ("NetworkDriver.DeleteNetwork", "{}", "NetworkID"),
        ("NetworkDriver.DeleteNetwork", #"{"NetworkID":42}"#, "NetworkID"),
        ("NetworkDriver.CreateEndpoint", #"{"EndpointID":"341a","Interface":{"Address":"10.77.0.2/24"}}"#, "NetworkID"),
        ("NetworkDriver.CreateEndpoint", #"{"NetworkID":"c65c"}"#, "EndpointID"),
        ("NetworkDriver.Join", #"{"EndpointID":"341a","SandboxKey":"x"}"#, "NetworkID"),
        ("NetworkDriver.Leave", #"{"NetworkID":"c65c"}"#, "EndpointID"),
        ("NetworkDriver.DeleteEndpoint", #"{"NetworkID":null,"EndpointID":"341a"}"#, "NetworkID"),
        ("NetworkDriver.EndpointOperInfo", #"{"NetworkID":"c65c"}"#, "EndpointID"),
        ("NetworkDriver.ProgramExternalConnectivity", #"{"EndpointID":"341a","Options":{}}"#, "NetworkID"),
        ("NetworkDriver.RevokeExternalConnectivity", #"{"NetworkID":"c65c"}"#, "EndpointID"),
        ("IpamDriver.ReleasePool", "{}", "PoolID"),
        ("IpamDriver.RequestAddress", #"{"Address":"","Options":null}"#, "PoolID"),
        ("IpamDriver.ReleaseAddress", #"{"Address":"10.79.0.20"}"#, "PoolID"),
    ])
    func aMissingOrMistypedIDIs400NamingTheField(method: String, body: String, field: String) throws {
        try plugin.expectError(method, body, status: 400, naming: [method, field])
    }

    @Test func aPortmapProtoOtherThanTCPUDPOrSCTPIs400NamingProto() throws {
        let body = #"""
        {"NetworkID":"c65cd0db","EndpointID":"341a81cf","Options":{"com.docker.network.endpoint.exposedports":[{"Proto":99,"Port":80}],\#
        "com.docker.network.portmap":[{"Proto":99,"IP":"","Port":80,"HostIP":"","HostPort":18080,"HostPortEnd":18080}]}}
        """#
        try plugin.expectError("NetworkDriver.ProgramExternalConnectivity", body, status: 400,
                               naming: ["NetworkDriver.ProgramExternalConnectivity", "Proto", "99"])
    }

    @Test(arguments: [
        (#"[{"Proto":6,"IP":"","Port":0,"HostIP":"","HostPort":18080,"HostPortEnd":18080}]"#, "Port"),
        (#"[{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":70000,"HostPortEnd":70000}]"#, "HostPort"),
        (#"[{"Proto":6,"IP":"","Port":80,"HostIP":"localhost","HostPort":18080,"HostPortEnd":18080}]"#, "HostIP"),
        (#"[{"IP":"","Port":80,"HostIP":"","HostPort":18080,"HostPortEnd":18080}]"#, "Proto"),
        (#"{"Proto":6}"#, "portmap"),
    ])
    func aBadPortmapEntryIs400NamingTheKey(portmap: String, key: String) throws {
        let body = #"{"NetworkID":"c65cd0db","EndpointID":"341a81cf","Options":{"com.docker.network.portmap":\#(portmap)}}"#
        try plugin.expectError("NetworkDriver.ProgramExternalConnectivity", body, status: 400, naming: [key])
    }

    @Test func anUnknownPoolIDInRequestAddressIsRefusedNamingPoolID() throws {
        try plugin.expectError("IpamDriver.RequestAddress", #"{"PoolID":"netctl/10.99.0.0/24","Address":"","Options":null}"#,
                               status: 400, naming: ["PoolID", "netctl/10.99.0.0/24", "no such pool"])
    }

    @Test(.enabled(if: Sandbox.isHarmless, Sandbox.harmlessReason),
          arguments: ["../../etc/passwd", "341a/../x", "", "341a 81cf", "341a\u{0}", String(repeating: "a", count: 129)])
    func anEndpointIDThatIsNotAnIDIs400(endpointID: String) throws {
        // A network the endpoint could be on (macvlan: recorded without touching the kernel).
        let networkID = dockerID("c65cd0db")
        try plugin.expectOK("NetworkDriver.CreateNetwork", macvlanNetworkBody(networkID, pool: "10.77.0.0/24", gateway: "10.77.0.1/24"))
        let body = #"{"NetworkID":"\#(networkID)","EndpointID":\#(quoted(endpointID)),"Interface":{"Address":"10.77.0.2/24","AddressIPv6":"","MacAddress":""},"Options":{}}"#
        try plugin.expectError("NetworkDriver.CreateEndpoint", body, status: 400, naming: ["EndpointID"])
        try plugin.expectError("NetworkDriver.Join", #"{"NetworkID":"\#(networkID)","EndpointID":\#(quoted(endpointID)),"SandboxKey":"/run/docker/netns/0403bd238001","Options":{}}"#,
                               status: 400, naming: ["EndpointID"])
        #expect(try plugin.model.dockerEndpoints().isEmpty)
    }

    @Test(arguments: ["../c65cd0db", "c65c-d0db", "c65c.d0db"])
    func aNetworkIDThatIsNotAnIDIs400(networkID: String) throws {
        let body = #"{"NetworkID":\#(quoted(networkID)),"Options":{"com.docker.network.enable_ipv6":false,"com.docker.network.generic":{}},"IPv4Data":[{"AddressSpace":"LocalDefault","Gateway":"10.77.0.1/24","Pool":"10.77.0.0/24"}],"IPv6Data":[]}"#
        try plugin.expectError("NetworkDriver.CreateNetwork", body, status: 400, naming: ["NetworkID", networkID])
        #expect(try plugin.model.networks().isEmpty)
        #expect(try plugin.model.dockerNetworks().isEmpty)
    }

    @Test func callsOnANetworkPluginNeverHeardOfAre400NamingTheID() throws {
        try plugin.expectError("NetworkDriver.CreateEndpoint",
                               #"{"NetworkID":"c65cd0db","EndpointID":"341a81cf","Interface":{"Address":"10.77.0.2/24","AddressIPv6":"","MacAddress":""},"Options":{}}"#,
                               status: 400, naming: ["NetworkID", "c65cd0db", "no such network"])
        try plugin.expectError("NetworkDriver.Join", #"{"NetworkID":"c65cd0db","EndpointID":"341a81cf","SandboxKey":"/run/docker/netns/0403bd238001","Options":{}}"#,
                               status: 400, naming: ["NetworkID", "c65cd0db"])
        try plugin.expectError("NetworkDriver.ProgramExternalConnectivity", #"{"NetworkID":"c65cd0db","EndpointID":"341a81cf","Options":{}}"#,
                               status: 400, naming: ["NetworkID", "c65cd0db"])
    }

    @Test func removalsAndReleasesOfUnknownIDsAreSuccess() throws {
        try plugin.expectOK("NetworkDriver.DeleteNetwork", #"{"NetworkID":"c65cd0db"}"#)
        try plugin.expectOK("NetworkDriver.DeleteEndpoint", #"{"NetworkID":"c65cd0db","EndpointID":"341a81cf"}"#)
        try plugin.expectOK("NetworkDriver.Leave", #"{"NetworkID":"c65cd0db","EndpointID":"341a81cf"}"#)
        try plugin.expectOK("NetworkDriver.RevokeExternalConnectivity", #"{"NetworkID":"c65cd0db","EndpointID":"341a81cf"}"#)
        try plugin.expectOK("IpamDriver.ReleasePool", #"{"PoolID":"netctl/10.99.0.0/24"}"#)
        try plugin.expectOK("IpamDriver.ReleaseAddress", #"{"PoolID":"netctl/10.99.0.0/24","Address":"10.99.0.5"}"#)
        try plugin.expectOK("IpamDriver.ReleaseAddress", #"{"PoolID":"netctl/10.99.0.0/24","Address":""}"#)
        // What dockerd shows of an endpoint the plugin does not know: nothing.
        try plugin.expectOK("NetworkDriver.EndpointOperInfo", #"{"NetworkID":"c65cd0db","EndpointID":"341a81cf"}"#, answers: ["Value": [:]])
    }

    @Test(.enabled(if: Sandbox.isHarmless, Sandbox.harmlessReason))
    func aNetctlDriverOtherThanBridgeOrMacvlanIs400NamingTheOption() throws {
        let id = dockerID("c65cd0db")
        let body = #"{"NetworkID":"\#(id)","Options":{"com.docker.network.enable_ipv6":false,"com.docker.network.generic":{"netctl.driver":"ipvlan"}},"IPv4Data":[{"AddressSpace":"LocalDefault","Gateway":"10.77.0.1/24","Pool":"10.77.0.0/24"}],"IPv6Data":[]}"#
        try plugin.expectError("NetworkDriver.CreateNetwork", body, status: 400, naming: ["-o netctl.driver", "ipvlan"])
        for driver in ["null", "host"] {
            try plugin.expectError("NetworkDriver.CreateNetwork", body.replacingOccurrences(of: "ipvlan", with: driver), status: 400,
                                   naming: ["-o netctl.driver", driver, "bridge or macvlan"])
        }
        #expect(try plugin.model.networks().isEmpty)
        #expect(try plugin.model.dockerNetworks().isEmpty)
    }

    @Test(.enabled(if: Sandbox.isHarmless, Sandbox.harmlessReason))
    func anUnknownGenericOptionIs400NamingIt() throws {
        // The body dockerd sent for `-o fake.gw=yes` (the recorded plugin's own option).
        let id = dockerID("c65cd0db")
        let body = #"{"NetworkID":"\#(id)","Options":{"com.docker.network.enable_ipv6":false,"com.docker.network.generic":{"fake.gw":"yes"}},"IPv4Data":[{"AddressSpace":"LocalDefault","Gateway":"10.77.0.1/24","Pool":"10.77.0.0/24"}],"IPv6Data":[]}"#
        try plugin.expectError("NetworkDriver.CreateNetwork", body, status: 400, naming: ["-o", "fake.gw"])
        #expect(try plugin.model.networks().isEmpty)
        #expect(try plugin.model.dockerNetworks().isEmpty)
    }

    @Test(.enabled(if: Sandbox.isHarmless, Sandbox.harmlessReason))
    func badAddressDataIs400NamingTheField() throws {
        let id = dockerID("c65cd0db")
        func body(_ ipv4Data: String) -> String {
            #"{"NetworkID":"\#(id)","Options":{"com.docker.network.generic":{}},"IPv4Data":\#(ipv4Data),"IPv6Data":[]}"#
        }
        try plugin.expectError("NetworkDriver.CreateNetwork", body(#"[{"AddressSpace":"LocalDefault","Gateway":"10.77.0.1/24"}]"#),
                               status: 400, naming: ["IPv4Data Pool"])
        try plugin.expectError("NetworkDriver.CreateNetwork", body(#"[{"AddressSpace":"LocalDefault","Pool":"10.77.0.0/33"}]"#),
                               status: 400, naming: ["Pool", "10.77.0.0/33"])
        try plugin.expectError("NetworkDriver.CreateNetwork",
                               body(#"[{"AddressSpace":"LocalDefault","Pool":"10.77.0.0/24","AuxAddresses":{"r1":"router"}}]"#),
                               status: 400, naming: ["--aux-address", "r1=router"])
        #expect(try plugin.model.networks().isEmpty)
    }
}
