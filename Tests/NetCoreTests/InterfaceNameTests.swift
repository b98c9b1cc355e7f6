import NetCore
import Testing

@Suite struct InterfaceNameTests {
    @Test(arguments: [
        "a", "eth0", "lo", "veth1234abcd", "eth0.100", "br-0123456789ab", "abcdefghijklmno", "a.b", "...", ".a",
        "-", "_", "vlan@1", "ééééééé", "x\u{E9}\u{E9}\u{E9}\u{E9}\u{E9}\u{E9}\u{E9}", "😀😀😀", "e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}",
    ])
    func validNamesOfOneToFifteenBytesAreAccepted(name: String) throws {
        #expect((1...15).contains(name.utf8.count))
        let parsed = try InterfaceName(name)
        #expect(parsed.rawValue == name)
        #expect(parsed.description == name)
    }

    @Test func exactlyFifteenBytesIsTheLimit() throws {
        #expect(InterfaceName.maximumLength == 15)
        #expect(try InterfaceName(String(repeating: "x", count: 15)).rawValue.utf8.count == 15)
    }

    @Test func interfaceNameOf16BytesIsRejectedNamingTheValue() {
        let error = #expect(throws: NetworkError.self) { try InterfaceName(String("abcdefghijklmnop")) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == #"invalid interface name "abcdefghijklmnop": is 16 bytes long; at most 15 are allowed"#)
        #expect(error?.message.contains("16 bytes") == true)
    }

    /// The kernel limit is in bytes: eight two-byte characters are too many, seven fit.
    @Test(arguments: [
        ("éééééééé", 16), ("😀😀😀😀", 16), ("a😀😀😀😀", 17), ("e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}", 18),
    ])
    func multibyteNamesAreMeasuredInBytesNotCharacters(name: String, bytes: Int) {
        #expect(name.count <= InterfaceName.maximumLength, "fits when counted in characters")
        let error = #expect(throws: NetworkError.self) { try InterfaceName(name) }
        #expect(error?.message.contains("\"\(name)\"") == true)
        #expect(error?.message.contains("is \(bytes) bytes long") == true)
    }

    @Test func emptyNameIsRejected() {
        let error = #expect(throws: NetworkError.self) { try InterfaceName(String()) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == #"invalid interface name "": must not be empty"#)
    }

    @Test(arguments: [".", ".."])
    func dotAndDotDotAreRejected(name: String) {
        let error = #expect(throws: NetworkError.self) { try InterfaceName(name) }
        #expect(error?.message == "invalid interface name \"\(name)\": must not be \".\" or \"..\"")
    }

    @Test(arguments: [("eth/0", "\"/\""), ("/", "\"/\""), ("eth:0", "\":\""), ("eth0:1", "\":\""), (":", "\":\"")])
    func slashAndColonAreRejectedNamingTheCharacter(name: String, character: String) {
        let error = #expect(throws: NetworkError.self) { try InterfaceName(name) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid interface name \"\(name)\": must not contain \(character)")
    }

    @Test(arguments: ["eth 0", " eth0", "eth0 ", "eth\t0", "eth0\n", "\neth0", "eth\r0", "eth\u{0B}0", "eth\u{0C}0", " "])
    func whitespaceIsRejected(name: String) {
        let error = #expect(throws: NetworkError.self) { try InterfaceName(name) }
        #expect(error?.message.hasSuffix("must not contain whitespace") == true)
    }

    @Test func nulIsRejectedAsNUL() {
        let error = #expect(throws: NetworkError.self) { try InterfaceName("eth\u{0}0") }
        #expect(error?.message.hasSuffix("must not contain a NUL byte") == true)
    }

    @Test func errorsNameTheCallersField() {
        let error = #expect(throws: NetworkError.self) { try InterfaceName(String(), field: "bridge") }
        #expect(error?.message == #"invalid bridge "": must not be empty"#)
    }

    @Test func aLiteralArgumentReachesTheThrowingInitializer() {
        // InterfaceName is not ExpressibleByStringLiteral, so this throws instead of trapping.
        #expect(throws: NetworkError.self) { try InterfaceName("0123456789abcdef") }
    }

    @Test func equalityAndOrdering() throws {
        #expect(try InterfaceName("eth0") == InterfaceName("eth0"))
        let sorted = try ["veth0", "br0", "eth1", "eth0"].map { try InterfaceName($0) }
        #expect(sorted.sorted().map(\.rawValue) == ["br0", "eth0", "eth1", "veth0"])
        #expect(Set(try ["lo", "lo", "eth0"].map { try InterfaceName($0) }).count == 2)
    }
}
