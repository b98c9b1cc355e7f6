import NetCore

/// A network configuration list (`.conflist`), or a single `.conf` wrapped as a one-plugin list,
/// as libcni loads them. Plugin objects are kept whole so unknown keys reach the plugins.
public struct NetworkConfigList: Sendable {
    public let name: String
    /// The version the list asks for: `cniVersion`, or the highest supported one in `cniVersions`.
    public let cniVersion: CNIVersion
    public let disableCheck: Bool
    public let disableGC: Bool
    /// One object per plugin, in chain order, each with a `type`.
    public let plugins: [JSONObject]
    /// The list as JSON: what the result cache stores as `config`.
    public let raw: JSONObject
    /// The file it came from, if any: errors name it.
    public let source: String?

    /// Parses a `.conflist`.
    ///
    /// - Throws: ``CNIError`` code 6 for bad JSON, 7 for a bad field (naming the file, field and value),
    ///   1 for a version we do not speak.
    public init(parsing bytes: [UInt8], source: String? = nil) throws {
        let reader = try ConfigReader(bytes, source: source)
        guard let list = try reader.array("plugins"), !list.isEmpty else {
            throw reader.invalid("plugins", reader.object["plugins"] ?? .null, expected: "a non-empty array of plugin objects")
        }
        var plugins: [JSONObject] = []
        for (index, entry) in list.enumerated() {
            guard let plugin = entry.objectValue else {
                throw reader.invalid("plugins[\(index)]", entry, expected: "an object")
            }
            try reader.checkType(plugin, field: "plugins[\(index)].type")
            plugins.append(plugin)
        }
        try self.init(reader: reader, plugins: plugins, raw: reader.object)
    }

    /// Parses a single-plugin `.conf` and wraps it as a list of one, as libcni does.
    public init(parsingSingle bytes: [UInt8], source: String? = nil) throws {
        let reader = try ConfigReader(bytes, source: source)
        try reader.checkType(reader.object, field: "type")
        var raw: JSONObject = [:]
        raw["cniVersion"] = reader.object["cniVersion"]
        raw["name"] = reader.object["name"]
        raw["plugins"] = .array([.object(reader.object)])
        try self.init(reader: reader, plugins: [reader.object], raw: raw)
    }

    /// Loads a file: `.conflist` as a list; `.conf` and `.json` as a list when they have
    /// `plugins`, otherwise as a single plugin.
    ///
    /// - Throws: ``CNIError`` code 5 when the file cannot be read, else as the parsers.
    public init(contentsOf path: String) throws {
        let bytes: [UInt8]
        do { bytes = try RuntimeFiles.read(path) } catch let error as FileError { throw error.cniError }
        if path.hasSuffix(".conflist") {
            try self.init(parsing: bytes, source: path)
        } else if (try? JSON(parsing: bytes))?["plugins"] != nil {
            try self.init(parsing: bytes, source: path)
        } else {
            try self.init(parsingSingle: bytes, source: path)
        }
    }

    /// The file extensions a config directory is searched for.
    public static let fileExtensions = [".conf", ".conflist", ".json"]

    /// The first list named `name` among `directory`'s config files, sorted by file name.
    ///
    /// - Throws: ``CNIError`` for a JSON file that is not a valid config (naming it), or code 7
    ///   when no file defines the network. Files that are not JSON objects are skipped.
    public static func find(named name: String, in directory: String) throws -> NetworkConfigList {
        let names: [String]
        do { names = try RuntimeFiles.list(directory) } catch let error as FileError { throw error.cniError }
        var skipped: [String] = []
        for file in names where fileExtensions.contains(where: { file.hasSuffix($0) }) {
            do {
                let list = try NetworkConfigList(contentsOf: directory + "/" + file)
                if list.name == name { return list }
            } catch let error as CNIError where error.code == .decodingFailure {
                // Not JSON at all (e.g. a containers.conf beside the networks): not a network config.
                skipped.append(file)
            }
        }
        throw CNIError(.invalidConfig, "no network named \"\(name)\" in \(directory)",
                       details: "searched the \(fileExtensions.joined(separator: ", ")) files there"
                           + (skipped.isEmpty ? "" : "; skipped files that are not JSON objects: \(skipped.joined(separator: ", "))"))
    }

    private init(reader: ConfigReader, plugins: [JSONObject], raw: JSONObject) throws {
        guard let name = try reader.string("name"), RuntimeNames.isValidName(name) else {
            throw reader.invalid("name", reader.object["name"] ?? .null, expected: "a name matching [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        }
        self.name = name
        cniVersion = try reader.version()
        disableCheck = try reader.flag("disableCheck")
        disableGC = try reader.flag("disableGC")
        self.plugins = plugins
        self.raw = raw
        source = reader.source
    }
}

/// Typed reads of a config's top level whose errors name the file, the field and the value.
struct ConfigReader {
    let object: JSONObject
    let source: String?

    init(_ bytes: [UInt8], source: String?) throws {
        self.source = source
        let value: JSON
        do {
            value = try JSON(parsing: bytes)
        } catch {
            throw CNIError(.decodingFailure, "cannot decode the network configuration\(Self.suffix(source))", details: "\(error)")
        }
        guard let object = value.objectValue else {
            throw CNIError(.decodingFailure, "the network configuration\(Self.suffix(source)) must be a JSON object", details: "got \(value.kindName)")
        }
        self.object = object
    }

    static func suffix(_ source: String?) -> String { source.map { " in \($0)" } ?? "" }

    func invalid(_ field: String, _ value: JSON, expected: String) -> CNIError {
        CNIError(.invalidConfig, "invalid \"\(field)\"\(Self.suffix(source)): \(value.serialized())", details: "expected \(expected)")
    }

    func string(_ key: String) throws -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw invalid(key, value, expected: "a string") }
        return text
    }

    func array(_ key: String) throws -> [JSON]? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let array = value.arrayValue else { throw invalid(key, value, expected: "an array") }
        return array
    }

    /// A boolean; libcni also takes the strings "true" and "false".
    func flag(_ key: String) throws -> Bool {
        guard let value = object[key], !value.isNull else { return false }
        switch value {
        case .bool(let flag): return flag
        case .string(let text) where text.lowercased() == "true": return true
        case .string(let text) where text.lowercased() == "false": return false
        default: throw invalid(key, value, expected: "true or false")
        }
    }

    /// `type` must name a plugin binary: a non-empty string without `/`.
    func checkType(_ plugin: JSONObject, field: String) throws {
        guard let type = plugin["type"]?.stringValue, !type.isEmpty, !type.contains("/") else {
            throw invalid(field, plugin["type"] ?? .null, expected: "a plugin name without '/'")
        }
    }

    /// `cniVersion`, or the highest version in `cniVersions` that we speak (spec 1.1).
    func version() throws -> CNIVersion {
        if let versions = try array("cniVersions") {
            let known = versions.compactMap { $0.stringValue.flatMap(CNIVersion.init) }.filter(CNIVersion.supported.contains)
            if let highest = known.max() { return highest }
            if object["cniVersion"] == nil {
                throw CNIError(.incompatibleVersion, "no supported version in \"cniVersions\"\(Self.suffix(source)): \(JSON.array(versions).serialized())",
                               details: "supported: \(CNIVersion.supported.map(\.description).joined(separator: ", "))")
            }
        }
        guard let text = try string("cniVersion") else {
            throw invalid("cniVersion", object["cniVersion"] ?? .null, expected: "a version such as \"1.1.0\"")
        }
        guard let version = CNIVersion(text) else { throw invalid("cniVersion", .string(text), expected: "MAJOR.MINOR.PATCH") }
        guard CNIVersion.supported.contains(version) else {
            throw CNIError(.incompatibleVersion, "unsupported \"cniVersion\"\(Self.suffix(source)): \"\(text)\"",
                           details: "supported: \(CNIVersion.supported.map(\.description).joined(separator: ", "))")
        }
        return version
    }
}

/// The spec's name rules, shared by network names and container IDs.
enum RuntimeNames {
    /// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`
    static func isValidName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, isAlphanumeric(first) else { return false }
        return text.unicodeScalars.allSatisfy { isAlphanumeric($0) || $0 == "_" || $0 == "." || $0 == "-" }
    }

    /// 1–15 bytes, not `.` or `..`, no `/`, `:` or whitespace.
    static func isValidInterfaceName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 15, text != ".", text != ".." else { return false }
        return !text.unicodeScalars.contains { $0 == "/" || $0 == ":" || $0.properties.isWhitespace }
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar))
    }
}
