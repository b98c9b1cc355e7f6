import NetCore
import Testing

/// Always yields the same word, to pin down what `random(using:)` does with it.
private struct ConstantGenerator: RandomNumberGenerator {
    let word: UInt64
    mutating func next() -> UInt64 { word }
}

/// SplitMix64: a seeded generator, so two runs from one seed agree.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct MACAddressTests {
    @Test(arguments: [
        "02:42:ac:11:00:02", "02-42-ac-11-00-02", "02:42:AC:11:00:02", "02-42-AC-11-00-02", "02:42:Ac:11:00:02",
    ])
    func colonAndDashFormsInEitherCaseParseAlike(text: String) throws {
        let address = try MACAddress(parsing: text)
        #expect(address.bytes == [0x02, 0x42, 0xAC, 0x11, 0x00, 0x02])
        #expect(address.description == "02:42:ac:11:00:02")
        #expect(MACAddress(text) == address)
    }

    @Test func descriptionIsLowerCaseWithTwoDigitsPerByte() throws {
        #expect(try MACAddress(bytes: [0, 1, 0x0A, 0xFF, 0x10, 0xAB]).description == "00:01:0a:ff:10:ab")
        #expect(MACAddress.zero.description == "00:00:00:00:00:00")
        #expect(try MACAddress(parsing: "FF:FF:FF:FF:FF:FF").description == "ff:ff:ff:ff:ff:ff")
    }

    @Test(arguments: [
        "", "02:42:ac:11:00", "02:42:ac:11:00:02:03", "2:42:ac:11:0:2", "002:42:ac:11:00:02", "02:42:ac:11:00:0g",
        "02:42-ac:11:00:02", "02-42-ac-11-00:02", "0242.ac11.0002", "0242ac110002", "02::ac:11:00:02", ":::::",
        "02:42:ac:11:00:02 ", " 02:42:ac:11:00:02", "02:42:ac:11:00:02:", "02 42 ac 11 00 02", "zz:zz:zz:zz:zz:zz",
    ])
    func malformedTextIsRejectedNamingTheValue(text: String) {
        let error = #expect(throws: NetworkError.self) { try MACAddress(parsing: text) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid MAC address \"\(text)\": expected six hex bytes like 02:42:ac:11:00:02")
        #expect(MACAddress(text) == nil)
    }

    /// Each group must be two hex digits; Swift's integer parser would also take a sign.
    @Test(arguments: ["+2:42:ac:11:00:02", "-0:42:ac:11:00:02", "02:42:ac:11:00:+f", "+0-42-ac-11-00-02"])
    func signedGroupsAreRejected(text: String) {
        #expect(throws: NetworkError.self) { try MACAddress(parsing: text) }
    }

    @Test func errorsNameTheCallersField() {
        let error = #expect(throws: NetworkError.self) { try MACAddress(parsing: "nope", field: "bridge MAC") }
        #expect(error?.message.hasPrefix(#"invalid bridge MAC "nope": "#) == true)
    }

    @Test(arguments: [0, 5, 7, 8])
    func bytesOfTheWrongCountAreRejected(count: Int) {
        let bytes = [UInt8](repeating: 1, count: count)
        let error = #expect(throws: NetworkError.self) { try MACAddress(bytes: bytes) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid MAC address \"\(bytes)\": must be 6 bytes")
    }

    @Test func bytesRoundTripThroughText() throws {
        let address = try MACAddress(bytes: [0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01])
        #expect(try MACAddress(parsing: address.description) == address)
        #expect(address.bytes == [0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01])
    }

    @Test(arguments: [
        ("01:00:5e:00:00:01", true), ("33:33:00:00:00:01", true), ("ff:ff:ff:ff:ff:ff", true),
        ("02:42:ac:11:00:02", false), ("00:00:00:00:00:00", false), ("fe:ff:ff:ff:ff:ff", false),
    ])
    func multicastIsTheLowBitOfTheFirstByte(text: String, isMulticast: Bool) throws {
        #expect(try MACAddress(parsing: text).isMulticast == isMulticast)
    }

    @Test func randomAddressesAreUnicastAndLocallyAdministered() {
        var seen = Set<MACAddress>()
        for _ in 0..<256 {
            let address = MACAddress.random()
            #expect(address.bytes.count == 6)
            #expect(address.bytes[0] & 0x01 == 0, "unicast: \(address)")
            #expect(address.bytes[0] & 0x02 == 0x02, "locally administered: \(address)")
            #expect(!address.isMulticast)
            seen.insert(address)
        }
        // 48 random bits less two: 256 draws colliding is practically impossible.
        #expect(seen.count > 250)
    }

    @Test(arguments: [UInt64(0), .max, 0x0101_0101_0101_0101, 0xFEFE_FEFE_FEFE_FEFE])
    func randomFixesTheTwoLowBitsWhateverTheGeneratorGives(word: UInt64) {
        var generator = ConstantGenerator(word: word)
        let address = MACAddress.random(using: &generator)
        #expect(address.bytes[0] & 0x03 == 0x02)
        #expect(!address.isMulticast)
    }

    @Test func randomIsReproducibleFromASeed() {
        var first = SeededGenerator(state: 42)
        var second = SeededGenerator(state: 42)
        let a = (0..<8).map { _ in MACAddress.random(using: &first) }
        let b = (0..<8).map { _ in MACAddress.random(using: &second) }
        #expect(a == b)
        #expect(Set(a).count == 8)
    }
}
