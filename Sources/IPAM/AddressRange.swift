import NetCore

/// One range of a pool, as the reference `host-local` takes it: a subnet and optionally the
/// first and last address to hand out, the gateway, and addresses to keep back (Docker's
/// auxiliary addresses).
///
/// The initializer resolves the defaults once, so the allocator only deals in plain bounds:
/// - `start` defaults to the first address after the network address, `end` to the last before
///   the IPv4 broadcast address (IPv6 has no broadcast, so its last address is usable).
/// - `/31` and `/127` are point-to-point links (RFC 3021, RFC 6164): both addresses are usable,
///   there is no network or broadcast address and no default gateway. `/32` and `/128` hold one
///   usable address. The reference plugin refuses these prefixes; we allow them because
///   point-to-point container links use them.
/// - `gateway` defaults to the first address after the network address, as in `host-local` and
///   Docker; it is never handed out.
public struct AddressRange: Hashable, Sendable, CustomStringConvertible {
    /// The subnet, without host bits.
    public let subnet: CIDR
    /// The first address that may be handed out.
    public let start: IPAddress
    /// The last address that may be handed out.
    public let end: IPAddress
    public let gateway: IPAddress?
    /// Addresses inside the range that are never handed out (besides the gateway).
    public let reserved: [IPAddress]
    /// Integer values never handed out: network, broadcast, gateway, reserved. Sorted, unique.
    let excluded: [UInt128]

    /// - Parameters:
    ///   - subnet: the subnet; host bits must be zero (`10.0.0.0/24`, not `10.0.0.1/24`).
    ///   - start: the first address handed out; must lie in `subnet`.
    ///   - end: the last; must lie in `subnet` and not before `start`.
    ///   - gateway: must lie in `subnet`.
    ///   - reserved: addresses never handed out; each must lie in `subnet`.
    ///   - fields: how the caller's input names the start and the end, for errors (a CNI
    ///     config says `rangeStart` and `rangeEnd`).
    /// - Throws: ``NetworkError`` naming the field (`subnet`, the start's or end's, `gateway`,
    ///   `reserved address`) and its value.
    public init(
        subnet: CIDR, start: IPAddress? = nil, end: IPAddress? = nil, gateway: IPAddress? = nil,
        reserved: [IPAddress] = [], fields: (start: String, end: String) = ("range start", "range end")
    ) throws {
        guard subnet.address == subnet.networkAddress else {
            throw NetworkError.invalid(
                "subnet", subnet.description,
                "has host bits set; the network address for /\(subnet.prefixLength) is \(subnet.networkAddress)")
        }
        func inside(_ address: IPAddress?, _ field: String) throws {
            guard let address, !subnet.contains(address) else { return }
            throw NetworkError.invalid(field, address.description, "is outside subnet \(subnet)")
        }
        try inside(start, fields.start)
        try inside(end, fields.end)
        try inside(gateway, "gateway")
        for address in reserved { try inside(address, "reserved address") }

        let family = subnet.family
        let network = subnet.networkAddress.integerValue
        let last = subnet.lastAddress.integerValue
        // Fewer than two host bits: a point-to-point link or a single host, every address usable.
        let pointToPoint = family.bitWidth - subnet.prefixLength < 2
        var fixed: [UInt128] = []
        var defaultStart = network, defaultEnd = last
        if !pointToPoint {
            fixed.append(network)
            defaultStart = network + 1
            if family == .v4 {
                fixed.append(last)
                defaultEnd = last - 1
            }
        }
        let resolvedStart = start?.integerValue ?? defaultStart
        let resolvedEnd = end?.integerValue ?? defaultEnd
        guard resolvedStart <= resolvedEnd else {
            throw NetworkError.invalid(
                fields.start, start?.description ?? "", "is after \(fields.end) \(end?.description ?? "")")
        }
        let resolvedGateway = gateway ?? (pointToPoint ? nil : IPAddress(family: family, integerValue: network + 1))

        self.subnet = subnet
        self.start = IPAddress(family: family, integerValue: resolvedStart) ?? subnet.networkAddress
        self.end = IPAddress(family: family, integerValue: resolvedEnd) ?? subnet.lastAddress
        self.gateway = resolvedGateway
        self.reserved = reserved
        let all = fixed + (resolvedGateway.map { [$0.integerValue] } ?? []) + reserved.map(\.integerValue)
        excluded = Array(Set(all)).sorted()
    }

    public var family: IPAddress.Family { subnet.family }

    /// Whether `address` lies between ``start`` and ``end`` (reserved addresses included).
    public func contains(_ address: IPAddress) -> Bool {
        address.family == family && (start.integerValue...end.integerValue).contains(address.integerValue)
    }

    /// Whether the two ranges share an address between their bounds.
    public func overlaps(_ other: AddressRange) -> Bool {
        family == other.family && start.integerValue <= other.end.integerValue
            && other.start.integerValue <= end.integerValue
    }

    /// How many addresses can be handed out: the bounds minus excluded addresses between them.
    public var capacity: UInt128 {
        let span = end.integerValue - start.integerValue
        let inside = UInt128(excluded.count(where: { contains(value: $0) }))
        return span == .max ? span - inside : span + 1 - inside
    }

    func contains(value: UInt128) -> Bool { (start.integerValue...end.integerValue).contains(value) }

    public var description: String { "\(subnet) (\(start)-\(end))" }
}
