import NetCore

/// A netlink request the kernel refused: the errno it returned and, when the kernel gave one,
/// its extended-ACK message (for example "Unknown device type").
public struct NetlinkError: ErrnoCarrying, CustomStringConvertible, Sendable {
    public let errno: Errno
    /// `NLMSGERR_ATTR_MSG`, if the kernel attached one.
    public let kernelMessage: String?
    /// The request that failed, e.g. `RTM_NEWLINK`.
    public let operation: String

    public init(errno: Errno, kernelMessage: String?, operation: String) {
        self.errno = errno
        self.kernelMessage = kernelMessage
        self.operation = operation
    }

    public var description: String {
        var text = "\(operation): \(errno)"
        if let kernelMessage, !kernelMessage.isEmpty { text += " (\(kernelMessage))" }
        return text
    }
}
