import NetCore

/// Who holds a lease: one interface of one container on one network. CNI's DEL and GC name
/// attachments the same way (network name, `CNI_CONTAINERID`, `CNI_IFNAME`).
public struct LeaseKey: Hashable, Sendable, CustomStringConvertible {
    public let network: String
    public let containerID: String
    public let interface: InterfaceName

    /// - Throws: ``NetworkError`` naming `network` or `container ID` when one is empty.
    public init(network: String, containerID: String, interface: InterfaceName) throws {
        guard !network.isEmpty else { throw NetworkError.invalid("network", network, "must not be empty") }
        guard !containerID.isEmpty else {
            throw NetworkError.invalid("container ID", containerID, "must not be empty")
        }
        self.network = network
        self.containerID = containerID
        self.interface = interface
    }

    /// The lease key of an attachment: the same network, container and interface.
    public init(_ attachment: AttachmentID) throws {
        try self.init(network: attachment.network, containerID: attachment.containerID, interface: attachment.interface)
    }

    public var description: String { "\(network)/\(containerID)/\(interface)" }
}
