/// `CNI_COMMAND`.
public enum CNICommand: String, Sendable, CaseIterable {
    case add = "ADD"
    case delete = "DEL"
    case check = "CHECK"
    case gc = "GC"
    case status = "STATUS"
    case version = "VERSION"

    /// The variables the spec (and the reference skel) require for this command.
    var requiredVariables: [String] {
        switch self {
        case .add, .check: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"]
        case .delete: ["CNI_CONTAINERID", "CNI_IFNAME"]
        case .gc: ["CNI_PATH"]
        case .status, .version: []
        }
    }
}
