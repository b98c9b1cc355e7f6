import CNetlink
import NetCore

/// Builds one netlink request in a buffer of its own. libmnl owns the alignment, padding and
/// nest lengths, so an operation reads like the request it sends:
///
///     let message = MessageBuilder(type: .newLink, flags: [.request, .acknowledge, .create])
///     try message.append(ifinfomsg())
///     try message.put(LinkAttribute.name, string: "br0")
///     try message.nest(LinkAttribute.linkInfo) { try message.put(LinkInfoAttribute.kind, string: "bridge") }
final class MessageBuilder {
    /// Large enough for any request this layer makes; requests never approach it.
    static let defaultCapacity = 4096

    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int
    private let header: UnsafeMutablePointer<nlmsghdr>

    init(type: MessageType, flags: MessageFlags, capacity: Int = defaultCapacity) {
        self.capacity = capacity
        buffer = .allocate(byteCount: capacity, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
        // mnl_nlmsg_put_header writes the header at the start of the buffer and returns it.
        mnl_nlmsg_put_header(buffer)
        header = buffer.assumingMemoryBound(to: nlmsghdr.self)
        header.pointee.nlmsg_type = type.rawValue
        header.pointee.nlmsg_flags = flags.rawValue
    }

    deinit { buffer.deallocate() }

    var type: MessageType { MessageType(rawValue: header.pointee.nlmsg_type) }
    var flags: MessageFlags { MessageFlags(rawValue: header.pointee.nlmsg_flags) }

    /// The request as it goes on the wire.
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffer, count: Int(header.pointee.nlmsg_len))
    }

    /// Appends a fixed struct: the family header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`), or the
    /// `ifinfomsg` that opens a veth peer's nest.
    func append<Header>(_ value: Header) throws {
        let size = MemoryLayout<Header>.size
        guard Int(header.pointee.nlmsg_len) + Int(cnetlink_align(UInt32(size))) <= capacity,
              let target = mnl_nlmsg_put_extra_header(header, size)
        else { throw overflow() }
        withUnsafeBytes(of: value) { source in
            target.copyMemory(from: source.baseAddress ?? UnsafeRawPointer(target), byteCount: size)
        }
    }

    func put(_ attribute: some AttributeType, bytes: some Collection<UInt8>) throws {
        let fits = Array(bytes).withUnsafeBytes { raw in
            mnl_attr_put_check(header, capacity, attribute.rawValue, raw.count, raw.baseAddress)
        }
        guard fits else { throw overflow() }
    }

    func put(_ attribute: some AttributeType, _ value: UInt8) throws {
        guard mnl_attr_put_u8_check(header, capacity, attribute.rawValue, value) else { throw overflow() }
    }

    func put(_ attribute: some AttributeType, _ value: UInt16) throws {
        guard mnl_attr_put_u16_check(header, capacity, attribute.rawValue, value) else { throw overflow() }
    }

    func put(_ attribute: some AttributeType, _ value: UInt32) throws {
        guard mnl_attr_put_u32_check(header, capacity, attribute.rawValue, value) else { throw overflow() }
    }

    func put(_ attribute: some AttributeType, _ value: Int32) throws {
        try put(attribute, UInt32(bitPattern: value))
    }

    /// A NUL-terminated string, as the kernel expects for names and kinds.
    func put(_ attribute: some AttributeType, string: String) throws {
        guard mnl_attr_put_strz_check(header, capacity, attribute.rawValue, string) else { throw overflow() }
    }

    /// An address in network byte order: 4 or 16 bytes.
    func put(_ attribute: some AttributeType, address: IPAddress) throws {
        try put(attribute, bytes: address.bytes)
    }

    /// Wraps whatever `body` appends in a nested attribute.
    func nest(_ attribute: some AttributeType, _ body: () throws -> Void) throws {
        guard let start = mnl_attr_nest_start_check(header, capacity, attribute.rawValue) else {
            throw overflow()
        }
        try body()
        mnl_attr_nest_end(header, start)
    }

    private func overflow() -> NetworkError {
        NetworkError(code: .internalError, message: "netlink request does not fit in \(capacity) bytes")
    }
}
