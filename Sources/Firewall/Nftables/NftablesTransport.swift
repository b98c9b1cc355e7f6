/// Where nftables batches go: libnftables in production, a recorder in unit tests.
public protocol NftablesTransport {
    /// Runs `commands` (JSON) as one transaction and returns what libnftables printed.
    ///
    /// - Throws: ``NftablesError`` with libnftables' message when it refuses the batch.
    func run(_ commands: String) throws -> String
}

/// libnftables refused a batch; `message` is what it printed on its error stream.
public struct NftablesError: Error, CustomStringConvertible, Sendable {
    public let message: String

    public init(message: String) {
        // libnftables prefixes JSON input errors with a meaningless "internal:0:0-0: ".
        self.message = message
            .split(separator: "\n", omittingEmptySubsequences: true)
            .map { $0.hasPrefix("internal:0:0-0: ") ? $0.dropFirst("internal:0:0-0: ".count) : $0 }
            .joined(separator: "; ")
    }

    public var description: String { message.isEmpty ? "libnftables failed without a message" : message }

    /// The kernel answered `EEXIST`: an element or object of that key is already there.
    public var isAlreadyExists: Bool { message.contains("File exists") }
    /// The kernel answered `ENOENT`: the table, set, chain or element is not there.
    public var isNotFound: Bool { message.contains("No such file or directory") }
}
