import NetCore

/// The attributes of one message or nest, read from its bytes with every length checked:
/// a malformed reply yields fewer attributes, never an out-of-bounds read.
struct Attributes {
    private var values: [UInt16: ArraySlice<UInt8>] = [:]

    /// `NLA_TYPE_MASK`: the type bits, without the nested and byte-order flags.
    private static let typeMask: UInt16 = 0x3FFF

    init(_ bytes: ArraySlice<UInt8>) {
        var offset = bytes.startIndex
        while offset + 4 <= bytes.endIndex {
            let length = Int(bytes.readUInt16(at: offset))
            guard length >= 4, offset + length <= bytes.endIndex else { break }
            let type = bytes.readUInt16(at: offset + 2) & Self.typeMask
            values[type] = bytes[(offset + 4)..<(offset + length)]
            offset += (length + 3) & ~3
        }
    }

    subscript(_ attribute: some AttributeType) -> ArraySlice<UInt8>? { values[attribute.rawValue] }

    func uint8(_ attribute: some AttributeType) -> UInt8? {
        guard let value = self[attribute], value.count >= 1 else { return nil }
        return value[value.startIndex]
    }

    func uint16(_ attribute: some AttributeType) -> UInt16? {
        guard let value = self[attribute], value.count >= 2 else { return nil }
        return value.readUInt16(at: value.startIndex)
    }

    func uint32(_ attribute: some AttributeType) -> UInt32? {
        guard let value = self[attribute], value.count >= 4 else { return nil }
        return value.readUInt32(at: value.startIndex)
    }

    func int32(_ attribute: some AttributeType) -> Int32? {
        uint32(attribute).map { Int32(bitPattern: $0) }
    }

    /// A string up to its NUL terminator.
    func string(_ attribute: some AttributeType) -> String? {
        guard let value = self[attribute] else { return nil }
        return String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
    }

    func address(_ attribute: some AttributeType) -> IPAddress? {
        self[attribute].flatMap { IPAddress(bytes: $0) }
    }

    func nested(_ attribute: some AttributeType) -> Attributes? {
        self[attribute].map(Attributes.init)
    }
}

extension ArraySlice<UInt8> {
    /// Reads a host-order integer at an absolute index; the caller has checked the bounds.
    func readInteger<T: FixedWidthInteger>(at index: Int, as: T.Type) -> T {
        withUnsafeBytes { raw in
            raw.loadUnaligned(fromByteOffset: index - startIndex, as: T.self)
        }
    }

    func readUInt16(at index: Int) -> UInt16 { readInteger(at: index, as: UInt16.self) }

    /// The C header `T` (`ifinfomsg`, `rtmsg`…) at the start, read by its fields; `nil` when
    /// the slice is shorter than the header.
    func header<T>(as: T.Type) -> T? {
        guard count >= MemoryLayout<T>.size else { return nil }
        return withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }
    func readUInt32(at index: Int) -> UInt32 { readInteger(at: index, as: UInt32.self) }
}
