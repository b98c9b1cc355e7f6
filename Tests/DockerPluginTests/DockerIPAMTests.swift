import DockerPlugin
import NetCore
import NetctlModel
import Testing

/// The IpamDriver calls, over the store only (no privileges): the flow dockerd 20.10 was
/// recorded sending for `--ipam-driver netctl --subnet 10.79.0.0/24 --ip-range 10.79.0.128/25
/// --aux-address r1=10.79.0.250`, then `--ip` requests and releases.
struct DockerIPAMTests {
    let plugin: Plugin

    init() throws {
        plugin = try Plugin()
    }

    /// RequestPool as recorded (with no `--ipam-opt`).
    static let recordedPool = #"{"AddressSpace":"fakelocal","Pool":"10.79.0.0/24","SubPool":"10.79.0.128/25","Options":{},"V6":false}"#
    static let gatewayOptions = #"{"RequestAddressType":"com.docker.network.gateway"}"#

    @Test func thePoolWithASubPoolIsGrantedAsAsked() throws {
        let (status, answer) = try plugin.send("IpamDriver.RequestPool", Self.recordedPool)
        #expect(status == 200)
        #expect(answer == ["PoolID": "netctl/10.79.0.0/24/10.79.0.128/25", "Pool": "10.79.0.0/24", "Data": [:]])
    }

    @Test func theRecordedFlowGivesGatewayAuxAndSubPoolAddresses() throws {
        let (pool, subnet) = try plugin.requestPool(Self.recordedPool)
        #expect(subnet == "10.79.0.0/24")
        // 2. the gateway: the pool's first address.
        #expect(try plugin.address(pool: pool, options: Self.gatewayOptions) == "10.79.0.1/24")
        // 3. the aux address, asked for by address.
        #expect(try plugin.address(pool: pool, "10.79.0.250", options: "{}") == "10.79.0.250/24")
        // Endpoints without --ip (Options null, as measured): from the sub-pool only, never the
        // gateway, the aux address or one already given.
        let subPool = try CIDR(parsing: "10.79.0.128/25")
        var given: Set<String> = []
        for _ in 0..<8 {
            let text = try plugin.address(pool: pool)
            let address = try CIDR(parsing: text)
            #expect(address.prefixLength == 24, "\(text)")
            #expect(subPool.contains(address.address), "\(text) is outside the --ip-range")
            #expect(!["10.79.0.1/24", "10.79.0.250/24", "10.79.0.255/24"].contains(text))
            #expect(given.insert(text).inserted, "\(text) handed out twice")
        }
    }

    @Test func theSubPoolRunsOutAfterItsLastHost() throws {
        let (pool, _) = try plugin.requestPool(Self.recordedPool)
        _ = try plugin.address(pool: pool, options: Self.gatewayOptions)
        #expect(try plugin.address(pool: pool, "10.79.0.250", options: "{}") == "10.79.0.250/24")
        // 10.79.0.128-254 less the aux address: the broadcast address is nobody's.
        var given: Set<String> = []
        while given.count < 200 {
            let (status, answer) = try plugin.requestAddress(pool: pool)
            guard status == 200 else {
                #expect(status == 507, "\(answer)")
                #expect(answer.objectValue?.keys == ["Err"], "\(answer)")
                break
            }
            given.insert(try #require(answer["Address"]?.stringValue))
        }
        #expect(given.count == 126)
        #expect(!given.contains("10.79.0.255/24") && !given.contains("10.79.0.250/24"))
        // Beyond the sub-pool, an address asked for is still to be had.
        #expect(try plugin.address(pool: pool, "10.79.0.2") == "10.79.0.2/24")
    }

    @Test func anAddressAskedForInsideTheSubPoolIsGiven() throws {
        let (pool, _) = try plugin.requestPool(Self.recordedPool)
        #expect(try plugin.address(pool: pool, "10.79.0.200") == "10.79.0.200/24")
    }

    @Test func anAddressOutsideTheSubPoolButInsideThePoolIsHonoured() throws {
        // Docker allows --ip outside --ip-range (but inside --subnet).
        let (pool, _) = try plugin.requestPool(Self.recordedPool)
        #expect(try plugin.address(pool: pool, "10.79.0.20") == "10.79.0.20/24")
        #expect(try plugin.address(pool: pool, "10.79.0.127") == "10.79.0.127/24")
    }

    @Test func anAddressOutsideThePoolIsRefusedNamingIt() throws {
        let (pool, _) = try plugin.requestPool(Self.recordedPool)
        let (status, answer) = try plugin.requestAddress(pool: pool, "10.80.0.5")
        #expect(status == 400)
        let message = answer["Err"]?.stringValue ?? ""
        #expect(message.contains("10.80.0.5") && message.contains("10.79.0.0/24"), "\(answer)")
        let (badStatus, bad) = try plugin.requestAddress(pool: pool, "10.79.0.300")
        #expect(badStatus == 400)
        #expect(bad["Err"]?.stringValue?.contains("10.79.0.300") == true, "\(bad)")
    }

    @Test func aTakenAddressIs409NamingTheAddressAndItsHolder() throws {
        let (pool, _) = try plugin.requestPool(Self.recordedPool)
        _ = try plugin.address(pool: pool, options: Self.gatewayOptions)
        #expect(try plugin.address(pool: pool, "10.79.0.250", options: "{}") == "10.79.0.250/24")
        // Held by an aux address (no endpoint has it).
        let aux = try plugin.expectError("IpamDriver.RequestAddress", #"{"PoolID":\#(quoted(pool)),"Address":"10.79.0.250","Options":null}"#,
                                         status: 409, naming: ["10.79.0.250", "already in use"])
        #expect(aux.contains("auxiliary address"), "\(aux)")
    }

    @Test(.enabled(if: Sandbox.isHarmless, Sandbox.harmlessReason))
    func anAddressAnEndpointHoldsIs409NamingTheEndpoint() throws {
        let (pool, _) = try plugin.requestPool(Self.recordedPool)
        _ = try plugin.address(pool: pool, options: Self.gatewayOptions)
        let networkID = dockerID("c65cd0db")
        try plugin.expectOK("NetworkDriver.CreateNetwork", macvlanNetworkBody(networkID, pool: "10.79.0.0/24", gateway: "10.79.0.1/24"))
        // `docker run --ip 10.79.0.200`: the address, then the endpoint with it.
        #expect(try plugin.address(pool: pool, "10.79.0.200") == "10.79.0.200/24")
        let endpointID = dockerID("341a81cf")
        try plugin.expectOK("NetworkDriver.CreateEndpoint",
                            #"{"NetworkID":"\#(networkID)","EndpointID":"\#(endpointID)","Interface":{"Address":"10.79.0.200/24","AddressIPv6":"","MacAddress":""},"Options":{}}"#)
        try plugin.expectError("IpamDriver.RequestAddress", #"{"PoolID":\#(quoted(pool)),"Address":"10.79.0.200","Options":null}"#,
                               status: 409, naming: ["10.79.0.200", "Docker endpoint \(endpointID.prefix(12))"])
        // dockerd releases the address only after DeleteEndpoint: an early release keeps it.
        try plugin.expectOK("IpamDriver.ReleaseAddress", #"{"PoolID":\#(quoted(pool)),"Address":"10.79.0.200"}"#)
        try plugin.expectError("IpamDriver.RequestAddress", #"{"PoolID":\#(quoted(pool)),"Address":"10.79.0.200","Options":null}"#,
                               status: 409, naming: ["10.79.0.200"])
    }

    @Test func aReleasedAddressCanBeHadAgain() throws {
        let (pool, _) = try plugin.requestPool(Self.recordedPool)
        #expect(try plugin.address(pool: pool, "10.79.0.20") == "10.79.0.20/24")
        try plugin.expectError("IpamDriver.RequestAddress", #"{"PoolID":\#(quoted(pool)),"Address":"10.79.0.20","Options":null}"#,
                               status: 409, naming: ["10.79.0.20"])
        try plugin.expectOK("IpamDriver.ReleaseAddress", #"{"PoolID":\#(quoted(pool)),"Address":"10.79.0.20"}"#)
        #expect(try plugin.address(pool: pool, "10.79.0.20") == "10.79.0.20/24")
        // Releasing twice, or what was never leased, is success.
        try plugin.expectOK("IpamDriver.ReleaseAddress", #"{"PoolID":\#(quoted(pool)),"Address":"10.79.0.21"}"#)
    }

    @Test func releasingThePoolReleasesItsLeases() throws {
        let (pool, _) = try plugin.requestPool(Self.recordedPool)
        _ = try plugin.address(pool: pool, options: Self.gatewayOptions)
        #expect(try plugin.address(pool: pool, "10.79.0.250", options: "{}") == "10.79.0.250/24")
        #expect(try plugin.address(pool: pool, "10.79.0.20") == "10.79.0.20/24")
        try plugin.expectOK("IpamDriver.ReleasePool", #"{"PoolID":\#(quoted(pool))}"#)
        try plugin.expectOK("IpamDriver.ReleasePool", #"{"PoolID":\#(quoted(pool))}"#) // again: success
        // The same pool again (same ID): every address is free.
        let (again, _) = try plugin.requestPool(Self.recordedPool)
        #expect(again == pool)
        #expect(try plugin.address(pool: again, "10.79.0.250", options: "{}") == "10.79.0.250/24")
        #expect(try plugin.address(pool: again, "10.79.0.20") == "10.79.0.20/24")
        // A released pool's addresses are not to be had from it.
        try plugin.expectOK("IpamDriver.ReleasePool", #"{"PoolID":\#(quoted(again))}"#)
        try plugin.expectError("IpamDriver.RequestAddress", #"{"PoolID":\#(quoted(again)),"Address":"","Options":null}"#,
                               status: 400, naming: ["PoolID", again])
    }

    @Test func aPoolWithoutASubnetIsAFreeIPv4Subnet() throws {
        let body = #"{"AddressSpace":"netctl-local","Pool":"","SubPool":"","Options":{},"V6":false}"#
        let (first, firstPool) = try plugin.requestPool(body)
        let (second, secondPool) = try plugin.requestPool(body)
        let a = try CIDR(parsing: firstPool), b = try CIDR(parsing: secondPool)
        #expect(a.family == .v4 && b.family == .v4)
        #expect(a.address == a.networkAddress, "\(a) has host bits")
        #expect(first == "netctl/\(firstPool)")
        #expect(second == "netctl/\(secondPool)")
        #expect(!a.overlaps(b), "\(a) and \(b) overlap")
        // And it hands out addresses: the gateway first.
        let gateway = try CIDR(parsing: try plugin.address(pool: first, options: Self.gatewayOptions))
        #expect(a.contains(gateway.address) && gateway.prefixLength == a.prefixLength)
    }

    @Test func anIPv6PoolWithoutASubnetIsAUniqueLocal64() throws {
        let body = #"{"AddressSpace":"netctl-local","Pool":"","SubPool":"","Options":{},"V6":true}"#
        let (id, text) = try plugin.requestPool(body)
        let pool = try CIDR(parsing: text)
        #expect(pool.family == .v6)
        #expect(pool.prefixLength == 64, "\(pool)")
        #expect(try CIDR(parsing: "fd00::/8").contains(pool.address), "\(pool) is not in fd00::/8")
        #expect(id == "netctl/\(text)")
        let (_, other) = try plugin.requestPool(body)
        #expect(!pool.overlaps(try CIDR(parsing: other)))
        let address = try CIDR(parsing: try plugin.address(pool: id))
        #expect(pool.contains(address.address) && address.prefixLength == 64, "\(address)")
    }

    @Test func anOverlappingPoolIsRefusedNamingTheOther() throws {
        _ = try plugin.requestPool(Self.recordedPool)
        try plugin.expectError("IpamDriver.RequestPool", #"{"AddressSpace":"fakelocal","Pool":"10.79.0.0/16","SubPool":"","Options":{},"V6":false}"#,
                               status: 400, naming: ["10.79.0.0/16", "overlaps", "10.79.0.0/24"])
        try plugin.expectError("IpamDriver.RequestPool", #"{"AddressSpace":"fakelocal","Pool":"10.79.0.64/26","SubPool":"","Options":{},"V6":false}"#,
                               status: 400, naming: ["10.79.0.64/26", "10.79.0.0/24"])
        // The same subnet twice is an overlap too (a second network on it would share nothing).
        let (status, answer) = try plugin.send("IpamDriver.RequestPool", Self.recordedPool)
        #expect(status == 400 || status == 409, "\(answer)")
        #expect(answer["Err"]?.stringValue?.contains("10.79.0.0/24") == true, "\(answer)")
    }

    @Test(arguments: [
        (#"{"Pool":"10.79.0.5/24","SubPool":"","Options":{},"V6":false}"#, ["Pool", "10.79.0.5/24"]),
        (#"{"Pool":"10.79.0.0/24","SubPool":"10.80.0.0/25","Options":{},"V6":false}"#, ["SubPool", "10.80.0.0/25"]),
        (#"{"Pool":"","SubPool":"10.80.0.0/25","Options":{},"V6":false}"#, ["SubPool"]),
        (#"{"Pool":"10.79.0.0/24","SubPool":"","Options":{},"V6":true}"#, ["Pool", "IPv6"]),
        (#"{"Pool":"fd00:1::/64","SubPool":"","Options":{},"V6":false}"#, ["Pool", "IPv4"]),
        (#"{"Pool":"10.79.0.0","SubPool":"","Options":{},"V6":false}"#, ["Pool", "10.79.0.0"]),
        (#"{"Pool":"10.79.0.0/24","SubPool":"","Options":{"foo":"bar"},"V6":false}"#, ["--ipam-opt", "foo"]),
        (#"{"Pool":"","SubPool":"","Options":{"netctl.network":"nothing"},"V6":false}"#, ["netctl.network", "nothing"]),
        (#"{"Pool":"10.79.0.0/24","SubPool":"","Options":[],"V6":false}"#, ["Options"]),
        (#"{"Pool":"10.79.0.0/24","SubPool":"","Options":{},"V6":"maybe"}"#, ["V6"]),
    ])
    func aBadPoolRequestIs400NamingTheField(body: String, naming: [String]) throws {
        try plugin.expectError("IpamDriver.RequestPool", body, status: 400, naming: naming)
    }

    @Test func theRecordedPoolWithAnIPAMOptionIsRefusedNamingIt() throws {
        // As recorded for `--ipam-opt foo=bar`: netctl's IPAM takes no such option.
        try plugin.expectError("IpamDriver.RequestPool",
                               #"{"AddressSpace":"fakelocal","Pool":"10.79.0.0/24","SubPool":"10.79.0.128/25","Options":{"foo":"bar"},"V6":false}"#,
                               status: 400, naming: ["--ipam-opt", "foo", "netctl.network"])
    }

    @Test func aPoolOfAMacvlanNetworkIsThatNetworksSubnet() throws {
        // A macvlan network is only recorded until an endpoint joins: no privileges needed.
        var request = NetworkRequest(name: "lan", driver: .macvlan)
        request.subnets = [try CIDR(parsing: "10.66.0.0/24")]
        request.gateways = [try IPAddress(parsing: "10.66.0.254", field: "gateway")]
        _ = try plugin.model.createNetwork(request)
        let (pool, subnet) = try plugin.requestPool(#"{"AddressSpace":"netctl-local","Pool":"","SubPool":"","Options":{"netctl.network":"lan"},"V6":false}"#)
        #expect(subnet == "10.66.0.0/24")
        // The gateway is the network's, not the first address.
        #expect(try plugin.address(pool: pool, options: Self.gatewayOptions) == "10.66.0.254/24")
        let address = try CIDR(parsing: try plugin.address(pool: pool))
        #expect(try CIDR(parsing: "10.66.0.0/24").contains(address.address) && address.address.description != "10.66.0.254")
        // A pool that overlaps the network without being its subnet is refused naming it.
        try plugin.expectError("IpamDriver.RequestPool", #"{"AddressSpace":"netctl-local","Pool":"10.66.0.0/16","SubPool":"","Options":{},"V6":false}"#,
                               status: 400, naming: ["10.66.0.0/16", "overlaps", "10.66.0.0/24", "\"lan\""])
        // With no IPv6 subnet, a V6 pool from it is refused naming the network.
        try plugin.expectError("IpamDriver.RequestPool", #"{"AddressSpace":"netctl-local","Pool":"","SubPool":"","Options":{"netctl.network":"lan"},"V6":true}"#,
                               status: 400, naming: ["netctl.network", "lan", "IPv6"])
    }
}
