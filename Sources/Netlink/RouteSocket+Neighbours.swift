#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import NetCore

/// What the kernel knows of a neighbour (`ndm_state`, the `NUD_*` bits).
public struct NeighbourState: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    init(_ constant: some BinaryInteger) { rawValue = UInt16(truncatingIfNeeded: constant) }

    /// `NUD_INCOMPLETE`: being resolved.
    public static let incomplete = Self(NUD_INCOMPLETE)
    /// `NUD_REACHABLE`: confirmed recently.
    public static let reachable = Self(NUD_REACHABLE)
    /// `NUD_STALE`: to be confirmed before the next use.
    public static let stale = Self(NUD_STALE)
    /// `NUD_DELAY`
    public static let delay = Self(NUD_DELAY)
    /// `NUD_PROBE`
    public static let probe = Self(NUD_PROBE)
    /// `NUD_FAILED`: resolution gave up.
    public static let failed = Self(NUD_FAILED)
    /// `NUD_NOARP`: needs no resolution.
    public static let noARP = Self(NUD_NOARP)
    /// `NUD_PERMANENT`: set by hand; it never expires and no garbage collection removes it.
    public static let permanent = Self(NUD_PERMANENT)

    private static let names: [(NeighbourState, String)] = [
        (.incomplete, "incomplete"), (.reachable, "reachable"), (.stale, "stale"), (.delay, "delay"),
        (.probe, "probe"), (.failed, "failed"), (.noARP, "noarp"), (.permanent, "permanent"),
    ]

    public var description: String {
        let named = Self.names.filter { contains($0.0) }.map(\.1)
        return named.isEmpty ? "none" : named.joined(separator: "|")
    }
}

/// A neighbour entry (ARP for IPv4, NDP for IPv6): `address lladdr mac dev device nud state`.
///
/// An overlay sets one permanent entry per remote host on its vxlan device, for the remote
/// subnet's gateway address: nothing behind the tunnel answers ARP, so the kernel must
/// never have to ask.
public struct Neighbour: Sendable, Hashable, CustomStringConvertible {
    /// The link the entry is on; an index in what a dump returns.
    public var device: LinkReference
    public var address: IPAddress
    public var mac: MACAddress
    /// `.permanent` unless set; in a dump, what the kernel holds.
    public var state: NeighbourState

    public init(device: LinkReference, address: IPAddress, mac: MACAddress, state: NeighbourState = .permanent) {
        self.device = device
        self.address = address
        self.mac = mac
        self.state = state
    }

    public var description: String { "\(address) lladdr \(mac) dev \(device) nud \(state)" }
}

/// A forwarding entry of a VXLAN device: frames for `mac` go through the tunnel to the host
/// at `destination` (`bridge fdb replace MAC dev DEVICE dst DESTINATION self permanent`).
///
/// The entry is always in the device's own table (`NTF_SELF`), where a vxlan keeps its
/// remote endpoints; a bridge master's table (`NTF_MASTER`) has no destinations to keep.
public struct FDBEntry: Sendable, Hashable, CustomStringConvertible {
    /// The vxlan link; an index in what a dump returns.
    public var device: LinkReference
    /// The remote VTEP's MAC: the one its neighbour entry names.
    public var mac: MACAddress
    /// The remote tunnel endpoint: the other host's underlay address.
    public var destination: IPAddress

    public init(device: LinkReference, mac: MACAddress, destination: IPAddress) {
        self.device = device
        self.mac = mac
        self.destination = destination
    }

    public var description: String { "\(mac) dev \(device) dst \(destination)" }
}

// MARK: - Neighbours

extension RouteSocket {
    /// Adds `neighbour`, or replaces the entry its device has for its address
    /// (`NLM_F_CREATE | NLM_F_REPLACE`, as `ip neigh replace`): calling it again, with the
    /// same MAC or a new one, leaves one entry.
    ///
    /// - Throws: ``NetworkError`` `.notFound` when the device does not exist.
    public func replaceNeighbour(_ neighbour: Neighbour) throws {
        let index = try index(of: neighbour.device)
        let message = try neighbourMessage(.newNeighbour, [.request, .acknowledge, .create, .replace],
                                           family: Self.addressFamily(neighbour.address.family), index: index, state: neighbour.state)
        try message.put(NeighbourAttribute.destination, address: neighbour.address)
        try message.put(NeighbourAttribute.linkLayerAddress, bytes: neighbour.mac.bytes)
        do {
            _ = try request(message, operation: "RTM_NEWNEIGH \(neighbour)")
        } catch let error as NetlinkError {
            throw neighbourError(error, "cannot set neighbour \(neighbour)", device: neighbour.device)
        }
    }

    /// Deletes the entry `neighbour.device` has for `neighbour.address`, whatever its MAC and
    /// state. An entry or device that is already gone is success.
    public func deleteNeighbour(_ neighbour: Neighbour) throws {
        guard let index = try existingIndex(of: neighbour.device) else { return }
        let message = try neighbourMessage(.deleteNeighbour, [.request, .acknowledge],
                                           family: Self.addressFamily(neighbour.address.family), index: index, state: [])
        try message.put(NeighbourAttribute.destination, address: neighbour.address)
        do {
            _ = try request(message, operation: "RTM_DELNEIGH \(neighbour.address) dev \(neighbour.device)")
        } catch let error as NetlinkError {
            if error.errno == .noSuchFileOrDirectory || error.errno == .noSuchDevice { return }
            throw NetworkError(code: .system, message: "cannot delete neighbour \(neighbour.address) dev \(neighbour.device)", cause: error)
        }
    }

    /// The IPv4 and IPv6 neighbour entries in the socket's namespace, optionally of one link
    /// or one family. Entries without a MAC (still resolving, failed, or on a link without
    /// link-layer addresses) are left out: there is nothing in them to program or compare.
    ///
    /// - Throws: ``NetworkError`` `.notFound` when `link` does not exist.
    public func neighbours(of link: LinkReference? = nil, family: IPAddress.Family? = nil) throws -> [Neighbour] {
        let index = try link.map { try self.index(of: $0) }
        return try dump(operation: "RTM_GETNEIGH dump") {
            let message = MessageBuilder(type: .getNeighbour, flags: [.request, .dump])
            var header = ndmsg()
            header.ndm_family = family.map(Self.addressFamily) ?? UInt8(AF_UNSPEC)
            try message.append(header)
            // A neighbour dump takes its link filter as an attribute (strict checking refuses
            // an index in the header); older kernels ignore it, and the filter below holds.
            if let index { try message.put(NeighbourAttribute.interfaceIndex, UInt32(bitPattern: index)) }
            return message
        }
        .compactMap(Neighbour.init)
        .filter { neighbour in
            (index.map { neighbour.device == .index($0) } ?? true) && (family.map { neighbour.address.family == $0 } ?? true)
        }
    }
}

// MARK: - Forwarding entries

extension RouteSocket {
    /// Points frames for `entry.mac` at the tunnel endpoint `entry.destination`, adding the
    /// entry or replacing the destination the device has for that MAC
    /// (`NLM_F_CREATE | NLM_F_REPLACE`). The request is the one
    /// `bridge fdb replace MAC dev DEVICE dst IP self permanent` sends: `AF_BRIDGE`, `NTF_SELF`,
    /// and `NUD_NOARP | NUD_PERMANENT` (iproute2's base state plus `permanent`), so the kernel
    /// keeps the entry until it is deleted.
    ///
    /// - Throws: ``NetworkError`` `.notFound` when the device does not exist, `.unsupported`
    ///   when it keeps no forwarding table with destinations (not a vxlan).
    public func replaceFDBEntry(_ entry: FDBEntry) throws {
        let message = try fdbMessage(.newNeighbour, [.request, .acknowledge, .create, .replace], entry, index: try index(of: entry.device))
        do {
            _ = try request(message, operation: "RTM_NEWNEIGH AF_BRIDGE \(entry)")
        } catch let error as NetlinkError {
            throw neighbourError(error, "cannot set forwarding entry \(entry)", device: entry.device)
        }
    }

    /// Deletes the entry that sends `entry.mac` to `entry.destination`; one that sends the MAC
    /// elsewhere stays. An entry or device that is already gone is success.
    public func deleteFDBEntry(_ entry: FDBEntry) throws {
        guard let index = try existingIndex(of: entry.device) else { return }
        let message = try fdbMessage(.deleteNeighbour, [.request, .acknowledge], entry, index: index)
        do {
            _ = try request(message, operation: "RTM_DELNEIGH AF_BRIDGE \(entry)")
        } catch let error as NetlinkError {
            if error.errno == .noSuchFileOrDirectory || error.errno == .noSuchDevice { return }
            throw NetworkError(code: .system, message: "cannot delete forwarding entry \(entry)", cause: error)
        }
    }

    /// The forwarding entries of `device` that send a MAC through the tunnel: one per MAC and
    /// destination (a MAC appended to several destinations comes once for each). Entries
    /// without a destination are left out: a bridge's learned ports, or the addresses a
    /// device listens on, are nothing an overlay programs. A destination's own port, VNI or
    /// outgoing link, when the kernel reports one, is not read.
    ///
    /// - Throws: ``NetworkError`` `.notFound` when the device does not exist.
    public func fdbEntries(of device: LinkReference) throws -> [FDBEntry] {
        let index = try index(of: device)
        return try dump(operation: "RTM_GETNEIGH AF_BRIDGE dump") {
            let message = MessageBuilder(type: .getNeighbour, flags: [.request, .dump])
            var header = ndmsg()
            header.ndm_family = UInt8(AF_BRIDGE)
            // Under strict checking the kernel walks this device only; the filter below holds
            // for kernels that ignore it.
            header.ndm_ifindex = index
            try message.append(header)
            return message
        }
        .compactMap(FDBEntry.init)
        .filter { $0.device == .index(index) }
    }

    private func fdbMessage(_ type: MessageType, _ flags: MessageFlags, _ entry: FDBEntry, index: Int32) throws -> MessageBuilder {
        let message = try neighbourMessage(type, flags, family: UInt8(AF_BRIDGE), index: index,
                                           state: [.noARP, .permanent], entryFlags: UInt8(NTF_SELF))
        try message.put(NeighbourAttribute.linkLayerAddress, bytes: entry.mac.bytes)
        try message.put(NeighbourAttribute.destination, address: entry.destination)
        return message
    }
}

// MARK: - Shared

extension RouteSocket {
    /// An `ndmsg` request for link `index`, with the attributes still to come.
    private func neighbourMessage(_ type: MessageType, _ flags: MessageFlags, family: UInt8, index: Int32,
                                  state: NeighbourState, entryFlags: UInt8 = 0) throws -> MessageBuilder {
        let message = MessageBuilder(type: type, flags: flags)
        var header = ndmsg()
        header.ndm_family = family
        header.ndm_ifindex = index
        header.ndm_state = state.rawValue
        header.ndm_flags = entryFlags
        try message.append(header)
        return message
    }

    /// The index of the link, or `nil` when it does not exist: a deletion then has nothing to do.
    private func existingIndex(of reference: LinkReference) throws -> Int32? {
        do {
            return try index(of: reference)
        } catch let error as NetworkError where error.code == .notFound {
            return nil
        }
    }

    private func neighbourError(_ error: NetlinkError, _ message: String, device: LinkReference) -> NetworkError {
        switch error.errno {
        case .noSuchDevice:
            NetworkError(code: .notFound, message: "\(message): interface \"\(device)\" does not exist", cause: error)
        case .notSupported:
            NetworkError(code: .unsupported, message: "\(message): interface \"\(device)\" does not support it", cause: error)
        default:
            NetworkError(code: .system, message: message, cause: error)
        }
    }
}

// MARK: - Parsing

extension Neighbour {
    /// Reads an `RTM_NEWNEIGH` message of an IPv4 or IPv6 entry; `nil` for another family, a
    /// short message, or an entry without a MAC.
    init?(_ message: ReplyMessage) {
        let payload = message.payload
        guard message.type == .newNeighbour, let header = payload.header(as: ndmsg.self) else { return nil }
        let family: IPAddress.Family
        switch Int32(header.ndm_family) {
        case AF_INET: family = .v4
        case AF_INET6: family = .v6
        default: return nil
        }
        let attributes = Attributes(payload[(payload.startIndex + MemoryLayout<ndmsg>.size)...])
        guard let address = attributes.address(NeighbourAttribute.destination), address.family == family,
              let linkLayer = attributes[NeighbourAttribute.linkLayerAddress],
              let mac = try? MACAddress(bytes: Array(linkLayer))
        else { return nil }
        self.init(device: .index(header.ndm_ifindex), address: address, mac: mac, state: NeighbourState(rawValue: header.ndm_state))
    }
}

extension FDBEntry {
    /// Reads an `AF_BRIDGE` `RTM_NEWNEIGH` message; `nil` for anything else, a short message,
    /// or an entry without both a MAC and a destination.
    init?(_ message: ReplyMessage) {
        let payload = message.payload
        guard message.type == .newNeighbour, let header = payload.header(as: ndmsg.self),
              Int32(header.ndm_family) == AF_BRIDGE
        else { return nil }
        let attributes = Attributes(payload[(payload.startIndex + MemoryLayout<ndmsg>.size)...])
        guard let linkLayer = attributes[NeighbourAttribute.linkLayerAddress],
              let mac = try? MACAddress(bytes: Array(linkLayer)),
              let destination = attributes.address(NeighbourAttribute.destination)
        else { return nil }
        self.init(device: .index(header.ndm_ifindex), mac: mac, destination: destination)
    }
}
