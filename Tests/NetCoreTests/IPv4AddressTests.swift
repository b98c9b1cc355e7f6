import NetCore
import Testing

@Suite struct IPv4AddressTests {
    @Test(arguments: [
        ("0.0.0.0", UInt32(0)),
        ("255.255.255.255", UInt32.max),
        ("192.0.2.1", 0xC000_0201),
        ("10.0.0.255", 0x0A00_00FF),
        ("127.0.0.1", 0x7F00_0001),
        ("1.0.0.0", 0x0100_0000),
    ])
    func dottedQuadParsesToItsHostOrderValueAndPrintsBack(text: String, value: UInt32) throws {
        let address = try #require(IPv4Address(text))
        #expect(address.value == value)
        #expect(address.description == text)
        #expect(IPv4Address(value) == address)
    }

    @Test(arguments: ["01.2.3.4", "1.2.3.04", "00.0.0.0", "1.02.3.4", "010.0.0.1", "0.0.0.00"])
    func leadingZerosAreRejected(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test(arguments: ["256.0.0.0", "1.2.3.256", "1.256.3.4", "999.1.1.1", "1.2.3.1000", "4294967295.0.0.0"])
    func outOfRangeOctetsAreRejected(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test(arguments: ["1.2.3", "1.2", "1", "16909060", "0x01020304", "1.2.3.4.5"])
    func shortAndLongFormsAreRejected(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test(arguments: ["1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.", "...", "1.2.3.4.."])
    func strayDotsAreRejected(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test(arguments: [" 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "\t1.2.3.4", "1. 2.3.4", "1.2.3.4\r\n"])
    func whitespaceIsRejected(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test(arguments: [
        "", "a.b.c.d", "0x1.2.3.4", "+1.2.3.4", "1.2.3.-4", "1.2.3.4/24", "1.2.3.4:80", "::1",
        "١.٢.٣.٤", "1.2.3.4a", "0000000000001.2.3.4",
    ])
    func otherMalformedTextIsRejected(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    /// The C parser stops at a NUL, so a check on the Swift side must refuse one.
    @Test(arguments: ["1.2.3.4\0", "1.2.3.4\0junk", "10.0.0.1\0.5"])
    func textWithAnEmbeddedNULIsRejected(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test func substringsParseLikeStrings() {
        let text = "[192.0.2.7]"
        let inner = text.dropFirst().dropLast()
        #expect(IPv4Address(inner) == IPv4Address(192, 0, 2, 7))
    }

    @Test func bytesAreInNetworkOrderAndRoundTrip() throws {
        let address = IPv4Address(192, 0, 2, 1)
        #expect(address.bytes == [192, 0, 2, 1])
        #expect(IPv4Address(bytes: [192, 0, 2, 1]) == address)
        #expect(IPv4Address(bytes: [10, 1, 2, 3][...]) == IPv4Address(10, 1, 2, 3))
        for value: UInt32 in [0, 1, 0xFF, 0x0100, 0x8000_0000, 0xDEAD_BEEF, .max] {
            let original = IPv4Address(value)
            #expect(IPv4Address(bytes: original.bytes) == original)
            #expect(IPv4Address(original.description) == original)
        }
    }

    @Test(arguments: [[], [1], [1, 2, 3], [1, 2, 3, 4, 5], [UInt8](repeating: 0, count: 16)])
    func bytesOfTheWrongCountAreRejected(bytes: [UInt8]) {
        #expect(IPv4Address(bytes: bytes) == nil)
    }

    @Test func ordersNumericallyNotTextually() throws {
        let texts = ["10.0.0.0", "9.255.255.255", "192.168.0.1", "2.0.0.0", "10.0.0.10", "10.0.0.9"]
        let sorted = texts.compactMap { IPv4Address($0) }.sorted().map(\.description)
        #expect(sorted == ["2.0.0.0", "9.255.255.255", "10.0.0.0", "10.0.0.9", "10.0.0.10", "192.168.0.1"])
        #expect(IPv4Address(255, 255, 255, 255) > IPv4Address(128, 0, 0, 0))
    }

    @Test func wellKnownAddresses() {
        #expect(IPv4Address.any.description == "0.0.0.0")
        #expect(IPv4Address.loopback.description == "127.0.0.1")
        #expect(IPv4Address.loopback.value == 0x7F00_0001)
    }
}
