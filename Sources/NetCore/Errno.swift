#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A POSIX error number, kept intact from the syscall or netlink reply that produced it.
///
/// `catch Errno.fileExists` matches a bare `Errno` and any error that carries one
/// (``ErrnoCarrying``), such as a netlink error with the kernel's extended-ACK message.
public struct Errno: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's `errno`.
    public static var current: Errno { Errno(rawValue: errno) }

    public var description: String {
        guard let text = strerror(rawValue) else { return "errno \(rawValue)" }
        return String(cString: text)
    }

    /// `EPERM`
    public static let notPermitted = Errno(rawValue: EPERM)
    /// `ENOENT`
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    /// `ESRCH`
    public static let noSuchProcess = Errno(rawValue: ESRCH)
    /// `EINTR`
    public static let interrupted = Errno(rawValue: EINTR)
    /// `EAGAIN`
    public static let resourceTemporarilyUnavailable = Errno(rawValue: EAGAIN)
    /// `EACCES`
    public static let permissionDenied = Errno(rawValue: EACCES)
    /// `EBUSY`
    public static let resourceBusy = Errno(rawValue: EBUSY)
    /// `EEXIST`
    public static let fileExists = Errno(rawValue: EEXIST)
    /// `ENODEV`
    public static let noSuchDevice = Errno(rawValue: ENODEV)
    /// `EINVAL`
    public static let invalidArgument = Errno(rawValue: EINVAL)
    /// `ENOSPC`
    public static let noSpace = Errno(rawValue: ENOSPC)
    /// `ERANGE`
    public static let outOfRange = Errno(rawValue: ERANGE)
    /// `EOPNOTSUPP`
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)
    /// `EADDRINUSE`
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    /// `EADDRNOTAVAIL`
    public static let addressNotAvailable = Errno(rawValue: EADDRNOTAVAIL)
    /// `ENETUNREACH`
    public static let networkUnreachable = Errno(rawValue: ENETUNREACH)
    /// `ENOBUFS`
    public static let noBufferSpace = Errno(rawValue: ENOBUFS)
    /// `EPROTO`
    public static let protocolError = Errno(rawValue: EPROTO)
    /// `EMSGSIZE`
    public static let messageTooLong = Errno(rawValue: EMSGSIZE)

    /// Matches `error` when it is this errno or carries it.
    public static func ~= (pattern: Errno, error: any Error) -> Bool {
        if let errno = error as? Errno { return errno == pattern }
        if let carrier = error as? any ErrnoCarrying { return carrier.errno == pattern }
        return false
    }
}

/// An error that wraps an ``Errno`` with more context (an operation, a kernel message).
public protocol ErrnoCarrying: Error {
    var errno: Errno { get }
}

/// An ``Errno`` with the call and the value it was about, so a message names both.
public struct SystemCallError: ErrnoCarrying, CustomStringConvertible, Sendable {
    public let errno: Errno
    public let call: String
    public let subject: String

    public init(_ errno: Errno, call: String, subject: String) {
        self.errno = errno
        self.call = call
        self.subject = subject
    }

    public var description: String { "\(call) \(subject): \(errno)" }
}

/// Runs a raw syscall wrapper, retrying on `EINTR`, and throws the errno on `-1`.
///
/// - Throws: ``SystemCallError`` naming `call` and `subject`.
@discardableResult
public func systemCall<T: FixedWidthInteger>(
    _ call: String, _ subject: String = "", _ body: () -> T
) throws -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Errno.current
        if error == .interrupted { continue }
        throw SystemCallError(error, call: call, subject: subject)
    }
}
