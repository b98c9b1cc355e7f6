@testable import Firewall
import NetCore

/// Records every batch instead of sending it; answers with canned replies or errors.
final class RecordingTransport: NftablesTransport {
    private(set) var batches: [String] = []
    /// Replies in order; an `NftablesError` is thrown instead of returned. Empty: answer "".
    var replies: [Result<String, NftablesError>] = []

    func run(_ commands: String) throws -> String {
        batches.append(commands)
        guard !replies.isEmpty else { return "" }
        return try replies.removeFirst().get()
    }
}

/// A host with fixed addresses and an in-memory sysctl table.
final class FakeHost: FirewallHost {
    var addresses: [IPAddress]
    var sysctls: [String: String] = [:]

    init(addresses: [IPAddress]) { self.addresses = addresses }

    func localAddresses(family: IPAddress.Family?) throws -> [IPAddress] {
        addresses.filter { family == nil || $0.family == family }
    }

    func readSysctl(_ key: String) throws -> String {
        guard let value = sysctls[key] else { throw NetworkError(code: .notFound, message: "no sysctl \(key)") }
        return value
    }

    func writeSysctl(_ key: String, _ value: String) throws {
        guard sysctls[key] != nil else { throw NetworkError(code: .notFound, message: "no sysctl \(key)") }
        sysctls[key] = value
    }
}

func ip(_ text: String) throws -> IPAddress { try IPAddress(parsing: text, field: "test") }

/// The network most tests use: br0 with 10.10.0.0/24 and fd10::/64.
func network(masquerade: Bool = true, isInternal: Bool = false, localhostDNAT: Bool = false) throws -> FirewallNetwork {
    FirewallNetwork(name: "net0", bridge: try InterfaceName("br0"),
                    subnets: [try CIDR(parsing: "10.10.0.0/24"), try CIDR(parsing: "fd10::/64")],
                    masquerade: masquerade, isInternal: isInternal, localhostDNAT: localhostDNAT)
}

func firewall(_ transport: RecordingTransport, host: FakeHost? = nil) throws -> NftablesFirewall {
    NftablesFirewall(transport: transport, host: try host ?? FakeHost(addresses: [ip("127.0.0.1"), ip("192.0.2.1")]), lock: nil)
}
