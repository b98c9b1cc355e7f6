import NetCore

/// One plugin's configuration as the runtime sends it on stdin, kept whole so unknown keys
/// pass through, with typed readers whose errors name the key and the value.
public struct PluginConfig: Sendable {
    public let raw: JSONObject

    public init(_ raw: JSONObject) { self.raw = raw }

    /// Parses stdin.
    ///
    /// - Throws: ``CNIError`` code 6 for JSON that does not parse or is not an object.
    public init(parsing bytes: [UInt8]) throws {
        let value: JSON
        do {
            value = try JSON(parsing: bytes)
        } catch {
            throw CNIError(.decodingFailure, "cannot decode the network configuration", details: "\(error)")
        }
        guard let object = value.objectValue else {
            throw CNIError(.decodingFailure, "the network configuration must be a JSON object", details: "got \(value.kindName)")
        }
        raw = object
    }

    public var cniVersionText: String? { raw["cniVersion"]?.stringValue }
    public var name: String? { raw["name"]?.stringValue }
    public var type: String? { raw["type"]?.stringValue }
    public var prevResult: JSON? { raw["prevResult"].flatMap { $0.isNull ? nil : $0 } }

    /// `runtimeConfig`: the capabilities the runtime filled in; empty when absent.
    public var runtimeConfig: JSONObject { raw["runtimeConfig"]?.objectValue ?? JSONObject() }

    // MARK: Typed readers

    public func string(_ key: String) throws -> String? {
        try typed(key, "a string") { $0.stringValue }
    }

    public func bool(_ key: String) throws -> Bool? {
        try typed(key, "true or false") { $0.boolValue }
    }

    public func int(_ key: String) throws -> Int64? {
        try typed(key, "a whole number") { $0.intValue }
    }

    public func object(_ key: String) throws -> JSONObject? {
        try typed(key, "an object") { $0.objectValue }
    }

    public func array(_ key: String) throws -> [JSON]? {
        try typed(key, "an array") { $0.arrayValue }
    }

    /// `key` read with `convert`; absent or `null` is `nil`, anything else of the wrong type is
    /// code 7 naming the key and the value.
    private func typed<T>(_ key: String, _ expected: String, _ convert: (JSON) -> T?) throws -> T? {
        guard let value = raw[key], !value.isNull else { return nil }
        guard let converted = convert(value) else {
            throw CNIError(.invalidConfig, "invalid \"\(key)\": \(value.serialized())", details: "expected \(expected)")
        }
        return converted
    }

    /// Refuses reference-plugin options this plugin does not implement, rather than ignore them.
    /// A key set to its off value (`false`, `0`, `""`, `null`, `[]`) is accepted.
    ///
    /// - Throws: ``CNIError`` code 2 naming the key and its value.
    public func rejectUnimplemented(_ keys: [String]) throws {
        for key in keys {
            guard let value = raw[key] else { continue }
            switch value {
            case .null, .bool(false), .int(0), .string(""): continue
            case .array(let elements) where elements.isEmpty: continue
            default: throw CNIError.unsupported(key, value)
            }
        }
    }
}

/// One attachment in a GC request: a container and the interface it had.
public struct GCAttachment: Hashable, Sendable {
    public let containerID: String
    public let interface: String

    public init(containerID: String, interface: String) {
        self.containerID = containerID
        self.interface = interface
    }
}

extension PluginConfig {
    /// GC's `cni.dev/valid-attachments`, or the legacy `cni.dev/attachments`. An empty list
    /// means that nothing is valid; neither key means the runtime said nothing, which must not
    /// be taken as "collect everything".
    ///
    /// - Throws: ``CNIError`` code 7 for a malformed or missing list, naming it.
    public func validAttachments() throws -> [GCAttachment] {
        let key = raw["cni.dev/valid-attachments"].map { !$0.isNull } == true ? "cni.dev/valid-attachments" : "cni.dev/attachments"
        guard let list = try array(key) else {
            throw CNIError(.invalidConfig, "GC needs \"cni.dev/valid-attachments\"",
                           details: "neither \"cni.dev/valid-attachments\" nor the legacy \"cni.dev/attachments\" is in the config; an empty list collects everything")
        }
        return try list.map { entry in
            guard let containerID = entry["containerID"]?.stringValue, let interface = entry["ifname"]?.stringValue else {
                throw CNIError(.invalidConfig, "invalid \"\(key)\" entry: \(entry.serialized())", details: "expected {\"containerID\", \"ifname\"}")
            }
            return GCAttachment(containerID: containerID, interface: interface)
        }
    }
}
