import NetCore
import Testing

private func cidr(_ text: String) throws -> CIDR { try CIDR(parsing: text) }
private func ip(_ text: String) throws -> IPAddress { try #require(IPAddress(text)) }

@Suite struct CIDRParsingTests {
    @Test(arguments: [
        ("10.0.0.0/8", IPAddress.Family.v4, 8),
        ("0.0.0.0/0", .v4, 0),
        ("192.0.2.1/32", .v4, 32),
        ("10.0.0.0/31", .v4, 31),
        ("10.1.2.3/24", .v4, 24),
        ("::/0", .v6, 0),
        ("2001:db8::/32", .v6, 32),
        ("::1/128", .v6, 128),
        ("2001:db8::/127", .v6, 127),
        ("::ffff:10.0.0.0/104", .v6, 104),
    ])
    func validTextParsesAndPrintsBack(text: String, family: IPAddress.Family, prefix: Int) throws {
        let parsed = try CIDR(parsing: text)
        #expect(parsed.family == family)
        #expect(parsed.prefixLength == prefix)
        #expect(parsed.description == text)
        #expect(CIDR(text) == parsed)
    }

    @Test func theAddressKeepsItsHostBits() throws {
        let parsed = try cidr("10.1.2.3/8")
        #expect(parsed.address == (try ip("10.1.2.3")))
        #expect(parsed != (try cidr("10.0.0.0/8")))
        #expect(parsed.network == (try cidr("10.0.0.0/8")))
    }

    @Test func addressIsPrintedCanonically() throws {
        #expect(try cidr("2001:DB8:0:0:1:0:0:0/64").description == "2001:db8:0:0:1::/64")
    }

    /// Like `ip` and like the address parsers, a prefix with leading zeros is refused.
    @Test(arguments: ["10.0.0.0/08", "10.0.0.0/008", "10.0.0.0/00", "10.0.0.0/032", "::/064"])
    func prefixWithLeadingZerosIsRejectedNamingTheValue(text: String) {
        let error = #expect(throws: NetworkError.self) { try CIDR(parsing: text) }
        #expect(error?.message.contains(text) == true)
    }

    @Test(arguments: [
        ("10.0.0.0/33", 32), ("10.0.0.0/999", 32), ("::/129", 128), ("::/999", 128),
        ("10.0.0.0/", 32), ("10.0.0.0/-1", 32), ("10.0.0.0/+8", 32), ("10.0.0.0/ 8", 32),
        ("10.0.0.0/8 ", 32), ("10.0.0.0/a", 32), ("10.0.0.0/٨", 32), ("10.0.0.0/1000", 32),
        ("10.0.0.0/0008", 32), ("::/0128", 128), ("10.0.0.0/8.0", 32),
        ("2001:db8::/0x40", 128),
    ])
    func badPrefixIsRejectedNamingTheValueAndTheRange(text: String, width: Int) {
        let error = #expect(throws: NetworkError.self) { try CIDR(parsing: text) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid CIDR \"\(text)\": prefix length must be 0...\(width)")
        #expect(CIDR(text) == nil)
    }

    @Test(arguments: [
        "10.0.0.0", "::1", "", "/8", "/", "10.0.0/8", "10.0.0.0/8/8", "010.0.0.0/8", "fe80::1%eth0/64",
        "10.0.0.0 /8", " 10.0.0.0/8", "10.0.0.0\\8", "host/24",
    ])
    func missingPrefixOrBadAddressIsRejectedNamingTheValue(text: String) {
        let error = #expect(throws: NetworkError.self) { try CIDR(parsing: text) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid CIDR \"\(text)\": expected ADDRESS/PREFIX, e.g. 10.0.0.0/24")
        #expect(CIDR(text) == nil)
    }

    /// The address parsers hand text to `inet_pton`, which stops at a NUL.
    @Test(arguments: ["10.0.0.0\0junk/8", "2001:db8::\0/32"])
    func textWithAnEmbeddedNULIsRejected(text: String) {
        #expect(CIDR(text) == nil)
    }

    @Test func errorsNameTheCallersField() {
        let error = #expect(throws: NetworkError.self) { try CIDR(parsing: "10.0.0.0/40", field: "subnet") }
        #expect(error?.message.hasPrefix(#"invalid subnet "10.0.0.0/40": "#) == true)
    }

    @Test func memberwiseInitChecksThePrefixAgainstTheFamily() throws {
        let v4 = try ip("10.0.0.0")
        let v6 = try ip("2001:db8::")
        #expect(try CIDR(address: v4, prefixLength: 32).prefixLength == 32)
        #expect(try CIDR(address: v4, prefixLength: 0).prefixLength == 0)
        #expect(try CIDR(address: v6, prefixLength: 128).prefixLength == 128)

        let tooLong = #expect(throws: NetworkError.self) { try CIDR(address: v4, prefixLength: 33) }
        #expect(tooLong?.code == .invalidArgument)
        #expect(tooLong?.message == #"invalid prefix length "33": must be 0...32 for IPv4"#)
        let negative = #expect(throws: NetworkError.self) { try CIDR(address: v6, prefixLength: -1) }
        #expect(negative?.message == #"invalid prefix length "-1": must be 0...128 for IPv6"#)
        #expect(throws: NetworkError.self) { try CIDR(address: v6, prefixLength: 129) }
    }

    @Test func allIsTheDefaultRouteOfEachFamily() throws {
        #expect(CIDR.all(.v4) == (try cidr("0.0.0.0/0")))
        #expect(CIDR.all(.v6) == (try cidr("::/0")))
        #expect(CIDR.all(.v4).description == "0.0.0.0/0")
        #expect(CIDR.all(.v6).description == "::/0")
        #expect(CIDR.all(.v4).family == .v4)
        #expect(CIDR.all(.v6).family == .v6)
    }
}

@Suite struct CIDRArithmeticTests {
    @Test(arguments: [
        ("192.0.2.130/25", "192.0.2.128", "192.0.2.255", "255.255.255.128"),
        ("10.1.2.3/8", "10.0.0.0", "10.255.255.255", "255.0.0.0"),
        ("172.16.5.4/12", "172.16.0.0", "172.31.255.255", "255.240.0.0"),
        ("1.2.3.4/0", "0.0.0.0", "255.255.255.255", "0.0.0.0"),
        ("10.0.0.1/31", "10.0.0.0", "10.0.0.1", "255.255.255.254"),
        ("10.0.0.1/32", "10.0.0.1", "10.0.0.1", "255.255.255.255"),
        ("255.255.255.255/1", "128.0.0.0", "255.255.255.255", "128.0.0.0"),
        ("2001:db8::1234/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff::"),
        ("fe80::1/10", "fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffc0::"),
        ("2001:db8::1/127", "2001:db8::", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"),
        ("2001:db8::1/128", "2001:db8::1", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("::1/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::"),
        ("ffff::1/1", "8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "8000::"),
    ])
    func networkLastAddressAndNetmask(text: String, network: String, last: String, netmask: String) throws {
        let subnet = try cidr(text)
        #expect(subnet.networkAddress == (try ip(network)))
        #expect(subnet.lastAddress == (try ip(last)))
        #expect(subnet.netmask == (try ip(netmask)))
        #expect(subnet.network.address == (try ip(network)))
        #expect(subnet.network.prefixLength == subnet.prefixLength)
        // Results stay in the subnet's family, even when all zero.
        #expect(subnet.networkAddress.family == subnet.family)
        #expect(subnet.lastAddress.family == subnet.family)
        #expect(subnet.netmask.family == subnet.family)
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0", true), ("10.0.0.0/8", "10.255.255.255", true),
        ("10.0.0.0/8", "11.0.0.0", false), ("10.0.0.0/8", "9.255.255.255", false),
        ("10.1.2.3/8", "10.200.0.0", true),
        ("0.0.0.0/0", "255.255.255.255", true), ("0.0.0.0/0", "::", false), ("0.0.0.0/0", "::ffff:10.0.0.1", false),
        ("10.0.0.1/32", "10.0.0.1", true), ("10.0.0.1/32", "10.0.0.2", false),
        ("10.0.0.0/31", "10.0.0.1", true), ("10.0.0.0/31", "10.0.0.2", false),
        ("::/0", "ffff::", true), ("::/0", "0.0.0.0", false),
        ("2001:db8::/32", "2001:db8:ffff::1", true), ("2001:db8::/32", "2001:db9::", false),
        ("2001:db8::/127", "2001:db8::1", true), ("2001:db8::/127", "2001:db8::2", false),
        ("::1/128", "::1", true), ("::1/128", "::", false),
        ("::/96", "0.0.0.1", false),
    ])
    func containsAnAddressOnlyInsideTheSubnetAndFamily(subnet: String, address: String, expected: Bool) throws {
        #expect(try cidr(subnet).contains(try ip(address)) == expected)
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.1.0.0/16", true), ("10.1.0.0/16", "10.0.0.0/8", false),
        ("10.0.0.0/8", "10.0.0.0/8", true), ("10.0.0.0/8", "11.0.0.0/16", false),
        ("10.0.0.0/24", "10.0.0.255/32", true), ("10.0.0.0/24", "10.0.1.0/32", false),
        ("0.0.0.0/0", "192.0.2.0/24", true), ("0.0.0.0/0", "::/0", false), ("::/0", "0.0.0.0/0", false),
        ("::/0", "2001:db8::/32", true), ("2001:db8::/32", "2001:db8:1::/48", true),
        ("2001:db8::/48", "2001:db8::/32", false),
        // Host bits of the outer subnet do not matter.
        ("10.9.9.9/8", "10.1.0.0/16", true),
    ])
    func containsASubnetOnlyWhenEveryAddressIsInside(outer: String, inner: String, expected: Bool) throws {
        #expect(try cidr(outer).contains(try cidr(inner)) == expected)
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.1.0.0/16", true), ("10.0.0.0/24", "10.0.0.128/25", true),
        ("10.0.0.0/25", "10.0.0.128/25", false), ("10.0.0.0/24", "10.0.1.0/24", false),
        ("10.0.0.0/24", "10.0.0.0/24", true), ("0.0.0.0/0", "203.0.113.0/24", true),
        ("0.0.0.0/0", "::/0", false), ("10.0.0.0/8", "::ffff:10.0.0.0/104", false),
        ("2001:db8::/64", "2001:db8::1/128", true), ("2001:db8::/64", "2001:db8:0:1::/64", false),
    ])
    func overlapsIsSymmetric(first: String, second: String, expected: Bool) throws {
        let a = try cidr(first)
        let b = try cidr(second)
        #expect(a.overlaps(b) == expected)
        #expect(b.overlaps(a) == expected)
    }

    @Test(arguments: [
        ("10.0.0.1/32", UInt128(1)), ("10.0.0.0/31", 2), ("10.0.0.0/24", 256), ("10.0.0.0/8", 1 << 24),
        ("0.0.0.0/0", UInt128(1) << 32), ("::1/128", 1), ("::/127", 2), ("2001:db8::/64", UInt128(1) << 64),
        ("8000::/1", UInt128(1) << 127),
    ])
    func addressCountIsTwoToTheHostBits(text: String, count: UInt128) throws {
        #expect(try cidr(text).addressCount == count)
    }

    @Test func addressCountOfAllIPv6SaturatesAtTheMaximum() throws {
        #expect(try cidr("::/0").addressCount == .max)
        #expect(CIDR.all(.v6).addressCount == .max)
        #expect(CIDR.all(.v4).addressCount == 1 << 32)
    }

    @Test func allContainsEveryAddressOfItsFamilyOnly() throws {
        for text in ["0.0.0.0", "127.0.0.1", "255.255.255.255"] {
            #expect(CIDR.all(.v4).contains(try ip(text)))
            #expect(!CIDR.all(.v6).contains(try ip(text)))
        }
        for text in ["::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"] {
            #expect(CIDR.all(.v6).contains(try ip(text)))
            #expect(!CIDR.all(.v4).contains(try ip(text)))
        }
    }
}
