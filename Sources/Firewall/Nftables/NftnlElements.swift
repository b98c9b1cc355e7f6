#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import CNftables
import Namespaces
import NetCore

/// Writes a batch of set and map elements through libnftnl, the library libnftables builds
/// its netlink messages with, as one nftables transaction: the messages libnftables would
/// send for the same `create`, `add` and `delete element` commands, without loading
/// libnftables, parsing JSON, or fetching a cache of the table first (libnftables dumps the
/// table's chains, sets and the elements of its interval sets before every batch).
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
    private let library: NftnlLibrary
    private let socket: OpaquePointer
    private let sets: [String: Nftables.NamedSet]

    /// Loads libnftnl and opens a netfilter socket in `namespace` (the calling thread's when
    /// `nil`), for the sets of ``Ruleset``.
    ///
    /// - Throws: ``NetworkError`` when the library or the socket cannot be had.
    public convenience init(namespace: NetNamespace? = nil) throws {
        try self.init(namespace: namespace, sets: Ruleset.sets)
    }

    init(namespace: NetNamespace?, sets: [Nftables.NamedSet]) throws {
        library = try NftnlLibrary.shared.get()
        PhaseTrace.mark("libnftnl loaded")
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

    /// Builds the batch (begin, the messages, end) with libnftnl, sends it, and reads what
    /// the kernel answered: nothing when it committed (no message asks for an
    /// acknowledgement, as libnftables sends them), an error for each message it refused.
    private func send(_ messages: [Message], family: Nftables.Family, table: String) throws {
        // NFPROTO_* of <linux/netfilter.h>, whose includes clash with glibc's in a module.
        let familyNumber: UInt16 = switch family {
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
        var buffer = [CChar](repeating: 0, count: capacity)
        let length = try buffer.withUnsafeMutableBufferPointer { base -> Int in
            guard let start = base.baseAddress else { return 0 }
            var offset = 0
            var sequence: UInt32 = 1
            func advance(_ header: UnsafeMutablePointer<nlmsghdr>?) {
                offset += Int(cnetlink_align(header?.pointee.nlmsg_len ?? 0))
                sequence += 1
            }
            advance(library.batchBegin(start + offset, sequence))
            for message in messages {
                let header = library.buildHeader(start + offset, message.type, familyNumber, message.flags, sequence)
                try withSet(table: table, name: message.set, elements: message.elements) { set in
                    library.buildElements(header, set)
                }
                advance(header)
            }
            advance(library.batchEnd(start + offset, sequence))
            return offset
        }
        let sent = buffer.withUnsafeBytes { mnl_socket_sendto(socket, $0.baseAddress, length) }
        guard sent == length else {
            throw NftablesError(message: "cannot send the batch: \(Errno.current)")
        }
        try readErrors()
    }

    /// A libnftnl set of `table` named `name` holding `elements`, for `body`.
    private func withSet(table: String, name: String, elements: [(key: [UInt8], data: [UInt8]?, comment: String?)],
                         _ body: (OpaquePointer) throws -> Void) throws {
        guard let set = library.setAlloc() else { throw NftablesError(message: "libnftnl: out of memory") }
        defer { library.setFree(set) }
        _ = library.setString(set, UInt16(NFTNL_SET_TABLE.rawValue), table)
        _ = library.setString(set, UInt16(NFTNL_SET_NAME.rawValue), name)
        for (key, data, comment) in elements {
            guard let element = library.elementAlloc() else { throw NftablesError(message: "libnftnl: out of memory") }
            // The set owns it from here (freed with it).
            library.elementAdd(set, element)
            _ = key.withUnsafeBytes { library.elementSet(element, UInt16(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
            if let data {
                _ = data.withUnsafeBytes { library.elementSet(element, UInt16(NFTNL_SET_ELEM_DATA), $0.baseAddress, UInt32($0.count)) }
            }
            if let comment {
                // What libnftables stores: the comment as a NUL-terminated string in the
                // element's user data, in libnftnl's TLV format.
                guard let userData = library.userDataAlloc(UInt32(Nftables.Element.maximumCommentLength + 8)) else {
                    throw NftablesError(message: "libnftnl: out of memory")
                }
                defer { library.userDataFree(userData) }
                guard library.userDataPutString(userData, UInt8(NFTNL_UDATA_SET_ELEM_COMMENT.rawValue), comment) else {
                    throw NftablesError(message: "element comment \"\(comment)\" is too long")
                }
                _ = library.elementSet(element, UInt16(NFTNL_SET_ELEM_USERDATA), library.userDataBytes(userData),
                                       library.userDataLength(userData))
            }
        }
        try body(set)
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

/// libnftnl's entry points, opened with `dlopen` the first time a writer is made (as
/// ``NftablesLibrary``; libnftnl needs only libmnl, which every binary here already has).
struct NftnlLibrary: Sendable {
    let setAlloc: @Sendable @convention(c) () -> OpaquePointer?
    let setFree: @Sendable @convention(c) (OpaquePointer?) -> Void
    let setString: @Sendable @convention(c) (OpaquePointer?, UInt16, UnsafePointer<CChar>?) -> Int32
    let elementAlloc: @Sendable @convention(c) () -> OpaquePointer?
    let elementSet: @Sendable @convention(c) (OpaquePointer?, UInt16, UnsafeRawPointer?, UInt32) -> Int32
    let elementAdd: @Sendable @convention(c) (OpaquePointer?, OpaquePointer?) -> Void
    let buildHeader: @Sendable @convention(c) (UnsafeMutablePointer<CChar>?, UInt16, UInt16, UInt16, UInt32) -> UnsafeMutablePointer<nlmsghdr>?
    let buildElements: @Sendable @convention(c) (UnsafeMutablePointer<nlmsghdr>?, OpaquePointer?) -> Void
    let batchBegin: @Sendable @convention(c) (UnsafeMutablePointer<CChar>?, UInt32) -> UnsafeMutablePointer<nlmsghdr>?
    let batchEnd: @Sendable @convention(c) (UnsafeMutablePointer<CChar>?, UInt32) -> UnsafeMutablePointer<nlmsghdr>?
    let userDataAlloc: @Sendable @convention(c) (UInt32) -> OpaquePointer?
    let userDataFree: @Sendable @convention(c) (OpaquePointer?) -> Void
    let userDataPutString: @Sendable @convention(c) (OpaquePointer?, UInt8, UnsafePointer<CChar>?) -> Bool
    let userDataBytes: @Sendable @convention(c) (OpaquePointer?) -> UnsafeMutableRawPointer?
    let userDataLength: @Sendable @convention(c) (OpaquePointer?) -> UInt32

    /// The soname Debian's and Fedora's libnftnl11 install.
    static let soname = "libnftnl.so.11"

    /// Loaded once per process; the handle is never closed.
    static let shared = Result { try NftnlLibrary(soname) }

    private init(_ soname: String) throws {
        guard let handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL) else {
            throw NetworkError(code: .system, message: "cannot load \(soname): \(Self.lastError())")
        }
        func symbol<T>(_ name: String) throws -> T {
            guard let address = dlsym(handle, name) else {
                throw NetworkError(code: .system, message: "\(soname) has no \(name): \(Self.lastError())")
            }
            return unsafeBitCast(address, to: T.self)
        }
        setAlloc = try symbol("nftnl_set_alloc")
        setFree = try symbol("nftnl_set_free")
        setString = try symbol("nftnl_set_set_str")
        elementAlloc = try symbol("nftnl_set_elem_alloc")
        elementSet = try symbol("nftnl_set_elem_set")
        elementAdd = try symbol("nftnl_set_elem_add")
        buildHeader = try symbol("nftnl_nlmsg_build_hdr")
        buildElements = try symbol("nftnl_set_elems_nlmsg_build_payload")
        batchBegin = try symbol("nftnl_batch_begin")
        batchEnd = try symbol("nftnl_batch_end")
        userDataAlloc = try symbol("nftnl_udata_buf_alloc")
        userDataFree = try symbol("nftnl_udata_buf_free")
        userDataPutString = try symbol("nftnl_udata_put_strz")
        userDataBytes = try symbol("nftnl_udata_buf_data")
        userDataLength = try symbol("nftnl_udata_buf_len")
    }

    private static func lastError() -> String {
        dlerror().map { String(cString: $0) } ?? "unknown error"
    }
}
