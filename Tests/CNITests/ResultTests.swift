import CNI
import NetCore
import Testing

/// Results printed in each supported version and read back from any of them.
@Suite struct ResultTests {
    func sample() throws -> CNIResult {
        var result = CNIResult()
        result.interfaces = [CNIResult.Interface(name: "cni0", mac: "02:00:00:00:00:01"),
                             CNIResult.Interface(name: "eth0", mac: "02:00:00:00:00:02", mtu: 1450, sandbox: "/run/netns/x")]
        result.ips = [CNIResult.IPConfig(address: try CIDR(parsing: "10.88.0.5/16"), gateway: IPAddress("10.88.0.1"), interface: 1),
                      CNIResult.IPConfig(address: try CIDR(parsing: "fd00::5/64"), interface: 1)]
        var route = CNIResult.Route(destination: try CIDR(parsing: "0.0.0.0/0"), gateway: IPAddress("10.88.0.1"))
        route.priority = 100
        result.routes = [route]
        result.dns.nameservers = ["10.88.0.1"]
        return result
    }

    @Test func version110PrintsInterfaceMTUAndNoIPVersion() throws {
        #expect(try sample().json(version: CNIVersion(1, 1, 0)).serialized() == #"{"cniVersion":"1.1.0","interfaces":[{"name":"cni0","mac":"02:00:00:00:00:01"},{"name":"eth0","mac":"02:00:00:00:00:02","mtu":1450,"sandbox":"/run/netns/x"}],"ips":[{"interface":1,"address":"10.88.0.5/16","gateway":"10.88.0.1"},{"interface":1,"address":"fd00::5/64"}],"routes":[{"dst":"0.0.0.0/0","gw":"10.88.0.1","priority":100}],"dns":{"nameservers":["10.88.0.1"]}}"#)
    }

    @Test func version040PrintsIPVersionAndDropsInterfaceMTU() throws {
        #expect(try sample().json(version: CNIVersion(0, 4, 0)).serialized() == #"{"cniVersion":"0.4.0","interfaces":[{"name":"cni0","mac":"02:00:00:00:00:01"},{"name":"eth0","mac":"02:00:00:00:00:02","sandbox":"/run/netns/x"}],"ips":[{"version":"4","interface":1,"address":"10.88.0.5/16","gateway":"10.88.0.1"},{"version":"6","interface":1,"address":"fd00::5/64"}],"routes":[{"dst":"0.0.0.0/0","gw":"10.88.0.1","priority":100}],"dns":{"nameservers":["10.88.0.1"]}}"#)
    }

    @Test(arguments: CNIVersion.supported)
    func everyVersionReadsBackToTheSameResult(_ version: CNIVersion) throws {
        var expected = try sample()
        if !version.description.hasPrefix("1.") { expected.interfaces[1].mtu = nil }
        #expect(try CNIResult(json: try sample().json(version: version)) == expected)
    }

    @Test func malformedResultIsCode6NamingTheMember() {
        do {
            _ = try CNIResult(json: ["ips": [["address": "10.0.0.300/24"]]])
            Issue.record("expected an error")
        } catch let error as CNIError {
            #expect(error.code == .decodingFailure)
            #expect(error.message.contains("ips[].address"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
