// The first demo: a bridge on the "host", two namespaces joined to it by veth pairs with
// addresses and default routes, built only through the Netlink and Namespaces modules.
//
//     netlink-demo up     create everything (rolls back on failure)
//     netlink-demo down   remove everything (idempotent)
#if canImport(Glibc)
import Glibc
#endif
import Namespaces
import NetCore
import Netlink

let bridge: LinkReference = "ndemo0"
let gateway = CIDR("10.213.0.1/24")
let containers: [(namespace: String, hostSide: LinkReference, address: String)] = [
    ("ndemo-a", "ndemo-a0", "10.213.0.2/24"),
    ("ndemo-b", "ndemo-b0", "10.213.0.3/24"),
]

func up() throws {
    guard let gateway else { return }
    let host = try RouteSocket.open()
    try UndoStack.transaction { undo in
        try host.addLink(LinkSpec(name: InterfaceName(bridge.description), kind: .bridge, up: true))
        undo.push("delete \(bridge)") { try host.deleteLink(bridge) }
        try host.addAddress(gateway, to: bridge)
        print("created bridge \(bridge) with \(gateway)")

        for container in containers {
            let namespace = try NetNamespace.create(named: container.namespace)
            undo.push("delete netns \(container.namespace)") { try NetNamespace.delete(named: container.namespace) }
            try host.addLink(LinkSpec(
                name: InterfaceName(container.hostSide.description),
                kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: namespace)),
                master: bridge, up: true))
            undo.push("delete \(container.hostSide)") { try host.deleteLink(container.hostSide) }

            let inside = try RouteSocket.open(in: namespace)
            try inside.setLink("lo", up: true)
            try inside.setLink("eth0", up: true)
            let address = try CIDR(parsing: container.address)
            try inside.addAddress(address, to: "eth0")
            try inside.addRoute(.defaultRoute(via: gateway.address, device: "eth0"))
            print("namespace \(container.namespace): eth0 \(address) via \(gateway.address), host side \(container.hostSide) on \(bridge)")
        }
    }
}

func down() throws {
    let host = try RouteSocket.open()
    for container in containers {
        try host.deleteLink(container.hostSide)
        try NetNamespace.delete(named: container.namespace)
    }
    try host.deleteLink(bridge)
    print("removed \(bridge) and namespaces \(containers.map(\.namespace).joined(separator: ", "))")
}

do {
    switch CommandLine.arguments.dropFirst().first {
    case "up": try up()
    case "down": try down()
    default:
        print("usage: netlink-demo up|down")
        exit(2)
    }
} catch {
    print("netlink-demo: \(error)")
    exit(1)
}
