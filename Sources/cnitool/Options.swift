import CNI
import NetCore

/// cnitool's command line: `COMMAND NAME [NETNS] [--flag value]...`.
struct Options {
    static let usage = """
        usage: cnitool add|del|check NETNAME NETNS_PATH [--ifname eth0] [--container-id ID]
                                    [--args K=V;..] [--capability-args JSON]
               cnitool status NETNAME
               cnitool gc NETNAME [--valid CONTAINER_ID:IFNAME]...
               cnitool version PLUGIN
        environment: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_CACHE_DIR (default /var/lib/cni)
        """

    var command: String
    var name: String
    var netns = ""
    var ifName = "eth0"
    var containerID: String?
    var args: [(key: String, value: String)] = []
    var capabilityArgs: JSONObject = [:]
    var valid: [GCAttachment] = []

    /// `-h`, `--help` or `help`: the usage goes to stdout, and that is success.
    static func asksForHelp(_ arguments: [String]) -> Bool {
        arguments.first == "help" || arguments.contains { $0 == "-h" || $0 == "--help" }
    }

    init(_ arguments: [String]) throws {
        var positional: [String] = []
        var index = 0
        func value(_ flag: String) throws -> String {
            index += 1
            guard index < arguments.count else { throw Self.invalid("\(flag) needs a value") }
            return arguments[index]
        }
        command = ""
        name = ""
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--ifname": ifName = try value(argument)
            case "--container-id": containerID = try value(argument)
            case "--args": args = try CNIArguments(parsing: value(argument)).pairs
            case "--capability-args": capabilityArgs = try Self.object(value(argument), flag: argument)
            case "--valid": valid.append(try Self.attachment(value(argument)))
            default:
                guard !argument.hasPrefix("--") else { throw Self.invalid("unknown option \(argument)") }
                positional.append(argument)
            }
            index += 1
        }
        guard let command = positional.first, ["add", "del", "check", "status", "gc", "version"].contains(command) else {
            throw Self.invalid("expected a command: add, del, check, status, gc or version")
        }
        let needsNetns = ["add", "del", "check"].contains(command)
        guard positional.count >= 2, positional.count <= (needsNetns || command == "gc" || command == "status" ? 3 : 2),
              !needsNetns || positional.count == 3 else {
            throw Self.invalid(needsNetns ? "\(command) needs NETNAME and NETNS_PATH" : "\(command) needs one name")
        }
        self.command = command
        name = positional[1]
        netns = positional.count > 2 ? positional[2] : ""
    }

    /// The container ID given, or one derived from the netns path as the reference cnitool does,
    /// so that ADD and DEL of the same namespace agree.
    var effectiveContainerID: String {
        if let containerID { return containerID }
        let hex = String(FNV1a.hash(netns.utf8), radix: 16)
        return "cnitool-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    private static func invalid(_ message: String) -> CNIError {
        CNIError(.invalidEnvironment, message, details: usage)
    }

    private static func object(_ text: String, flag: String) throws -> JSONObject {
        guard let object = (try? JSON(parsing: text))?.objectValue else {
            throw CNIError(.decodingFailure, "\(flag) must be a JSON object", details: "got \(text)")
        }
        return object
    }

    private static func attachment(_ text: String) throws -> GCAttachment {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex else {
            throw invalid("--valid expects CONTAINER_ID:IFNAME, got \(text)")
        }
        return GCAttachment(containerID: String(text[..<colon]), interface: String(text[text.index(after: colon)...]))
    }
}
