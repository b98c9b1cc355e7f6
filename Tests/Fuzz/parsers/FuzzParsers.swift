#if canImport(Glibc)
import Glibc
#endif
import FuzzSupport
import NetCore
import ProxyClient

// The text parsers of user input under libFuzzer (`make fuzz`): `-p` port specs, CIDRs,
// addresses, MACs, interface names and the proxy's forward rules, each given the input as
// UTF-8 text. Errors are fine; a trap is not. What parses prints as text that parses back to
// the same value. Built with FUZZING (and -sanitize=fuzzer) main hands over to libFuzzer's
// driver; without, it replays files (`fuzz-parsers FILE...`).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)

    if let address = IPAddress(text) {
        precondition(IPAddress(address.description) == address, "address \(address) does not parse back")
        precondition(IPAddress(bytes: address.bytes) == address, "address \(address) does not survive its bytes")
        precondition(IPAddress(family: address.family, integerValue: address.integerValue) == address)
        _ = (address.isLoopback, address.isMulticast, address.isUnspecified, address.isIPv6LinkLocal)
    }

    let cidr = try? CIDR(parsing: text, field: "subnet")
    precondition(CIDR(text) == cidr, "CIDR(_:) and CIDR(parsing:) disagree on \(text)")
    if let cidr {
        precondition(CIDR(cidr.description) == cidr, "CIDR \(cidr) does not parse back")
        let network = cidr.network
        precondition(network.contains(cidr.address) && cidr.contains(network) && network.contains(cidr))
        precondition(cidr.contains(cidr.networkAddress) && cidr.contains(cidr.lastAddress) && cidr.networkAddress <= cidr.lastAddress)
        precondition(network.networkAddress == network.address && network.overlaps(cidr))
        precondition(cidr.addressCount >= 1 && (cidr.prefixLength == 0 || CIDR.all(cidr.family).contains(cidr)))
        _ = cidr.netmask
    }

    if let mac = try? MACAddress(parsing: text) {
        precondition(mac.bytes.count == 6 && MACAddress(mac.description) == mac, "MAC \(mac) does not parse back")
    }

    if let name = try? InterfaceName(text) {
        precondition(name.rawValue == text && name.description == text && name.rawValue.utf8.count <= InterfaceName.maximumLength)
    }

    if let transport = try? TransportProtocol(parsing: text) {
        precondition(TransportProtocol(rawValue: text.lowercased()) == transport)
    }

    if let mapping = try? PortMapping(parsing: text) {
        precondition((try? PortMapping(parsing: mapping.description)) == mapping, "port spec \(mapping) does not parse back")
        precondition(mapping.hostPorts.count == mapping.containerPorts.count && mapping.hostPorts.lowerBound > 0)
        precondition(mapping.containerPort(for: mapping.hostPorts.upperBound) == mapping.containerPorts.upperBound)
        precondition(mapping.sharesAHostPort(with: mapping))
        // The proxy's rules for it, printed as the proxy's arguments, read back as the same rules.
        if mapping.transport != .sctp, mapping.hostPorts.count <= 4096 {
            for container in ["10.88.0.2", "fd88::2"].compactMap(IPAddress.init) {
                guard let rules = try? ForwardRule.rules(for: mapping, containerAddress: container) else {
                    preconditionFailure("no forward rules for \(mapping)")
                }
                precondition(rules.count == mapping.hostPorts.count)
                precondition(reparsed(ForwardRule.specs(for: rules)) == rules, "the forward rules of \(mapping) do not parse back")
            }
        }
    }

    if let rules = try? ForwardRule.parse(text) {
        precondition(!rules.isEmpty, "\(text) parses to no rule")
        let specs = ForwardRule.specs(for: rules)
        precondition(specs.count == 1, "one spec \(text) prints as \(specs)")
        precondition(reparsed(specs) == rules, "forward rule \(text) does not parse back")
        if rules.count <= 256 { precondition(rules.allSatisfy { (try? ForwardRule.parse($0.description)) == [$0] }) }
    }
    return 0
}

func reparsed(_ specs: [String]) -> [ForwardRule]? {
    var rules: [ForwardRule] = []
    for spec in specs {
        guard let parsed = try? ForwardRule.parse(spec) else { return nil }
        rules += parsed
    }
    return rules
}

@main
struct Replay {
    static func main() { FuzzDriver.main(fuzzOne) }
}
