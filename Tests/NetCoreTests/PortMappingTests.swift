import NetCore
import Testing

/// Docker's `-p` syntax, accepted and refused.
struct PortMappingTests {
    @Test(arguments: [
        ("8080:80", nil, 8080...8080, 80...80, TransportProtocol.tcp),
        ("127.0.0.1:8080:80/udp", "127.0.0.1", 8080...8080, 80...80, .udp),
        ("[::1]:8080:80", "::1", 8080...8080, 80...80, .tcp),
        ("8000-8010:80-90/SCTP", nil, 8000...8010, 80...90, .sctp),
        ("0.0.0.0:1:65535", "0.0.0.0", 1...1, 65535...65535, .tcp),
    ] as [(String, String?, ClosedRange<UInt16>, ClosedRange<UInt16>, TransportProtocol)])
    func aValidSpecParsesToItsParts(spec: String, hostIP: String?, hostPorts: ClosedRange<UInt16>,
                                    containerPorts: ClosedRange<UInt16>, transport: TransportProtocol) throws {
        let mapping = try PortMapping(parsing: spec)
        #expect(mapping.hostIP == hostIP.flatMap { IPAddress($0) })
        #expect(mapping.hostPorts == hostPorts)
        #expect(mapping.containerPorts == containerPorts)
        #expect(mapping.transport == transport)
    }

    @Test func aRangeMapsPortByPortAndPrintsAsItWasWritten() throws {
        let mapping = try PortMapping(parsing: "8000-8010:80-90")
        #expect(mapping.containerPort(for: 8003) == 83)
        #expect(mapping.description == "8000-8010:80-90/tcp")
        #expect(try PortMapping(parsing: "[2001:db8::1]:53:53/udp").description == "[2001:db8::1]:53:53/udp")
    }

    @Test(arguments: [
        ("8080", "8080"),                       // no container port
        ("a:b:c:d", "a:b:c:d"),                 // too many parts
        ("[::1]8080:80", "[::1]8080:80"),       // no colon after the bracket
        ("[127.0.0.1]:8080:80", "[127.0.0.1]:8080:80"), // brackets are for IPv6
        ("::1:8080:80", "::1:8080:80"),         // IPv6 without brackets
        ("999.1.1.1:8080:80", "999.1.1.1"),     // not an address
        ("0:80", "0"),                          // port 0
        ("8080:0", "0"),
        ("65536:80", "65536"),                  // out of range
        ("-1:80", "-1"),
        ("8080:80/icmp", "icmp"),               // unknown protocol
        ("8080:80/", "\"\""),
        ("8000-8010:80-85", "8000-8010:80-85"), // ranges of different lengths
        ("8010-8000:80-90", "8010-8000"),       // reversed range
        ("8000-:80", "8000-"),
        ("８０:80", "８０"),                     // not ASCII digits
    ])
    func aMalformedSpecIsRefusedNamingWhatIsWrong(spec: String, named: String) {
        let error = #expect(throws: NetworkError.self) { try PortMapping(parsing: spec) }
        #expect(error?.code == .invalidArgument)
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains(named == "\"\"" ? "\"\"" : named), "\(text) should name \(named)")
    }

    @Test(arguments: [
        ("8080:80", "8080:81", true),                     // one host port, whatever the container's
        ("8080:80", "127.0.0.1:8080:80", true),           // every address includes loopback
        ("8080:80", "[::1]:8080:80", true),
        ("0.0.0.0:8080:80", "10.0.0.1:8080:80", true),    // every IPv4 address includes it
        ("[::]:8080:80", "[::1]:8080:80", true),
        ("127.0.0.1:8080:80", "127.0.0.1:8080:80", true),
        ("8000-8010:80-90", "8010:80", true),             // a range's last port
        ("8080:80", "8080:80/udp", false),                // another protocol
        ("8080:80", "8081:80", false),
        ("8000-8010:80-90", "8011-8012:80-81", false),
        ("0.0.0.0:8080:80", "[::]:8080:80", false),       // another family
        ("127.0.0.1:8080:80", "127.0.0.2:8080:80", false),
    ])
    func twoMappingsShareAHostPortWhenProtocolPortsAndAddressesMeet(first: String, second: String, shared: Bool) throws {
        let a = try PortMapping(parsing: first), b = try PortMapping(parsing: second)
        #expect(a.sharesAHostPort(with: b) == shared)
        #expect(b.sharesAHostPort(with: a) == shared)
    }
}
