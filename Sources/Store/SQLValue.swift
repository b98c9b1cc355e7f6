/// A value bound to a statement parameter.
public enum SQLValue: Hashable, Sendable {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

extension SQLValue {
    /// `.integer` from any integer that fits in 64 bits, so call sites need no casts.
    public static func int(_ value: some BinaryInteger) -> SQLValue { .integer(Int64(value)) }

    /// `.null` for `nil`, else the blob.
    public static func optionalBlob(_ value: [UInt8]?) -> SQLValue { value.map { .blob($0) } ?? .null }
}
