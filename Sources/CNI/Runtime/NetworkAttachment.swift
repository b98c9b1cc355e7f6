import NetCore

/// One container interface on one network: libcni's `RuntimeConf`.
public struct NetworkAttachment: Sendable {
    public var containerID: String
    /// The netns path; may be empty for DEL when the namespace is gone.
    public var netns: String
    public var ifName: String
    /// `CNI_ARGS` pairs, in order.
    public var args: [(key: String, value: String)]
    /// Values for capabilities (`portMappings`, `ipRanges`, …); each plugin gets only the ones
    /// it declares in `capabilities`.
    public var capabilityArgs: JSONObject

    public init(containerID: String, netns: String, ifName: String = "eth0",
                args: [(key: String, value: String)] = [], capabilityArgs: JSONObject = [:]) {
        self.containerID = containerID
        self.netns = netns
        self.ifName = ifName
        self.args = args
        self.capabilityArgs = capabilityArgs
    }

    /// `CNI_ARGS` text: `K=V;K2=V2`.
    var argsText: String { args.map { "\($0.key)=\($0.value)" }.joined(separator: ";") }

    /// The container ID and interface name as the spec allows them.
    ///
    /// - Throws: ``CNIError`` code 4 naming the variable and the value.
    func validate() throws {
        guard RuntimeNames.isValidName(containerID) else {
            throw CNIError(.invalidEnvironment, "invalid CNI_CONTAINERID \"\(containerID)\"",
                           details: "expected [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        }
        guard RuntimeNames.isValidInterfaceName(ifName) else {
            throw CNIError(.invalidEnvironment, "invalid CNI_IFNAME \"\(ifName)\"",
                           details: "expected 1-15 characters, not . or .., without /, : or whitespace")
        }
    }
}

/// A container interface GC must keep: `{containerID, ifname}` in `cni.dev/valid-attachments`.
/// (``GCAttachment`` is the same pair as a plugin reads it.)
extension GCAttachment {
    var json: JSON { ["containerID": .string(containerID), "ifname": .string(interface)] }
}
