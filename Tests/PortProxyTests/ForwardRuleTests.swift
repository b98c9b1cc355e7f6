import NetCore
import Testing
@testable import PortProxy
@testable import ProxyClient

@Suite struct ForwardRuleParsingTests {
    @Test func anIPv4RuleParsesAndPrintsBack() throws {
        let rules = try ForwardRule.parse("tcp:127.0.0.1:8080=10.88.0.2:80")
        #expect(rules.count == 1)
        let rule = try #require(rules.first)
        #expect(rule.transport == .tcp)
        #expect(rule.listenAddress == loopback4)
        #expect(rule.listenPort == 8080)
        #expect(rule.targetAddress == IPAddress("10.88.0.2"))
        #expect(rule.targetPort == 80)
        #expect(rule.description == "tcp:127.0.0.1:8080=10.88.0.2:80")
        #expect(rule.listenDescription == "127.0.0.1:8080/tcp")
    }

    @Test func ipv6AddressesGoInBracketsAndMayMeetIPv4() throws {
        let rule = try #require(try ForwardRule.parse("UDP:[::1]:53=10.88.0.2:5353").first)
        #expect(rule.transport == .udp)
        #expect(rule.listenAddress == loopback6)
        #expect(rule.targetAddress == IPAddress("10.88.0.2"))
        #expect(rule.description == "udp:[::1]:53=10.88.0.2:5353")
        #expect(rule.listenDescription == "[::1]:53/udp")
    }

    @Test func aRangeExpandsPortByPort() throws {
        let rules = try ForwardRule.parse("tcp:0.0.0.0:8000-8002=[fd00::2]:80-82")
        #expect(rules.map(\.listenPort) == [8000, 8001, 8002])
        #expect(rules.map(\.targetPort) == [80, 81, 82])
        #expect(rules.allSatisfy { $0.targetAddress == IPAddress("fd00::2") })
    }

    @Test func specsMergeConsecutivePortsAndParseBack() throws {
        let rules = try ForwardRule.parse("tcp:127.0.0.1:8000-8009=10.0.0.2:9000-9009")
            + ForwardRule.parse("udp:127.0.0.1:8010=10.0.0.2:9010")
            + ForwardRule.parse("tcp:127.0.0.1:8012=10.0.0.2:9012")
        let specs = ForwardRule.specs(for: rules)
        #expect(specs == ["tcp:127.0.0.1:8000-8009=10.0.0.2:9000-9009", "udp:127.0.0.1:8010=10.0.0.2:9010",
                          "tcp:127.0.0.1:8012=10.0.0.2:9012"])
        #expect(try specs.flatMap(ForwardRule.parse) == rules)
    }

    @Test(arguments: [
        ("tcp127.0.0.1:8080=10.0.0.2:80", "tcp127.0.0.1:8080=10.0.0.2:80"),
        ("icmp:127.0.0.1:8080=10.0.0.2:80", "icmp"),
        ("tcp:127.0.0.1:8080", "tcp:127.0.0.1:8080"),
        ("tcp:127.0.0.1:8080=10.0.0.2:80=1", "tcp:127.0.0.1:8080=10.0.0.2:80=1"),
        ("tcp:127.0.0.1=10.0.0.2:80", "127.0.0.1"),
        ("tcp:127.0.0.300:8080=10.0.0.2:80", "127.0.0.300"),
        ("tcp:::1:8080=10.0.0.2:80", "::1"),
        ("tcp:[10.0.0.1]:8080=10.0.0.2:80", "10.0.0.1"),
        ("tcp:[::1:8080=10.0.0.2:80", "[::1:8080"),
        ("tcp:127.0.0.1:0=10.0.0.2:80", "0"),
        ("tcp:127.0.0.1:65536=10.0.0.2:80", "65536"),
        ("tcp:127.0.0.1:80a=10.0.0.2:80", "80a"),
        ("tcp:127.0.0.1:90-80=10.0.0.2:80-90", "90-80"),
        ("tcp:127.0.0.1:80-82=10.0.0.2:80-81", "differ in length"),
        ("tcp:127.0.0.1:8080=10.0.0.2:", "\"\""),
    ])
    func badSpecsAreRefusedNamingTheValue(spec: String, named: String) throws {
        let error = try #require(throws: NetworkError.self) { try ForwardRule.parse(spec) }
        #expect(error.code == .invalidArgument)
        #expect("\(error)".contains(named), "\(error)")
    }

    @Test func sctpIsLeftToDNAT() throws {
        let error = try #require(throws: NetworkError.self) { try ForwardRule.parse("sctp:127.0.0.1:9=10.0.0.2:9") }
        #expect(error.code == .unsupported)
        #expect(error.message.contains("sctp"))
    }
}

@Suite struct ForwardRuleMappingTests {
    let container = IPAddress.v4(IPv4Address(10, 88, 0, 2))

    @Test func aMappedRangeBecomesOneRulePerPort() throws {
        let mapping = try PortMapping(parsing: "127.0.0.1:8000-8003:80-83/udp")
        let rules = try ForwardRule.rules(for: mapping, containerAddress: container)
        #expect(rules.count == 4)
        #expect(rules.map(\.listenPort) == [8000, 8001, 8002, 8003])
        #expect(rules.map(\.targetPort) == [80, 81, 82, 83])
        #expect(rules.allSatisfy { $0.transport == .udp && $0.listenAddress == loopback4 && $0.targetAddress == container })
    }

    @Test func anExplicitListenAddressWinsOverTheHostIP() throws {
        let mapping = try PortMapping(parsing: "8080:80")
        let rules = try ForwardRule.rules(for: mapping, containerAddress: container, listenAddress: loopback6)
        #expect(rules.map(\.description) == ["tcp:[::1]:8080=10.88.0.2:80"])
    }

    @Test func noHostIPListensOnEveryAddressOfTheContainersFamily() throws {
        let rules = try ForwardRule.rules(for: PortMapping(parsing: "8080:80"), containerAddress: container)
        #expect(rules.map(\.description) == ["tcp:0.0.0.0:8080=10.88.0.2:80"])
    }

    @Test func anSCTPMappingIsUnsupported() throws {
        let mapping = try PortMapping(parsing: "9999:9999/sctp")
        let error = try #require(throws: NetworkError.self) {
            try ForwardRule.rules(for: mapping, containerAddress: container)
        }
        #expect(error.code == .unsupported)
    }
}

@Suite struct ProxyCommandTests {
    @Test func optionsAndRulesAreRead() throws {
        let command = try ProxyCommand(arguments: [
            "--ready-fd", "3", "--udp-idle-timeout", "0.5", "--max-udp-flows", "10", "--pipe-size", "65536",
            "--forward", "tcp:127.0.0.1:8000-8001=10.0.0.2:80-81", "--forward", "udp:[::1]:53=10.0.0.2:53",
        ])
        #expect(command.readyDescriptor == 3)
        #expect(command.configuration == ProxyConfiguration(udpIdleTimeout: 0.5, maxUDPFlows: 10, pipeSize: 65536))
        #expect(command.rules.count == 3)
    }

    @Test func aConfigurationRoundTripsThroughItsArguments() throws {
        let configuration = ProxyConfiguration(udpIdleTimeout: 2.5, maxUDPFlows: 7, pipeSize: 1 << 20)
        let command = try ProxyCommand(arguments: configuration.arguments + ["--forward", "udp:127.0.0.1:1=127.0.0.1:2"])
        #expect(command.configuration == configuration)
        #expect(ProxyConfiguration().arguments.isEmpty)
    }

    @Test(arguments: [
        (["--forward"], "--forward"),
        (["--bogus", "--forward", "tcp:127.0.0.1:1=127.0.0.1:2"], "--bogus"),
        (["--udp-idle-timeout", "-1", "--forward", "tcp:127.0.0.1:1=127.0.0.1:2"], "-1"),
        (["--ready-fd", "three", "--forward", "tcp:127.0.0.1:1=127.0.0.1:2"], "three"),
        (["--pipe-size", "12", "--forward", "tcp:127.0.0.1:1=127.0.0.1:2"], "12"),
        ([], "no --forward"),
    ])
    func badArgumentsAreNamed(arguments: [String], named: String) throws {
        let error = try #require(throws: NetworkError.self) { try ProxyCommand(arguments: arguments) }
        #expect("\(error)".contains(named), "\(error)")
    }

    @Test func everyErrorCodeSurvivesTheExitStatus() {
        for code in NetworkError.Code.allCases {
            #expect(ProxyExitStatus.code(forExitStatus: ProxyExitStatus.status(for: code)) == code)
        }
        #expect(ProxyExitStatus.code(forExitStatus: 1) == .system)
    }
}
