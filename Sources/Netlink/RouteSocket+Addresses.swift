#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import NetCore

/// An address assigned to an interface.
public struct InterfaceAddress: Sendable, Hashable {
    public var interfaceIndex: Int32
    /// The address with its prefix length, e.g. `10.0.0.2/24`.
    public var address: CIDR
    /// How far the address is valid: global (`universe`), `link` or `host`.
    public var scope: RouteScope
    /// `IFA_F_*` flags.
    public var flags: UInt32

    /// `IFA_F_NODAD`: duplicate address detection was skipped.
    public var skipsDuplicateDetection: Bool { flags & UInt32(IFA_F_NODAD) != 0 }
    /// `IFA_F_TENTATIVE`: still under duplicate address detection.
    public var isTentative: Bool { flags & UInt32(IFA_F_TENTATIVE) != 0 }
}

extension RouteSocket {
    /// Assigns `address` to `link`. IPv4 addresses get the subnet's broadcast address.
    ///
    /// - Parameter skipDuplicateDetection: sets `IFA_F_NODAD` so an IPv6 address is usable at
    ///   once instead of after DAD (about a second).
    /// - Throws: ``NetworkError`` `.alreadyExists` when the link has it, `.notFound` when the
    ///   link does not exist.
    public func addAddress(_ address: CIDR, to link: LinkReference, skipDuplicateDetection: Bool = false) throws {
        let index = try index(of: link)
        let flags = skipDuplicateDetection ? UInt32(IFA_F_NODAD) : 0
        let message = try addressMessage(.newAddress, [.request, .acknowledge, .create, .exclusive], address, index, flags: flags)
        if address.family == .v4 {
            try message.put(AddressAttribute.local, address: address.address)
        }
        try message.put(AddressAttribute.address, address: address.address)
        if address.family == .v4, address.prefixLength < 31 {
            try message.put(AddressAttribute.broadcast, address: address.lastAddress)
        }
        if flags != 0 { try message.put(AddressAttribute.flags, flags) }
        do {
            _ = try request(message, operation: "RTM_NEWADDR \(address) dev \(link)")
        } catch let error as NetlinkError {
            if error.errno == .fileExists {
                throw NetworkError(code: .alreadyExists, message: "interface \"\(link)\" already has address \(address)", cause: error)
            }
            throw NetworkError(code: .system, message: "cannot add address \(address) to interface \"\(link)\"", cause: error)
        }
    }

    /// Removes `address` from `link`. An address or link that is already gone is success.
    public func deleteAddress(_ address: CIDR, from link: LinkReference) throws {
        let index: Int32
        do {
            index = try self.index(of: link)
        } catch let error as NetworkError where error.code == .notFound {
            return
        }
        let message = try addressMessage(.deleteAddress, [.request, .acknowledge], address, index, flags: 0)
        if address.family == .v4 { try message.put(AddressAttribute.local, address: address.address) }
        try message.put(AddressAttribute.address, address: address.address)
        do {
            _ = try request(message, operation: "RTM_DELADDR \(address) dev \(link)")
        } catch Errno.addressNotAvailable {
            return
        } catch Errno.noSuchDevice {
            return
        }
    }

    /// The addresses in the socket's namespace, optionally of one link or one family.
    public func addresses(of link: LinkReference? = nil, family: IPAddress.Family? = nil) throws -> [InterfaceAddress] {
        let index = try link.map { try self.index(of: $0) }
        return try dump(operation: "RTM_GETADDR dump") {
            let message = MessageBuilder(type: .getAddress, flags: [.request, .dump])
            var header = ifaddrmsg()
            header.ifa_family = family.map(Self.addressFamily) ?? UInt8(AF_UNSPEC)
            // A filter under strict checking: the kernel walks only this link's addresses,
            // not every device's (a bridge with hundreds of ports made this dump grow).
            header.ifa_index = UInt32(bitPattern: index ?? 0)
            try message.append(header)
            return message
        }
        .compactMap(InterfaceAddress.init)
        .filter { index == nil || $0.interfaceIndex == index }
    }

    private func addressMessage(_ type: MessageType, _ flags: MessageFlags, _ address: CIDR, _ index: Int32, flags addressFlags: UInt32) throws -> MessageBuilder {
        let message = MessageBuilder(type: type, flags: flags)
        var header = ifaddrmsg()
        header.ifa_family = Self.addressFamily(address.family)
        header.ifa_prefixlen = UInt8(address.prefixLength)
        header.ifa_flags = UInt8(truncatingIfNeeded: addressFlags)
        header.ifa_index = UInt32(bitPattern: index)
        try message.append(header)
        return message
    }

    static func addressFamily(_ family: IPAddress.Family) -> UInt8 {
        UInt8(family == .v4 ? AF_INET : AF_INET6)
    }
}

extension InterfaceAddress {
    /// Reads an `RTM_NEWADDR` message.
    init?(_ message: ReplyMessage) {
        let payload = message.payload
        guard message.type == .newAddress, let header = payload.header(as: ifaddrmsg.self) else { return nil }
        let prefixLength = Int(header.ifa_prefixlen)
        let attributes = Attributes(payload[(payload.startIndex + MemoryLayout<ifaddrmsg>.size)...])
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point links.
        guard let address = attributes.address(AddressAttribute.local) ?? attributes.address(AddressAttribute.address),
              let cidr = try? CIDR(address: address, prefixLength: prefixLength)
        else { return nil }
        interfaceIndex = Int32(bitPattern: header.ifa_index)
        self.address = cidr
        scope = RouteScope(rawValue: header.ifa_scope) ?? .universe
        flags = attributes.uint32(AddressAttribute.flags) ?? UInt32(header.ifa_flags)
    }
}
