/// A user-facing error: a category, a message that names the bad field and value, and the
/// underlying cause. The CNI layer maps ``Code`` to spec codes and the CLI to exit codes.
public struct NetworkError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable, CaseIterable {
        /// Bad input from the caller: a field or value that cannot be used.
        case invalidArgument
        /// The named object does not exist.
        case notFound
        /// The named object exists already.
        case alreadyExists
        /// A pool or table has no room left.
        case exhausted
        /// The object is in use and cannot be changed or removed now.
        case busy
        /// The system refused the operation (permissions, missing kernel feature).
        case permissionDenied
        /// The kernel or a library failed.
        case system
        /// The operation is not supported here.
        case unsupported
        /// Stored state is inconsistent.
        case internalError
    }

    public let code: Code
    public let message: String
    public let cause: (any Error & Sendable)?

    public init(code: Code, message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        guard let cause else { return message }
        return "\(message): \(cause)"
    }

    /// `field` has an unusable `value`; `reason` says why.
    public static func invalid(_ field: String, _ value: String, _ reason: String) -> NetworkError {
        NetworkError(code: .invalidArgument, message: "invalid \(field) \"\(value)\": \(reason)")
    }
}

extension NetworkError: ErrnoCarrying {
    /// The errno of the cause, or `0` when the cause carries none.
    public var errno: Errno {
        if let errno = cause as? Errno { return errno }
        if let carrier = cause as? any ErrnoCarrying { return carrier.errno }
        return Errno(rawValue: 0)
    }
}
