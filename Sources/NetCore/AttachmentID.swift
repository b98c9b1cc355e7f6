/// One container's attachment to one network through one interface: the key of everything
/// a driver makes for it.
public struct AttachmentID: Hashable, Sendable, CustomStringConvertible {
    public let network: String
    public let containerID: String
    public let interface: InterfaceName

    public init(network: String, containerID: String, interface: InterfaceName) {
        self.network = network
        self.containerID = containerID
        self.interface = interface
    }

    public var description: String { "\(network)/\(containerID)/\(interface)" }

    /// The host end's name: `veth` and 11 hex digits of a hash of the attachment, so teardown
    /// finds it without the container's namespace and two attachments never collide in practice.
    public var hostInterfaceName: InterfaceName {
        let digits = String(FNV1a.hash(description.utf8) & 0xFFF_FFFF_FFFF, radix: 16)
        let padded = String(repeating: "0", count: 11 - digits.count) + digits
        // "veth" plus 11 hex digits is 15 bytes of [a-z0-9]: always a valid name.
        return (try? InterfaceName("veth" + padded)) ?? interface
    }

    /// The alias set on host-side links, so GC can tell which attachment a link belongs to.
    public var alias: String { Self.aliasPrefix + description }

    static let aliasPrefix = "netctl:"

    /// Reads an alias written by ``alias``; `nil` for links someone else owns.
    public init?(alias: String) {
        guard alias.hasPrefix(Self.aliasPrefix) else { return nil }
        let parts = alias.dropFirst(Self.aliasPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, let interface = try? InterfaceName(String(parts[2])) else { return nil }
        self.init(network: String(parts[0]), containerID: String(parts[1]), interface: interface)
    }
}
