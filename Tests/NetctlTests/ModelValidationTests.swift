import Foundation
import NetCore
@testable import NetctlCommands
@testable import NetctlModel
import Testing

/// Bad input to the model is refused with the flag and the value named, before anything is
/// made; these need no privileges (nothing reaches the kernel).
struct ModelValidationTests {
    let model: Netctl

    init() throws {
        // Named as the CLI names them: the messages below are what a user of netctl reads.
        model = try Netctl(stateDirectory: NSTemporaryDirectory() + "netctl-unit-\(UUID().uuidString)", names: .commandLine)
    }

    func request(_ driver: DriverKind = .macvlan, _ configure: (inout NetworkRequest) throws -> Void) rethrows -> NetworkRequest {
        var request = NetworkRequest(name: "n1", driver: driver)
        try configure(&request)
        return request
    }

    func refusal(_ request: NetworkRequest) -> NetworkError? {
        #expect(throws: NetworkError.self) { try model.createNetwork(request) }
        do { _ = try model.createNetwork(request) } catch let error as NetworkError { return error } catch {}
        return nil
    }

    @Test func everyBadNetworkFlagIsNamedWithItsValue() throws {
        let cases: [(NetworkRequest, String)] = [
            (request { $0.name = "bad name" }, "bad name"),
            (try request { $0.subnets = [try CIDR(parsing: "10.1.0.0/24")]; $0.options = ["colour": "red"] }, "colour"),
            (try request { $0.subnets = [try CIDR(parsing: "10.1.0.0/24")]; $0.options = ["com.docker.network.driver.mtu": "9"] }, "mtu"),
            (try request { $0.subnets = [try CIDR(parsing: "10.1.0.0/24")]; $0.options = ["macvlan_mode": "fast"] }, "fast"),
            (try request { $0.subnets = [try CIDR(parsing: "10.1.0.5/24")] }, "--subnet"),
            (try request { $0.subnets = [try CIDR(parsing: "fd00::/64")] }, "--ipv6"),
            (try request { $0.subnets = [try CIDR(parsing: "10.1.0.0/24")]; $0.ipRanges = [try CIDR(parsing: "10.2.0.0/25")] }, "--ip-range"),
            (try request { $0.subnets = [try CIDR(parsing: "10.1.0.0/24")]; $0.gateways = [try IPAddress(parsing: "10.9.0.1", field: "t")] }, "--gateway"),
            (try request { $0.subnets = [try CIDR(parsing: "10.1.0.0/24")]; $0.auxAddresses = ["router": try IPAddress(parsing: "10.3.0.1", field: "t")] }, "--aux-address"),
            (request { _ in }, "--subnet"), // macvlan without a subnet
            (try request(.null) { $0.subnets = [try CIDR(parsing: "10.1.0.0/24")] }, "null"),
        ]
        for (request, named) in cases {
            let error = refusal(request)
            #expect(error?.code == .invalidArgument, "\(named): \(String(describing: error))")
            #expect(error?.message.contains(named) == true, "\(String(describing: error?.message)) should name \(named)")
        }
        #expect(try model.networks().isEmpty) // nothing half made
    }

    @Test func aMacvlanNetworkKeepsItsRangesGatewayAndReservedAddresses() throws {
        let network = try model.createNetwork(try request {
            $0.subnets = [try CIDR(parsing: "10.1.0.0/24")]
            $0.ipRanges = [try CIDR(parsing: "10.1.0.128/25")]
            $0.auxAddresses = ["router": try IPAddress(parsing: "10.1.0.200", field: "t")]
            $0.options = ["parent": "eth9", "macvlan_mode": "private"]
        })
        #expect(network.subnets.first?.gateway?.description == "10.1.0.1") // the first address by default
        #expect(network.subnets.first?.ipRange?.description == "10.1.0.128/25")
        let ranges = try model.rangeSets(network)
        #expect(ranges.first?.ranges.first?.reserved.map(\.description) == ["10.1.0.200"])
        #expect(try model.network("n1") == network)
        #expect(try model.network(network.id) == network) // by ID too
        #expect(throws: NetworkError.self) { try model.createNetwork(try request { $0.subnets = [try CIDR(parsing: "10.5.0.0/24")] }) }
    }

    @Test func removingWhatDoesNotExistIsSuccessAndUnknownNamesAreNotFound() throws {
        #expect(try model.removeNetwork("nothing") == false)
        #expect(try model.removeSandbox("nothing") == false)
        try model.disconnect(network: "nothing", sandbox: "nothing", force: true)
        let error = #expect(throws: NetworkError.self) { try model.network("nothing") }
        #expect(error?.code == .notFound)
    }

    @Test func driverAndSandboxModesParseAndNameWhatIsWrong() throws {
        #expect(try DriverKind(parsing: "cni:ptp") == .cni("ptp"))
        #expect(try DriverKind(parsing: "none") == .null)
        #expect(try SandboxMode(parsing: "container:web") == .container("web"))
        let driver = #expect(throws: NetworkError.self) { try DriverKind(parsing: "ipvlan") }
        #expect(driver?.message.hasPrefix("invalid driver \"ipvlan\"") == true, "\(String(describing: driver))")
        let mode = #expect(throws: NetworkError.self) { try SandboxMode(parsing: "bridge") }
        #expect(mode?.message.hasPrefix("invalid network mode \"bridge\"") == true, "\(String(describing: mode))")
        // The CLI names them by its flags.
        let flag = #expect(throws: NetworkError.self) { try DriverKind(parsing: "ipvlan", field: FieldNames.commandLine.driver) }
        #expect(flag?.message.contains("--driver") == true)
    }

    /// The model names fields; a front end that gives no names of its own gets plain words,
    /// never a CLI flag.
    @Test func withoutAFrontEndsNamesErrorsNameFieldsNotFlags() throws {
        let plain = try Netctl(stateDirectory: NSTemporaryDirectory() + "netctl-unit-\(UUID().uuidString)")
        var request = NetworkRequest(name: "plain", driver: .bridge)
        request.subnets = [try CIDR(parsing: "fd00::/64")]
        let error = #expect(throws: NetworkError.self) { try plain.createNetwork(request) }
        #expect(error?.message == "invalid subnet \"fd00::/64\": is IPv6: turn on IPv6 for the network", "\(String(describing: error))")
        #expect(error?.message.contains("--") == false)
    }

    @Test func recordsSurviveTheirJSON() throws {
        let network = NetworkRecord(name: "n", id: "abc", driver: .bridge,
                                    subnets: [SubnetSpec(subnet: try CIDR(parsing: "10.7.0.0/24"), ipRange: try CIDR(parsing: "10.7.0.0/25"),
                                                         gateway: try IPAddress(parsing: "10.7.0.1", field: "t"))],
                                    auxAddresses: ["a": try IPAddress(parsing: "10.7.0.9", field: "t")], options: ["k": "v"],
                                    labels: ["l": "m"], isInternal: true, ipv6: false, created: 42, createdLinks: ["cni7"])
        #expect(try NetworkRecord(json: network.json) == network)
        let endpoint = EndpointRecord(network: "n", sandbox: "s", interface: "eth0", addresses: [try CIDR(parsing: "10.7.0.2/24")],
                                      mac: "02:00:00:00:00:01", aliases: ["web"], ports: [try PortMapping(parsing: "127.0.0.1:8080-8081:80-81/udp")])
        #expect(try EndpointRecord(json: endpoint.json) == endpoint)
        var reserved = endpoint
        reserved.reservedBy = ReservingProcess(pid: 4242, startTime: 123_456_789, pidNamespace: 4_026_531_836)
        #expect(try EndpointRecord(json: reserved.json) == reserved)
    }

    /// A reservation is abandoned once its process is gone, or another one has its PID.
    @Test func aReservationIsAbandonedOnlyWhenItsProcessHasGone() throws {
        let me = try #require(ReservingProcess.current())
        #expect(me.pid == getpid() && !me.isGone)
        #expect(ReservingProcess(pid: me.pid, startTime: me.startTime + 1, pidNamespace: me.pidNamespace).isGone) // the PID, reused
        #expect(ReservingProcess(pid: Int32.max, startTime: me.startTime, pidNamespace: me.pidNamespace).isGone)
        // One of another PID namespace cannot be looked up here: never taken for gone.
        #expect(!ReservingProcess(pid: Int32.max, startTime: me.startTime, pidNamespace: me.pidNamespace + 1).isGone)
        // A command name with spaces and parentheses does not shift the fields.
        let link = NSTemporaryDirectory() + "a (b) c \(UUID().uuidString.prefix(4))"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/bin/sleep")
        defer { try? FileManager.default.removeItem(atPath: link) }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: link)
        child.arguments = ["5"]
        try child.run()
        defer { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() } // the runner blocks SIGTERM in its children
        usleep(100_000)
        let status = try #require(ProcessStatus(pid: child.processIdentifier))
        #expect(status.startTime >= me.startTime && status.parentPID == getpid() && status.state != "Z")
    }

    // MARK: Endpoints that need no namespace of their own

    @Test func aliasesMustBeDNSNamesAndTheRefusalNamesThem() throws {
        _ = try model.createNetwork(NetworkRequest(name: "none1", driver: .null))
        _ = try model.createSandbox(name: "hostsb", mode: .host)
        for alias in ["bad_alias", "-web", "web-", "", "a..b", String(repeating: "x", count: 64), "web site"] {
            var request = ConnectRequest()
            request.aliases = ["ok", alias]
            let error = #expect(throws: NetworkError.self) { try model.connect(network: "none1", sandbox: "hostsb", request) }
            #expect(error?.code == .invalidArgument, "\(alias)")
            #expect(error?.message.contains("--alias") == true && error?.message.contains("\"\(alias)\"") == true, "\(String(describing: error))")
        }
        #expect(try model.endpoints().isEmpty)
        var request = ConnectRequest()
        request.aliases = ["web", "db.internal", "a-1", "x", String(repeating: "y", count: 63)]
        let endpoint = try model.connect(network: "none1", sandbox: "hostsb", request)
        #expect(endpoint.aliases == request.aliases)
        #expect(try model.endpoints(network: "none1").first?.aliases == request.aliases)
    }

    @Test func theHostIsTheNamespaceNetctlRunsInComparedByIdentity() throws {
        let host = try model.createSandbox(name: "hostsb", mode: .host)
        #expect(host.path == "/proc/self/ns/net")
        #expect(host.path != "/proc/1/ns/net")
        #expect(try Netctl.isHostNamespace(host.path))
        #expect(try Netctl.isHostNamespace("/proc/\(getpid())/ns/net")) // another path, the same namespace
        #expect(try Netctl.isHostNamespace("/proc/thread-self/ns/net"))
    }

    @Test func aHostSandboxGetsNoInterfaceOfABridgeMacvlanOrCNINetwork() throws {
        _ = try model.createSandbox(name: "hostsb", mode: .host)
        _ = try model.createNetwork(try request { $0.name = "mv"; $0.subnets = [try CIDR(parsing: "10.1.0.0/24")]; $0.options = ["parent": "eth9"] })
        let sandboxes = try model.sandboxes().count
        for target in ["hostsb", "/proc/self/ns/net", "/proc/\(getpid())/ns/net"] {
            let error = #expect(throws: NetworkError.self) { try model.connect(network: "mv", sandbox: target) }
            #expect(error?.code == .unsupported, "\(target): \(String(describing: error))")
            #expect(error?.message.contains("host") == true)
        }
        #expect(try model.endpoints().isEmpty)
        #expect(try model.sandboxes().count == sandboxes) // a refused path leaves no record
        // The host network is the other way round.
        _ = try model.createNetwork(NetworkRequest(name: "hostnet", driver: .host))
        #expect(try model.connect(network: "hostnet", sandbox: "hostsb").network == "hostnet")
    }

    @Test func aNullOrHostEndpointHasNoInterfaceAndAConnectIsOnce() throws {
        _ = try model.createNetwork(NetworkRequest(name: "none1", driver: .null))
        _ = try model.createNetwork(NetworkRequest(name: "none2", driver: .null))
        _ = try model.createNetwork(NetworkRequest(name: "hostnet", driver: .host))
        _ = try model.createSandbox(name: "hostsb", mode: .host)
        #expect(try model.connect(network: "none1", sandbox: "hostsb").interface == "")
        let again = #expect(throws: NetworkError.self) { try model.connect(network: "none1", sandbox: "hostsb") }
        #expect(again?.code == .alreadyExists)
        #expect(again?.message.contains("already connected") == true)
        // The same namespace by another path: a sandbox record of its own.
        #expect(try model.connect(network: "none2", sandbox: "/proc/\(getpid())/ns/net").interface == "")
        #expect(try model.connect(network: "hostnet", sandbox: "hostsb").interface == "")
        #expect(try model.endpoints(sandbox: "hostsb").count == 2)
    }

    @Test func twoMappingsOfOneConnectTakingOneHostPortAreRefusedNamingBoth() throws {
        _ = try model.createNetwork(NetworkRequest(name: "br", driver: .bridge))
        _ = try model.createSandbox(name: "sb", mode: .host)
        var request = ConnectRequest()
        request.ports = [try PortMapping(parsing: "8000-8010:80-90"), try PortMapping(parsing: "127.0.0.1:8005:80")]
        let error = #expect(throws: NetworkError.self) { try model.connect(network: "br", sandbox: "sb", request) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid -p \"127.0.0.1:8005:80/tcp\": shares a host port with -p 8000-8010:80-90/tcp")
        #expect(try model.endpoints().isEmpty)
    }

    @Test func addressesAndMACOnANetworkWithoutInterfacesAreRefused() throws {
        _ = try model.createNetwork(NetworkRequest(name: "none1", driver: .null))
        _ = try model.createSandbox(name: "hostsb", mode: .host)
        var request = ConnectRequest()
        request.mac = try MACAddress(parsing: "02:00:00:00:00:01")
        let error = #expect(throws: NetworkError.self) { try model.connect(network: "none1", sandbox: "hostsb", request) }
        #expect(error?.code == .unsupported && error?.message.contains("--mac") == true, "\(String(describing: error))")
    }

    @Test func aCNINetworkSendsIPsAndMACAsCapabilitiesThroughTheRuntime() throws {
        let network = NetworkRecord(name: "c", id: "abc", driver: .cni("bridge"),
                                    subnets: [SubnetSpec(subnet: try CIDR(parsing: "10.7.0.0/24")), SubnetSpec(subnet: try CIDR(parsing: "fd07::/64"))],
                                    auxAddresses: [:], options: ["bridge": "cni7"], labels: [:], isInternal: false, ipv6: true, created: 0)
        let cni = CNINetwork(network: network, type: "bridge")
        #expect(cni.hostBridge?.rawValue == "cni7")
        #expect(CNINetwork(network: NetworkRecord(name: "d", id: "d", driver: .cni("bridge"), subnets: [], auxAddresses: [:], options: [:],
                                                  labels: [:], isInternal: false, ipv6: false, created: 0), type: "bridge").hostBridge?.rawValue == "cni0")
        #expect(CNINetwork(network: network, type: "ptp").hostBridge == nil)
        let list = try cni.configList()
        let plugin = try #require(list.plugins.first)
        #expect(plugin["capabilities"]?["ips"] == true && plugin["capabilities"]?["mac"] == true)
        var request = ConnectRequest()
        request.addresses = [try IPAddress(parsing: "10.7.0.9", field: "t"), try IPAddress(parsing: "fd07::9", field: "t")]
        request.mac = try MACAddress(parsing: "02:00:00:00:00:07")
        let sandbox = SandboxRecord(name: "s", id: "0123", path: "/run/netns/s", isOwned: true, sharesWith: nil, created: 0)
        let config = cni.runtime.requestConfig(plugin, of: list, cni.attachment(sandbox, interface: "eth1", request: request), prevResult: nil)
        #expect(config["runtimeConfig"]?["ips"] == ["10.7.0.9/24", "fd07::9/64"])
        #expect(config["runtimeConfig"]?["mac"] == "02:00:00:00:00:07")
        #expect(config["capabilities"] == nil) // for the runtime only
        // Nothing asked, nothing sent.
        let plain = cni.runtime.requestConfig(plugin, of: list, cni.attachment(sandbox, interface: "eth1"), prevResult: nil)
        #expect(plain["runtimeConfig"] == nil)
    }
}

/// `network create --driver overlay` on the CLI's side: what is checked before etcd is asked.
struct OverlayRequestTests {
    let model: Netctl

    init() throws {
        model = try Netctl(stateDirectory: NSTemporaryDirectory() + "netctl-unit-\(UUID().uuidString)", names: .commandLine)
    }

    func overlay(_ configure: (inout NetworkRequest) throws -> Void) rethrows -> NetworkRequest {
        var request = NetworkRequest(name: "ov1", driver: .overlay)
        try configure(&request)
        return request
    }

    func message(_ request: NetworkRequest) -> String {
        do {
            _ = try model.createNetwork(request)
            return ""
        } catch let error as NetworkError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func badOverlayFlagsAreNamedWithTheirValues() throws {
        #expect(message(overlay { _ in }).contains("--subnet"))
        #expect(message(try overlay { $0.subnets = [try CIDR(parsing: "fd00::/64")]; $0.ipv6 = true }).contains("--subnet"))
        #expect(message(try overlay { $0.subnets = [try CIDR(parsing: "10.200.0.0/16")]; $0.options = ["host_subnet_size": "12"] })
            .contains("-o host_subnet_size"))
        #expect(message(try overlay { $0.subnets = [try CIDR(parsing: "10.200.0.0/16")]; $0.options = ["vni": "0"] }).contains("-o vni"))
        #expect(message(try overlay { $0.subnets = [try CIDR(parsing: "10.200.0.0/16")]; $0.options = ["vxlan_port": "x"] })
            .contains("-o vxlan_port"))
        #expect(message(try overlay { $0.subnets = [try CIDR(parsing: "10.200.0.0/16")]; $0.options = ["parent": "eth0"] })
            .contains("parent"))
        #expect(message(try overlay { $0.subnets = [try CIDR(parsing: "10.200.0.0/16")]; $0.gateways = [try IPAddress(parsing: "10.200.0.1", field: "t")] })
            .contains("--gateway"))
    }

    @Test func withoutAnAgentItSaysWhatIsMissing() throws {
        let text = message(try overlay { $0.subnets = [try CIDR(parsing: "10.200.0.0/16")] })
        #expect(text.contains("no overlay agent has run on this host"))
        #expect(text.contains("netctl agent --store"))
    }

    @Test func theCommandLineTakesMTUAndTheOverlayOptions() throws {
        let create = try #require(try NetctlCommand.parseAsRoot(["network", "create", "ov1", "--driver", "overlay", "--subnet", "10.200.0.0/16",
                                                                 "-o", "host_subnet_size=26", "-o", "vni=42", "--mtu", "1400"]) as? NetworkCommand.Create)
        #expect(create.options.mtu == 1400)
        #expect(create.options.option == ["host_subnet_size=26", "vni=42"])
        #expect(try NetctlCommand.parseAsRoot(["agent", "--store", "unix:///run/etcd.sock", "--advertise", "10.99.0.1"]) is AgentCommand)
    }
}
