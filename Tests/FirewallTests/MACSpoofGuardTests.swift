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
