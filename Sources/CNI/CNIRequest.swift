import NetCore

/// One plugin invocation: the environment the runtime set and the config it sent on stdin,
/// validated as the spec asks. Errors name the variable or key at fault.
public struct CNIRequest: Sendable {
    public let command: CNICommand
    /// `CNI_CONTAINERID`; present for ADD, DEL and CHECK.
    public let containerID: String?
    /// `CNI_NETNS`; required for ADD and CHECK, optional for DEL.
    public let netns: String?
    /// `CNI_IFNAME`; present for ADD, DEL and CHECK.
    public let interface: InterfaceName?
    public let arguments: CNIArguments
    /// `CNI_PATH`, split on `:`.
    public let path: [String]
    public let config: PluginConfig
    /// The version the config asked for; results are printed in it.
    public let version: CNIVersion
    /// The whole environment, for delegates that must see the same one.
    public let environment: [String: String]

    /// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`, the spec's rule for container IDs and network names.
    static func isValidIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first.isASCIIAlphanumeric else { return false }
        return text.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "_" || $0 == "." || $0 == "-" }
    }

    /// - Throws: ``CNIError``: code 4 for missing or invalid variables (named), 6 for stdin
    ///   that does not decode, 7 for an invalid config, 1 for an unsupported version.
    public init(environment: [String: String], stdin: [UInt8]) throws {
        self.environment = environment
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }

        guard let commandText = value("CNI_COMMAND") else {
            throw CNIError(.invalidEnvironment, "required env variables [CNI_COMMAND] missing")
        }
        guard let command = CNICommand(rawValue: commandText) else {
            throw CNIError(.invalidEnvironment, "invalid CNI_COMMAND \"\(commandText)\"",
                           details: "expected one of \(CNICommand.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.command = command
        let missing = command.requiredVariables.filter { value($0) == nil }
        if !missing.isEmpty {
            throw CNIError(.invalidEnvironment, "required env variables [\(missing.joined(separator: ","))] missing")
        }

        containerID = value("CNI_CONTAINERID")
        if let containerID, command.requiredVariables.contains("CNI_CONTAINERID"), !Self.isValidIdentifier(containerID) {
            throw CNIError(.invalidEnvironment, "invalid characters in CNI_CONTAINERID \"\(containerID)\"",
                           details: "must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$")
        }
        netns = value("CNI_NETNS")
        if let name = value("CNI_IFNAME"), command.requiredVariables.contains("CNI_IFNAME") {
            do {
                interface = try InterfaceName(name, field: "CNI_IFNAME")
            } catch let error as NetworkError {
                throw CNIError(.invalidEnvironment, error.message)
            }
        } else {
            interface = nil
        }
        arguments = try CNIArguments(parsing: value("CNI_ARGS") ?? "")
        path = (value("CNI_PATH") ?? "").split(separator: ":").map(String.init)

        if command == .version {
            // VERSION may come with no config at all, or just {"cniVersion"}.
            let trimmed = stdin.filter { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }
            config = trimmed.isEmpty ? PluginConfig(JSONObject()) : try PluginConfig(parsing: stdin)
            version = (config.cniVersionText.flatMap(CNIVersion.init)) ?? .current
            return
        }
        config = try PluginConfig(parsing: stdin)
        guard let name = config.name, !name.isEmpty else {
            throw CNIError(.invalidConfig, "missing network name", details: "the config needs \"name\"")
        }
        guard Self.isValidIdentifier(name) else {
            throw CNIError(.invalidConfig, "invalid characters found in network name \"\(name)\"")
        }
        version = try CNIVersion.negotiate(config.cniVersionText)
        if command == .check, !version.supportsCheck {
            throw CNIError(.incompatibleVersion, "config version \(version) does not support CHECK", details: "CHECK needs 0.4.0 or later")
        }
        if command == .gc || command == .status, !version.supportsGCAndStatus {
            throw CNIError(.incompatibleVersion, "config version \(version) does not support \(command.rawValue)",
                           details: "\(command.rawValue) needs 1.1.0 or later")
        }
    }
}

extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}
