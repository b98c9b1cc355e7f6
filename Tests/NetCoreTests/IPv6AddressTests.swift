import NetCore
import Testing

@Suite struct IPv6AddressTests {
    @Test(arguments: [
        ("::", "::"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:0", "::"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("1::", "1::"),
        ("1:0:0:0:0:0:0:0", "1::"),
        // Lower case, leading zeros dropped.
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("FE80::ABCD", "fe80::abcd"),
        // Of two equally long zero runs, the first is compressed.
        ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        // The longest zero run is compressed, wherever it is.
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::"),
        // A single zero group is not compressed.
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        // IPv4-mapped addresses keep the dotted tail.
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::FFFF:192.0.2.1", "::ffff:192.0.2.1"),
        ("::ffff:c000:0201", "::ffff:192.0.2.1"),
        // A dotted tail elsewhere is just two groups.
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
    ])
    func parsesAndPrintsTheRFC5952CanonicalForm(text: String, canonical: String) throws {
        let address = try #require(IPv6Address(text))
        #expect(address.description == canonical)
        #expect(IPv6Address(canonical) == address)
    }

    @Test func parsedValueIsTheBigEndianInteger() throws {
        #expect(IPv6Address("::")?.value == 0)
        #expect(IPv6Address("::1")?.value == 1)
        #expect(IPv6Address("::ffff:1.2.3.4")?.value == 0xFFFF_0102_0304)
        #expect(IPv6Address("2001:db8::1")?.value == UInt128(0x2001_0DB8) << 96 | 1)
        #expect(IPv6Address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")?.value == .max)
        #expect(IPv6Address("8000::")?.value == UInt128(1) << 127)
    }

    @Test func longestValidTextIsAccepted() {
        let text = "0000:0000:0000:0000:0000:ffff:255.255.255.255"
        #expect(text.utf8.count == 45)
        #expect(IPv6Address(text)?.description == "::ffff:255.255.255.255")
    }

    @Test(arguments: [
        "1:::2", ":::", "12345::", "::12345", "1::2::3", ":1::2", "1::2:", ":", "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::", "::g", "g::", "02001:db8::1",
    ])
    func malformedTextIsRejected(text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test(arguments: ["fe80::1%eth0", "fe80::1%1", "fe80::1%", "ff02::1%lo"])
    func zoneIdentifiersAreRejected(text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test(arguments: [
        "::ffff:01.2.3.4", "::ffff:1.2.3", "::ffff:256.1.1.1", "::ffff:1.2.3.4.5", "::1.2.3.4:5",
        "1.2.3.4::",
    ])
    func badEmbeddedIPv4TailsAreRejected(text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test(arguments: ["", " ::1", "::1 ", "::1\n", "[::1]", "::1/128", "1.2.3.4"])
    func otherNonAddressesAreRejected(text: String) {
        #expect(IPv6Address(text) == nil)
    }

    /// The C parser stops at a NUL, so a check on the Swift side must refuse one.
    @Test(arguments: ["::1\0", "2001:db8::1\0junk", "fe80::1\0%eth0"])
    func textWithAnEmbeddedNULIsRejected(text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test func bytesAreInNetworkOrderAndRoundTrip() throws {
        let address = try #require(IPv6Address("2001:db8::1"))
        let expected: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        #expect(address.bytes == expected)
        #expect(IPv6Address(bytes: expected) == address)
        #expect(IPv6Address(bytes: expected[...]) == address)
        for value: UInt128 in [0, 1, 0xFF, UInt128(1) << 64, UInt128(1) << 127, .max, 0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210] {
            let original = IPv6Address(value)
            #expect(original.bytes.count == 16)
            #expect(IPv6Address(bytes: original.bytes) == original)
            #expect(IPv6Address(original.description) == original)
        }
    }

    @Test(arguments: [0, 1, 4, 15, 17, 32])
    func bytesOfTheWrongCountAreRejected(count: Int) {
        #expect(IPv6Address(bytes: [UInt8](repeating: 1, count: count)) == nil)
    }

    @Test func ordersAsUnsigned128BitIntegers() {
        let texts = ["fe80::1", "::1", "ffff::", "2001:db8::", "::", "2001:db8::10", "2001:db8::9", "8000::"]
        let sorted = texts.compactMap { IPv6Address($0) }.sorted().map(\.description)
        #expect(sorted == ["::", "::1", "2001:db8::", "2001:db8::9", "2001:db8::10", "8000::", "fe80::1", "ffff::"])
    }

    @Test func wellKnownAddresses() {
        #expect(IPv6Address.any.description == "::")
        #expect(IPv6Address.loopback.description == "::1")
        #expect(IPv6Address("0::1") == .loopback)
    }
}
