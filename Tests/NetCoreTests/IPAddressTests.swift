import NetCore
import Testing

@Suite struct IPAddressTests {
    @Test func textWithAColonIsIPv6AndOtherwiseIPv4() throws {
        #expect(IPAddress("10.0.0.1") == .v4(IPv4Address(10, 0, 0, 1)))
        #expect(IPAddress("::1") == .v6(.loopback))
        #expect(IPAddress("::ffff:10.0.0.1")?.family == .v6)
        #expect(IPAddress("10.0.0.1")?.family == .v4)
    }

    @Test(arguments: ["", "10.0.0", "010.0.0.1", "1:::2", "fe80::1%eth0", "10.0.0.1:80", "host", " ::1"])
    func malformedTextIsRejected(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func parsingErrorNamesTheFieldAndTheValue() throws {
        let error = #expect(throws: NetworkError.self) {
            try IPAddress(parsing: "10.0.0.256", field: "gateway")
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == #"invalid gateway "10.0.0.256": not an IPv4 or IPv6 address"#)
        #expect(try IPAddress(parsing: "2001:db8::1", field: "gateway") == IPAddress("2001:db8::1"))
    }

    @Test func bytesPickTheFamilyByCount() throws {
        #expect(IPAddress(bytes: [192, 0, 2, 1]) == .v4(IPv4Address(192, 0, 2, 1)))
        let v6Bytes = try #require(IPv6Address("2001:db8::1")).bytes
        #expect(IPAddress(bytes: v6Bytes) == IPAddress("2001:db8::1"))
        #expect(IPAddress("192.0.2.1")?.bytes == [192, 0, 2, 1])
        #expect(IPAddress("2001:db8::1")?.bytes == v6Bytes)
    }

    @Test(arguments: [0, 1, 3, 5, 8, 15, 17])
    func bytesOfAnyOtherCountAreRejected(count: Int) {
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: count)) == nil)
    }

    @Test func familiesKnowTheirWidthAndName() {
        #expect(IPAddress.Family.v4.bitWidth == 32)
        #expect(IPAddress.Family.v6.bitWidth == 128)
        #expect(IPAddress.Family.v4.description == "IPv4")
        #expect(IPAddress.Family.v6.description == "IPv6")
    }

    @Test func integerValueRoundTripsWhenItFits() throws {
        #expect(IPAddress("10.0.0.1")?.integerValue == 0x0A00_0001)
        #expect(IPAddress(family: .v4, integerValue: 0x0A00_0001) == IPAddress("10.0.0.1"))
        #expect(IPAddress(family: .v4, integerValue: UInt128(UInt32.max)) == IPAddress("255.255.255.255"))
        #expect(IPAddress(family: .v4, integerValue: UInt128(UInt32.max) + 1) == nil)
        #expect(IPAddress(family: .v6, integerValue: .max) == IPAddress("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
        #expect(IPAddress(family: .v6, integerValue: 1) == IPAddress("::1"))
    }

    @Test func ordersIPv4BeforeIPv6ThenNumerically() {
        let texts = ["::", "255.255.255.255", "10.0.0.10", "::1", "10.0.0.9", "0.0.0.0", "fe80::1", "9.0.0.0"]
        let sorted = texts.compactMap { IPAddress($0) }.sorted().map(\.description)
        #expect(sorted == ["0.0.0.0", "9.0.0.0", "10.0.0.9", "10.0.0.10", "255.255.255.255", "::", "::1", "fe80::1"])
        // The same integer value in both families still orders by family.
        #expect(IPAddress.v4(IPv4Address(1)) < IPAddress.v6(IPv6Address(1)))
        #expect(!(IPAddress.v6(IPv6Address(0)) < IPAddress.v4(IPv4Address(.max))))
    }

    @Test func equalAddressesHashAlikeWhateverTheirSpelling() {
        let set = Set(["::1", "0::1", "0:0:0:0:0:0:0:1", "10.0.0.1"].compactMap { IPAddress($0) })
        #expect(set.count == 2)
        #expect(IPAddress("::a") != IPAddress("0.0.0.10"))
    }

    @Test(arguments: [
        ("224.0.0.1", true), ("239.255.255.255", true), ("223.255.255.255", false), ("240.0.0.0", false),
        ("10.0.0.1", false), ("ff02::1", true), ("ff00::", true), ("feff::1", false), ("fe80::1", false),
        ("::ffff:224.0.0.1", false),
    ])
    func multicastCoversBothFamiliesRanges(text: String, isMulticast: Bool) throws {
        #expect(try #require(IPAddress(text)).isMulticast == isMulticast)
    }

    @Test(arguments: [
        ("fe80::1", true), ("febf:ffff::1", true), ("fec0::1", false), ("fe7f::1", false), ("2001:db8::1", false),
        ("169.254.0.1", false),
    ])
    func ipv6LinkLocalIsFe80Slash10(text: String, isLinkLocal: Bool) throws {
        #expect(try #require(IPAddress(text)).isIPv6LinkLocal == isLinkLocal)
    }

    @Test func descriptionIsTheFamilysCanonicalText() {
        #expect(IPAddress("192.0.2.1")?.description == "192.0.2.1")
        #expect(IPAddress("2001:DB8:0:0:1:0:0:1")?.description == "2001:db8::1:0:0:1")
    }
}
