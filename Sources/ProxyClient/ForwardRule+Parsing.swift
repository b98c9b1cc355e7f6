import NetCore

extension ForwardRule {
    /// Parses `PROTO:LISTEN=TARGET`, where each side is `ADDRESS:PORT` (`[IPv6]:PORT` for IPv6):
    /// `tcp:127.0.0.1:8080=10.88.0.2:80`, `udp:[::1]:53=10.88.0.2:53`. Both ports may be
    /// ranges of equal length, `tcp:127.0.0.1:8000-8009=10.88.0.2:80-89`, which yield one rule
    /// per port; that keeps a large published range short on the proxy's command line.
    ///
    /// - Throws: ``NetworkError`` naming the spec and what is wrong with it.
    public static func parse(_ spec: String) throws -> [ForwardRule] {
        func invalid(_ reason: String) -> NetworkError { NetworkError.invalid("forward rule", spec, reason) }
        guard let colon = spec.firstIndex(of: ":") else {
            throw invalid("expected PROTO:ADDRESS:PORT=ADDRESS:PORT")
        }
        let transport = try TransportProtocol(parsing: String(spec[..<colon]), field: "protocol in forward rule \"\(spec)\"")
        guard transport != .sctp else { throw sctpUnsupported }
        let sides = spec[spec.index(after: colon)...].split(separator: "=", omittingEmptySubsequences: false)
        guard sides.count == 2 else { throw invalid("expected one \"=\" between the listen and target sides") }
        let listen = try endpoint(sides[0], side: "listen", spec: spec)
        let target = try endpoint(sides[1], side: "target", spec: spec)
        guard listen.ports.count == target.ports.count else {
            throw invalid("the listen and target port ranges differ in length")
        }
        return try zip(listen.ports, target.ports).map { listenPort, targetPort in
            try ForwardRule(transport: transport, listenAddress: listen.address, listenPort: listenPort,
                            targetAddress: target.address, targetPort: targetPort)
        }
    }

    /// The specs that ``parse(_:)`` turns back into `rules`, in order: a run of consecutive
    /// ports with the same protocol and addresses becomes one ranged spec.
    public static func specs(for rules: [ForwardRule]) -> [String] {
        var specs: [String] = []
        var index = rules.startIndex
        while index < rules.endIndex {
            let first = rules[index]
            var last = first
            var next = rules.index(after: index)
            while next < rules.endIndex, rules[next].continues(last) {
                last = rules[next]
                next = rules.index(after: next)
            }
            if first == last {
                specs.append(first.description)
            } else {
                let listen = endpoint(first.listenAddress, "\(first.listenPort)-\(last.listenPort)")
                let target = endpoint(first.targetAddress, "\(first.targetPort)-\(last.targetPort)")
                specs.append("\(first.transport.rawValue):\(listen)=\(target)")
            }
            index = next
        }
        return specs
    }

    /// Whether this rule is the port after `previous` on both sides, with everything else equal.
    private func continues(_ previous: ForwardRule) -> Bool {
        transport == previous.transport && listenAddress == previous.listenAddress
            && targetAddress == previous.targetAddress
            && previous.listenPort < UInt16.max && listenPort == previous.listenPort + 1
            && previous.targetPort < UInt16.max && targetPort == previous.targetPort + 1
    }

    /// `ADDRESS:PORT[-END]` or `[IPv6]:PORT[-END]`.
    private static func endpoint(_ text: Substring, side: String, spec: String) throws
        -> (address: IPAddress, ports: ClosedRange<UInt16>) {
        let addressText: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw NetworkError.invalid("\(side) side of forward rule \"\(spec)\"", String(text), "expected [IPv6]:PORT")
            }
            addressText = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard addressText.contains(":") else {
                throw NetworkError.invalid("\(side) address in forward rule \"\(spec)\"", String(addressText),
                                           "only IPv6 addresses go in brackets")
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw NetworkError.invalid("\(side) side of forward rule \"\(spec)\"", String(text), "expected ADDRESS:PORT")
            }
            addressText = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !addressText.contains(":") else {
                throw NetworkError.invalid("\(side) address in forward rule \"\(spec)\"", String(addressText),
                                           "write an IPv6 address in brackets, [ADDRESS]:PORT")
            }
        }
        guard let address = IPAddress(addressText) else {
            throw NetworkError.invalid("\(side) address in forward rule \"\(spec)\"", String(addressText),
                                       "not an IPv4 or IPv6 address")
        }
        return (address, try ports(portText, field: "\(side) port in forward rule \"\(spec)\""))
    }

    /// `80` or `8000-8010`.
    private static func ports(_ text: Substring, field: String) throws -> ClosedRange<UInt16> {
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
        let numbers = bounds.compactMap { bound -> UInt16? in
            guard !bound.isEmpty, bound.count <= 5, bound.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = UInt16(bound), value > 0 else { return nil }
            return value
        }
        guard (1...2).contains(bounds.count), numbers.count == bounds.count,
              let low = numbers.first, let high = numbers.last, low <= high else {
            throw NetworkError.invalid(field, String(text), "must be a port 1-65535 or a range LOW-HIGH")
        }
        return low...high
    }
}
