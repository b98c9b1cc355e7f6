@testable import Firewall
import NetCore
import Testing

/// The exact batches of `macspoofchk`: one chain per guarded port, released without a listing.
struct MACSpoofGuardTests {
    let transport = RecordingTransport()

    @Test func guardingAPortAllowsOnlyItsMAC() throws {
        try MACSpoofGuard(transport: transport).guardPort(InterfaceName("veth0123"), mac: MACAddress(parsing: "02:42:ac:11:00:02", field: "mac"))
        try Golden.expect(transport.batches[0], matches: "spoof-guard")
    }

    @Test func releasingDeclaresWhatItDeletesSoAMissingGuardIsNoError() throws {
        try MACSpoofGuard(transport: transport).releasePort(InterfaceName("veth0123"))
        try Golden.expect(transport.batches[0], matches: "spoof-release")
    }
}

/// What the guard and the port maps share: listing a table, and element comments.
struct TableListingAndCommentTests {
    @Test func aListingIsFetchedForEitherTableAndAMissingTableIsNil() throws {
        let transport = RecordingTransport()
        transport.replies = [
            .success(#"{"nftables":[{"chain":{"family":"bridge","table":"netctl","name":"prerouting"}}]}"#),
            .failure(NftablesError(message: "Error: No such file or directory")),
            .failure(NftablesError(message: "Error: Operation not permitted")),
        ]
        let listing = try #require(try TableListing.fetch(MACSpoofGuard.table, through: transport))
        #expect(listing.chains == ["prerouting"])
        #expect(transport.batches == [#"{"nftables":[{"list":{"table":{"family":"bridge","name":"netctl"}}}]}"#])
        #expect(try TableListing.fetch(Ruleset.table, through: transport) == nil)
        #expect(transport.batches.last == #"{"nftables":[{"list":{"table":{"family":"inet","name":"netctl"}}}]}"#)
        let error = #expect(throws: NetworkError.self) { try TableListing.fetch(Ruleset.table, through: transport) }
        #expect(error?.message == "cannot list nftables table inet netctl", "\(String(describing: error))")
    }

    @Test func aCommentIsCutToWhatAnElementHoldsOnACharacterBoundary() {
        #expect(Nftables.Element.fittingComment("bridge:web") == "bridge:web")
        #expect(Nftables.Element.fittingComment(String(repeating: "a", count: 200)) == String(repeating: "a", count: 128))
        // Two bytes each: 64 of them fit, never half of one.
        #expect(Nftables.Element.fittingComment(String(repeating: "é", count: 100)) == String(repeating: "é", count: 64))
    }
}
