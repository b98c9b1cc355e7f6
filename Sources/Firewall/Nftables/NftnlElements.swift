#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import CNftables
import Namespaces
import NetCore

/// Writes a batch of set and map elements as one nftables transaction: the netlink messages
/// libnftables sends (through libnftnl) for the same `create`, `add` and `delete element`
/// commands, laid out byte for byte as libnftnl lays them out (the tests compare the two),
/// built here with libmnl, which every binary here links already: no library to load, no JSON
/// to parse, and no cache of the table to fetch first (libnftables dumps the table's chains,
/// sets and the elements of its interval sets before every batch).
///
/// Only for batches whose every command but the declarations of the table and its sets is an
/// element command on a set this project declares (``Ruleset/sets``) with keys and values of
/// the types it knows: published ports. ``apply(_:)`` says when a batch is not one. The
/// declarations are left out: when the table or a map is missing the kernel refuses the batch
/// (`ENOENT`) and nothing of it happened, and the caller runs the whole batch, declarations
/// included, through libnftables.
///
/// Not `Sendable`: one socket, used by one thread at a time.
public final class NftnlElements {
    private let socket: OpaquePointer
    private let sets: [String: Nftables.NamedSet]

    /// Opens a netfilter socket in `namespace` (the calling thread's when `nil`), for the sets
    /// of ``Ruleset``.
    ///
    /// - Throws: ``NetworkError`` when the socket cannot be had.
    public convenience init(namespace: NetNamespace? = nil) throws {
        try self.init(namespace: namespace, sets: Ruleset.sets)
    }

    init(namespace: NetNamespace?, sets: [Nftables.NamedSet]) throws {
        // Releasing it after a commit waits for the kernel's reclaim (see `NetfilterSocketRelease`).
        BackgroundRelease.noteNetfilterSocket()
        let open = { () throws -> OpaquePointer in
            guard let socket = mnl_socket_open2(NETLINK_NETFILTER, Int32(SOCK_CLOEXEC.rawValue)) else {
                throw NetworkError(code: .system, message: "cannot open a netfilter netlink socket", cause: Errno.current)
            }
            guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
                let error = Errno.current
                mnl_socket_close(socket)
                throw NetworkError(code: .system, message: "cannot bind a netfilter netlink socket", cause: error)
            }
            return socket
        }
        socket = try namespace?.run(open) ?? open()
        PhaseTrace.mark("netfilter socket opened")
        self.sets = Dictionary(sets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    deinit { mnl_socket_close(socket) }

    /// Applies `batch` as one transaction when this writer can express it (see the type's
    /// documentation).
    ///
    /// - Returns: `false` when it cannot (the batch has other commands, or elements it cannot
    ///   encode); nothing was sent then.
    /// - Throws: ``NftablesError`` with the kernel's error (`File exists`, `No such file or
    ///   directory`...) when it refused the batch: none of it took effect.
    public func apply(_ batch: Nftables.Batch) throws -> Bool {
        guard let messages = Self.messages(batch, sets: sets) else { return false }
        try FaultInjection.check(.nftables)
        guard !messages.isEmpty else { return true }
        try send(messages, family: batch.table.family, table: batch.table.name)
        return true
    }

    // MARK: Encoding

    /// One `NEWSETELEM` or `DELSETELEM` message's worth.
    struct Message {
        var type: UInt16
        var flags: UInt16
        var set: String
        var elements: [(key: [UInt8], data: [UInt8]?, comment: String?)]
    }

    /// The batch's element commands as messages, or `nil` when it holds anything else.
    static func messages(_ batch: Nftables.Batch, sets: [String: Nftables.NamedSet]) -> [Message]? {
        var messages: [Message] = []
        for command in batch.commands {
            guard let (type, flags, object) = elementMessage(command) else { return nil }
            switch object {
            case .table, .set:
                // A declaration: `add` only, which the kernel's refusal stands in for.
                guard case .add = command else { return nil }
            case .elements(let name, let elements):
                guard let set = sets[name], !set.isInterval else { return nil }
                var encoded: [(key: [UInt8], data: [UInt8]?, comment: String?)] = []
                for element in elements {
                    guard let key = encode(element.key, as: set.keyType) else { return nil }
                    var data: [UInt8]?
                    if let value = element.data {
                        guard let type = set.dataType, let bytes = encode(value, as: [type]) else { return nil }
                        data = bytes
                    }
                    encoded.append((key, data, element.comment))
                }
                messages.append(Message(type: type, flags: UInt16(flags), set: name, elements: encoded))
            case .chain, .rule:
                return nil
            }
        }
        return messages
    }

    /// The message type and flags of an element `command`, with what it acts on.
    private static func elementMessage(_ command: Nftables.Command) -> (UInt16, Int32, Nftables.Command.Object)? {
        switch command {
        case .add(let object): (UInt16(NFT_MSG_NEWSETELEM.rawValue), NLM_F_CREATE, object)
        case .create(let object): (UInt16(NFT_MSG_NEWSETELEM.rawValue), NLM_F_CREATE | NLM_F_EXCL, object)
        case .delete(let object): (UInt16(NFT_MSG_DELSETELEM.rawValue), 0, object)
        case .flush: nil
        }
    }

    /// The bytes of `value` as the kernel holds a key or value of `types`: each part of a
    /// concatenation in network order and padded to 4 bytes (a register's width), a single
    /// value as long as its type. `nil` for what it cannot encode.
    static func encode(_ value: Nftables.Expression, as types: [Nftables.DataType]) -> [UInt8]? {
        let parts: [Nftables.Expression]
        if case .concatenation(let members) = value { parts = members } else { parts = [value] }
        guard parts.count == types.count else { return nil }
        var bytes: [UInt8] = []
        for (part, type) in zip(parts, types) {
            guard var field = encodeField(part, as: type) else { return nil }
            if types.count > 1 { while field.count % 4 != 0 { field.append(0) } }
            bytes += field
        }
        return bytes
    }

    private static func encodeField(_ value: Nftables.Expression, as type: Nftables.DataType) -> [UInt8]? {
        switch (type, value) {
        case (.ipv4Address, .address(let address)) where address.family == .v4: address.bytes
        case (.ipv6Address, .address(let address)) where address.family == .v6: address.bytes
        case (.inetProtocol, .symbol(let name)):
            TransportProtocol(rawValue: name).map { [protocolNumber($0)] }
        case (.inetProtocol, .number(let number)): UInt8(exactly: number).map { [$0] }
        case (.inetService, .number(let number)): UInt16(exactly: number).map { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
        default: nil
        }
    }

    private static func protocolNumber(_ transport: TransportProtocol) -> UInt8 {
        switch transport {
        case .tcp: UInt8(IPPROTO_TCP)
        case .udp: UInt8(IPPROTO_UDP)
        case .sctp: UInt8(IPPROTO_SCTP)
        }
    }

    // MARK: Sending

    /// Sends the batch of `messages` and reads what the kernel answered: nothing when it
    /// committed (no message asks for an acknowledgement, as libnftables sends them), an error
    /// for each message it refused.
    private func send(_ messages: [Message], family: Nftables.Family, table: String) throws {
        let batch = try Self.batch(messages, family: family, table: table)
        let sent = batch.withUnsafeBytes { mnl_socket_sendto(socket, $0.baseAddress, $0.count) }
        guard sent == batch.count else {
            throw NftablesError(message: "cannot send the batch: \(Errno.current)")
        }
        try readErrors()
    }

    // The netfilter constants of <linux/netfilter/nfnetlink.h> and <linux/netfilter.h>,
    // whose includes clash with glibc's in a module.
    private static let batchBegin: UInt16 = 0x10 // NFNL_MSG_BATCH_BEGIN (NLMSG_MIN_TYPE)
    private static let batchEnd: UInt16 = 0x11 // NFNL_MSG_BATCH_END
    private static let nftablesSubsystem: UInt16 = 10 // NFNL_SUBSYS_NFTABLES

    /// The bytes of the batch: begin, one message per entry of `messages`, end, with sequence
    /// numbers from 1, as libnftnl's `nftnl_batch_begin`, `nftnl_nlmsg_build_hdr`,
    /// `nftnl_set_elems_nlmsg_build_payload` and `nftnl_batch_end` write them.
    ///
    /// - Throws: ``NftablesError`` when an element's comment does not fit its user data.
    static func batch(_ messages: [Message], family: Nftables.Family, table: String) throws -> [UInt8] {
        // NFPROTO_* of <linux/netfilter.h>.
        let familyNumber: UInt8 = switch family {
        case .inet: 1
        case .ip: 2
        case .ip6: 10
        case .bridge: 7
        }
        // Room for every message: a header, the names, and per element its attributes.
        let capacity = 256 + messages.reduce(0) { total, message in
            total + 128 + message.set.utf8.count + table.utf8.count
                + message.elements.reduce(0) { $0 + 64 + $1.key.count + ($1.data?.count ?? 0) + ($1.comment?.utf8.count ?? 0) }
        }
        var buffer = [UInt8](repeating: 0, count: capacity)
        let length = try buffer.withUnsafeMutableBytes { bytes -> Int in
            guard let start = bytes.baseAddress else { return 0 }
            var writer = MessageWriter(start: start, capacity: bytes.count)
            var sequence: UInt32 = 1
            // The batch's own messages carry the subsystem in `res_id`, in network order.
            try writer.header(type: batchBegin, flags: 0, sequence: sequence, family: 0, resourceID: nftablesSubsystem.bigEndian)
            writer.endMessage()
            for message in messages {
                sequence += 1
                try writer.header(type: nftablesSubsystem << 8 | message.type, flags: message.flags, sequence: sequence,
                                  family: familyNumber, resourceID: 0)
                try writer.string(UInt16(NFTA_SET_ELEM_LIST_SET.rawValue), message.set)
                try writer.string(UInt16(NFTA_SET_ELEM_LIST_TABLE.rawValue), table)
                try writer.nest(UInt16(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue)) { writer in
                    for (index, element) in message.elements.enumerated() {
                        // libnftnl numbers the list's entries from 1; the kernel reads them in order.
                        try writer.nest(UInt16(index + 1)) { writer in
                            try writer.nest(UInt16(NFTA_SET_ELEM_KEY.rawValue)) { try $0.bytes(UInt16(NFTA_DATA_VALUE.rawValue), element.key) }
                            if let data = element.data {
                                try writer.nest(UInt16(NFTA_SET_ELEM_DATA.rawValue)) { try $0.bytes(UInt16(NFTA_DATA_VALUE.rawValue), data) }
                            }
                            if let comment = element.comment {
                                try writer.bytes(UInt16(NFTA_SET_ELEM_USERDATA.rawValue), try userData(comment: comment))
                            }
                        }
                    }
                }
                writer.endMessage()
            }
            sequence += 1
            try writer.header(type: batchEnd, flags: 0, sequence: sequence, family: 0, resourceID: nftablesSubsystem.bigEndian)
            writer.endMessage()
            return writer.length
        }
        return Array(buffer[0..<length])
    }

    /// What libnftables stores as an element's comment: the text with its NUL in libnftnl's
    /// user data TLV (`NFTNL_UDATA_SET_ELEM_COMMENT`, a length byte, the bytes).
    static func userData(comment: String) throws -> [UInt8] {
        let value = Array(comment.utf8) + [0]
        guard value.count <= Nftables.Element.maximumCommentLength + 1 else {
            throw NftablesError(message: "element comment \"\(comment)\" is too long")
        }
        return [0, UInt8(value.count)] + value // NFTNL_UDATA_SET_ELEM_COMMENT is 0
    }

    /// The kernel processes a batch inside `sendto`: by the time it returns, an error for each
    /// refused message (and, when the commit itself failed, one for the batch) is queued.
    private func readErrors() throws {
        let descriptor = mnl_socket_get_fd(socket)
        var buffer = [UInt8](repeating: 0, count: 8192)
        var first: Int32 = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                throw NftablesError(message: "cannot read the kernel's answer: \(Errno.current)")
            }
            guard count > 0 else { break }
            buffer.withUnsafeBytes { bytes in
                var offset = 0
                while offset + MemoryLayout<nlmsghdr>.size <= count, let base = bytes.baseAddress {
                    let header = base.advanced(by: offset).loadUnaligned(as: nlmsghdr.self)
                    let length = Int(header.nlmsg_len)
                    guard length >= MemoryLayout<nlmsghdr>.size, offset + length <= count else { break }
                    if header.nlmsg_type == UInt16(NLMSG_ERROR), length >= MemoryLayout<nlmsghdr>.size + 4 {
                        let error = base.advanced(by: offset + MemoryLayout<nlmsghdr>.size).loadUnaligned(as: Int32.self)
                        if error != 0, first == 0 { first = -error }
                    }
                    offset += Int(cnetlink_align(UInt32(length)))
                }
            }
        }
        guard first == 0 else {
            // The text libnftables would print for it ("File exists", "No such file or
            // directory"), which ``NftablesError`` is read by.
            throw NftablesError(message: "Could not process rule: \(String(cString: strerror(first)))")
        }
    }
}

/// Netlink messages written one after the other into a buffer with libmnl, every write checked
/// against the buffer's end.
private struct MessageWriter {
    let start: UnsafeMutableRawPointer
    let capacity: Int
    /// The bytes of the messages ended so far.
    private(set) var length = 0
    private var current: UnsafeMutablePointer<nlmsghdr>?

    init(start: UnsafeMutableRawPointer, capacity: Int) {
        self.start = start
        self.capacity = capacity
    }

    /// Starts a message: the netlink header (`NLM_F_REQUEST` with `flags`) and the nfnetlink one.
    mutating func header(type: UInt16, flags: UInt16, sequence: UInt32, family: UInt8, resourceID: UInt16) throws {
        let headerSize = Int(cnetlink_align(UInt32(MemoryLayout<nlmsghdr>.size))) + 4
        guard length + headerSize <= capacity, let header = mnl_nlmsg_put_header(start + length) else { throw Self.overflow() }
        header.pointee.nlmsg_type = type
        header.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST) | flags
        header.pointee.nlmsg_seq = sequence
        // struct nfgenmsg: family, version (NFNETLINK_V0), res_id.
        guard let extra = mnl_nlmsg_put_extra_header(header, 4) else { throw Self.overflow() }
        extra.storeBytes(of: family, as: UInt8.self)
        extra.storeBytes(of: 0, toByteOffset: 1, as: UInt8.self)
        extra.storeBytes(of: resourceID, toByteOffset: 2, as: UInt16.self)
        current = header
    }

    /// Ends the current message: the next one starts after it.
    mutating func endMessage() {
        guard let current else { return }
        length += Int(cnetlink_align(current.pointee.nlmsg_len))
        self.current = nil
    }

    func string(_ type: UInt16, _ value: String) throws {
        guard let current, mnl_attr_put_strz_check(current, room, type, value) else { throw Self.overflow() }
    }

    func bytes(_ type: UInt16, _ value: [UInt8]) throws {
        guard let current else { throw Self.overflow() }
        let fits = value.withUnsafeBytes { mnl_attr_put_check(current, room, type, $0.count, $0.baseAddress) }
        guard fits else { throw Self.overflow() }
    }

    /// A nested attribute of type `type` holding what `body` writes.
    func nest(_ type: UInt16, _ body: (MessageWriter) throws -> Void) throws {
        guard let current, let nest = mnl_attr_nest_start_check(current, room, type) else { throw Self.overflow() }
        try body(self)
        mnl_attr_nest_end(current, nest)
    }

    /// What is left for the current message, counted from its start as libmnl's checks want.
    private var room: Int { capacity - length }

    private static func overflow() -> NftablesError { NftablesError(message: "the batch does not fit its buffer") }
}
