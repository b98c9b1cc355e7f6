import DockerPlugin
import Foundation
import NetCore
import NetctlModel
import Testing

/// `netctl gc` takes back what a dockerd killed before Leave and DeleteEndpoint (or a plugin
/// killed in between) left: endpoints whose sandbox namespace is gone.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct DockerGCTests {
    /// Runs `ip ARGUMENTS` in the sandbox; returns whether it succeeded.
    @discardableResult
    func ip(_ arguments: String...) throws -> Bool {
        try runTool(["ip"] + arguments).status == 0
    }

    @Test func anEndpointWhoseSandboxIsGoneIsCollectedWithItsPortsAndAddresses() throws {
        let plugin = try Plugin()
        let networkID = dockerID("9c"), endpointID = dockerID("9e")
        let pool = try plugin.requestPool(#"{"AddressSpace":"netctl-local","Pool":"10.91.7.0/24","SubPool":"","Options":{},"V6":false}"#)
        _ = try plugin.address(pool: pool.id, options: #"{"RequestAddressType":"com.docker.network.gateway"}"#)
        let address = try plugin.address(pool: pool.id)
        try plugin.expectOK("NetworkDriver.CreateNetwork", #"{"NetworkID":"\#(networkID)","Options":{"com.docker.network.generic":{}},"IPv4Data":[{"Pool":"10.91.7.0/24","Gateway":"10.91.7.1/24"}],"IPv6Data":[]}"#)
        try plugin.expectOK("NetworkDriver.CreateEndpoint", #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","Interface":{"Address":"\#(address)"}}"#)
        // The sandbox dockerd made, and the interface it moved there.
        let sandbox = "gc-\(networkID.prefix(8))"
        try ip("netns", "add", sandbox)
        defer { _ = try? ip("netns", "del", sandbox) }
        let (status, joined) = try plugin.send("NetworkDriver.Join", #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","SandboxKey":"/run/netns/\#(sandbox)"}"#)
        try #require(status == 200, "\(joined)")
        let interface = try #require(joined["InterfaceName"]?["SrcName"]?.stringValue)
        #expect(try ip("link", "set", interface, "netns", sandbox))
        try plugin.expectOK("NetworkDriver.ProgramExternalConnectivity", #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","Options":{"com.docker.network.portmap":[{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":18931,"HostPortEnd":18931}]}}"#)
        #expect(try rulesetMentions(port: 18931))

        // dockerd dies without Leave; the container's namespace goes with its processes.
        #expect(try ip("netns", "del", sandbox))
        let report = try plugin.model.gc()
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.endpoints == ["docker-\(networkID.prefix(12))/docker:\(endpointID.prefix(12))"])
        #expect(try plugin.model.dockerEndpoints().isEmpty)
        #expect(try plugin.model.publishedPorts().isEmpty)
        #expect(try !rulesetMentions(port: 18931))
        // The address is free again: dockerd will never release it.
        #expect(try plugin.address(pool: pool.id, address.split(separator: "/").first.map(String.init) ?? "") == address)

        // A second gc finds nothing; the network is still Docker's to remove.
        #expect(try plugin.model.gc().endpoints.isEmpty)
        try plugin.expectOK("NetworkDriver.DeleteNetwork", #"{"NetworkID":"\#(networkID)"}"#)
        #expect(try ipLink("br-\(networkID.prefix(12))") == nil)
    }

    @Test func anEndpointNeverJoinedOrStillInItsSandboxStays() throws {
        let plugin = try Plugin()
        let networkID = dockerID("9d"), endpointID = dockerID("9f")
        try plugin.expectOK("NetworkDriver.CreateNetwork", #"{"NetworkID":"\#(networkID)","Options":{},"IPv4Data":[{"Pool":"10.91.8.0/24","Gateway":"10.91.8.1/24"}],"IPv6Data":[]}"#)
        try plugin.expectOK("NetworkDriver.CreateEndpoint", #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","Interface":{"Address":"10.91.8.2/24"}}"#)
        #expect(try plugin.model.gc().endpoints.isEmpty)
        #expect(try plugin.model.dockerEndpoints().count == 1)
        try plugin.expectOK("NetworkDriver.DeleteEndpoint", #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)"}"#)
        try plugin.expectOK("NetworkDriver.DeleteNetwork", #"{"NetworkID":"\#(networkID)"}"#)
    }
}
