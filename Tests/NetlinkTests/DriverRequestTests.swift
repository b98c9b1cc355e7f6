import Drivers
import Namespaces
import NetCore
import Testing
@testable import Netlink

/// The drivers against a scripted kernel, no privileges: the requests each operation sends,
/// and that a refusal at any step leaves no link behind.
struct DriverRequestTests {
    static let newLink: UInt16 = 16, deleteLink: UInt16 = 17, getLink: UInt16 = 18, setLink: UInt16 = 19
    static let newAddress: UInt16 = 20, getAddress: UInt16 = 22, newRoute: UInt16 = 24, getRoute: UInt16 = 26

    func id() throws -> AttachmentID { AttachmentID(network: "net", containerID: "c1", interface: try InterfaceName("eth0")) }

    func ip() throws -> IPConfiguration {
        IPConfiguration(assignments: [.init(address: try CIDR(parsing: "10.5.0.2/24"), gateway: IPAddress("10.5.0.1"))],
                        routes: [.defaultRoute(via: try IPAddress(parsing: "10.5.0.1", field: "gateway"))])
    }

    func macvlan(host: ScriptedKernel) -> MacvlanDriver {
        MacvlanDriver(options: MacvlanOptions(parent: try? InterfaceName("uplink0")), host: RouteSocket(transport: host, firstSequence: 1))
    }

    @Test func macvlanAttachCreatesConfiguresAndRoutesInOrder() throws {
        let container = ScriptedKernel(links: ["lo": nil])
        let host = ScriptedKernel(links: ["uplink0": "veth"], otherNamespace: container)
        let context = AttachmentContext(id: try id(), namespace: try NetNamespace.current(), container: RouteSocket(transport: container, firstSequence: 1))
        let attached = try macvlan(host: host).attach(context, ip: ip(), mac: nil)
        #expect(attached?.container.name == "eth0")
        #expect(host.requests.map(\.type) == [Self.getLink, Self.newLink]) // the parent, then the macvlan into the namespace
        #expect(host.requests.map(\.name) == ["uplink0", "eth0"])
        // Looked up once after creation, then by index: up, the address, the route.
        #expect(container.requests.map(\.type) == [Self.getLink, Self.setLink, Self.newAddress, Self.newRoute])
        #expect(attached?.container.isUp == true)

        try macvlan(host: host).detach(context)
        #expect(container.requests.last?.type == Self.deleteLink)
    }

    /// The macvlan is created by the host socket straight into the namespace; a refusal of any
    /// later request deletes it again (through the container's socket), and nothing is left.
    @Test(arguments: 1...6)
    func macvlanAttachRefusedAtAnyStepLeavesNothing(step: Int) throws {
        let container = ScriptedKernel(links: ["lo": nil], failAt: step > 2 ? step - 2 : nil)
        // What the host creates "in the namespace" appears in the container's kernel.
        let host = ScriptedKernel(links: ["uplink0": "veth"], failAt: step <= 2 ? step : nil, otherNamespace: container)
        let context = AttachmentContext(id: try id(), namespace: try NetNamespace.current(),
                                        container: RouteSocket(transport: container, firstSequence: 1))
        let driver = macvlan(host: host)
        do {
            _ = try driver.attach(context, ip: ip(), mac: nil)
            Issue.record("step \(step): attach went through a refusal")
        } catch {
            #expect(container.linkNames == ["lo"], "step \(step): \(container.linkNames)")
            if step > 2 { #expect(container.requests.last?.type == Self.deleteLink, "step \(step): undone last") }
        }
    }

    @Test func bridgeAttachMakesTheBridgeAndThePairAndAFailureTakesBothBack() throws {
        let options = BridgeOptions(bridge: try InterfaceName("br9"))
        for step in 1...9 {
            let host = ScriptedKernel(failAt: step)
            let container = ScriptedKernel(links: ["lo": nil, "eth0": "veth"])
            let driver = BridgeDriver(options: options, host: RouteSocket(transport: host, firstSequence: 1),
                                      hostNamespace: try NetNamespace.current())
            let context = AttachmentContext(id: try id(), namespace: try NetNamespace.current(),
                                            container: RouteSocket(transport: container, firstSequence: 1))
            do {
                _ = try driver.attach(context, ip: ip(), mac: nil)
                // Every request went through: the bridge and the host end are there.
                #expect(host.linkNames == ["br9", try id().hostInterfaceName.rawValue], "step \(step)")
                #expect(host.requests.prefix(3).map(\.type) == [Self.getLink, Self.newLink, Self.getLink])
            } catch {
                #expect(host.linkNames.isEmpty, "step \(step): \(host.linkNames) left")
            }
        }
    }
}
