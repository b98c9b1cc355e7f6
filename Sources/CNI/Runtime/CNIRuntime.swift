import NetCore

/// Runs network configuration lists against attachments the way libcni does: plugins chained
/// with `prevResult`, capabilities filtered per plugin, the final result cached for DEL,
/// CHECK and GC.
public struct CNIRuntime: Sendable {
    /// `CNI_PATH`: where plugin binaries are looked up, in order.
    public var pluginDirectories: [String]
    /// Holds `results/`; libcni's default is `/var/lib/cni`.
    public var cacheDirectory: String
    public var invoker: any PluginInvoker

    public static let defaultCacheDirectory = "/var/lib/cni"

    public init(pluginDirectories: [String], cacheDirectory: String = CNIRuntime.defaultCacheDirectory,
                invoker: any PluginInvoker = ExecPluginInvoker()) {
        self.pluginDirectories = pluginDirectories
        self.cacheDirectory = cacheDirectory
        self.invoker = invoker
    }

    public var cache: ResultCache { ResultCache(cacheDirectory: cacheDirectory) }

    // MARK: ADD, DEL, CHECK

    /// ADD: each plugin in order, each given the previous one's result; the last result is
    /// cached and returned.
    ///
    /// - Throws: the failing plugin's ``CNIError`` unchanged; code 5 if the cache cannot be written.
    @discardableResult
    public func add(_ list: NetworkConfigList, _ attachment: NetworkAttachment) throws -> CNIResult {
        try attachment.validate()
        var previous: JSON?
        for plugin in list.plugins {
            let output = try invoke(plugin, of: list, .add, attachment, prevResult: previous)
            previous = try Self.decodeResult(output, plugin: plugin, version: list.cniVersion)
        }
        guard let final = previous else { throw CNIError(.internal, "network \"\(list.name)\" has no plugins") }
        try cache.save(CachedAttachment(networkName: list.name, attachment: attachment,
                                        config: Array(JSON.object(list.raw).serialized().utf8), result: final))
        return try CNIResult(json: final)
    }

    /// DEL: each plugin in reverse order with the cached result as `prevResult` (none without a
    /// cache entry, or before 0.4.0), then the cache entry is removed.
    public func delete(_ list: NetworkConfigList, _ attachment: NetworkAttachment) throws {
        try attachment.validate()
        var cached: CachedAttachment?
        if list.cniVersion >= CNIVersion(0, 4, 0) {
            do {
                cached = try cache.load(network: list.name, containerID: attachment.containerID, ifName: attachment.ifName)
            } catch {
                // As libcni: an unreadable entry must not block teardown for good; it goes.
                try? cache.remove(network: list.name, containerID: attachment.containerID, ifName: attachment.ifName)
            }
        }
        for plugin in list.plugins.reversed() {
            _ = try invoke(plugin, of: list, .delete, attachment, prevResult: cached?.result)
        }
        try cache.remove(network: list.name, containerID: attachment.containerID, ifName: attachment.ifName)
    }

    /// CHECK: each plugin in order with the cached ADD result; nothing when `disableCheck`.
    ///
    /// - Throws: ``CNIError`` code 1 before 0.4.0, 7 without a cached result, else the plugin's error.
    public func check(_ list: NetworkConfigList, _ attachment: NetworkAttachment) throws {
        guard list.cniVersion.supportsCheck else {
            throw CNIError(.incompatibleVersion, "CHECK needs cniVersion 0.4.0 or later", details: "network \"\(list.name)\" is \(list.cniVersion)")
        }
        guard !list.disableCheck else { return }
        try attachment.validate()
        let cached = try cache.load(network: list.name, containerID: attachment.containerID, ifName: attachment.ifName)
        guard let result = cached?.result else {
            throw CNIError(.invalidConfig, "no cached result for network \"\(list.name)\", container \(attachment.containerID), interface \(attachment.ifName)",
                           details: "CHECK needs the result of an earlier ADD in \(cache.directory)")
        }
        for plugin in list.plugins {
            _ = try invoke(plugin, of: list, .check, attachment, prevResult: result)
        }
    }

    // MARK: STATUS, GC, VERSION

    /// STATUS: each plugin's, the first error thrown; nothing before 1.1.0.
    public func status(_ list: NetworkConfigList) throws {
        guard list.cniVersion.supportsGCAndStatus else { return }
        for plugin in list.plugins {
            _ = try run(plugin["type"]?.stringValue ?? "", .status, environment: [:], stdin: Self.serialize(Self.base(plugin, of: list)))
        }
    }

    /// GC, as libcni does it: DEL for this network's cached attachments not in `valid`, then
    /// (from 1.1.0) GC to every plugin with `cni.dev/valid-attachments`. Carries on past
    /// errors and throws them together. Nothing when `disableGC`.
    public func gc(_ list: NetworkConfigList, validAttachments valid: [GCAttachment]) throws {
        guard !list.disableGC else { return }
        var errors: [CNIError] = []
        let keep = Set(valid)
        for entry in cache.entries(network: list.name) where !keep.contains(GCAttachment(containerID: entry.containerID, interface: entry.ifName)) {
            do {
                try delete(list, entry.attachment)
            } catch {
                let error = CNIError(error)
                errors.append(CNIError(error.code, "cannot delete stale attachment \(entry.containerID) \(entry.ifName): \(error.message)", details: error.details))
            }
        }
        if list.cniVersion.supportsGCAndStatus {
            let attachments = JSON.array(valid.map(\.json))
            for plugin in list.plugins {
                var config = Self.base(plugin, of: list)
                config["cni.dev/valid-attachments"] = attachments
                // libcni also sends the key the 1.1.0 spec text first used (cni#1101).
                config["cni.dev/attachments"] = attachments
                do {
                    _ = try run(plugin["type"]?.stringValue ?? "", .gc, environment: [:], stdin: Self.serialize(config))
                } catch {
                    errors.append(CNIError(error))
                }
            }
        }
        guard let first = errors.first else { return }
        guard errors.count > 1 else { throw first }
        throw CNIError(first.code, "GC of network \"\(list.name)\" failed \(errors.count) times",
                       details: errors.map(\.description).joined(separator: "; "))
    }

    /// What VERSION reports for plugin `type`.
    public func version(ofPlugin type: String) throws -> PluginVersionInfo {
        let output = try run(type, .version, environment: [:], stdin: Self.serialize(["cniVersion": .string(CNIVersion.current.description)]))
        guard let value = try? JSON(parsing: output), let version = value["cniVersion"]?.stringValue else {
            throw CNIError(.decodingFailure, "cannot decode plugin \(type)'s VERSION output", details: String(decoding: output, as: UTF8.self))
        }
        return PluginVersionInfo(cniVersion: version, supportedVersions: value["supportedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    // MARK: Building a plugin's request

    /// The config one plugin gets for ADD, DEL or CHECK (libcni's `buildOneConfig`).
    public func requestConfig(_ plugin: JSONObject, of list: NetworkConfigList, _ attachment: NetworkAttachment, prevResult: JSON?) -> JSONObject {
        var config = Self.base(plugin, of: list)
        let declared = plugin["capabilities"]?.objectValue ?? [:]
        var runtimeConfig = JSONObject()
        for (capability, enabled) in declared where enabled == .bool(true) {
            runtimeConfig[capability] = attachment.capabilityArgs[capability]
        }
        config["runtimeConfig"] = runtimeConfig.isEmpty ? nil : .object(runtimeConfig)
        config["prevResult"] = prevResult
        return config
    }

    /// `cniVersion` and `name` from the list first, then the plugin's own keys; `capabilities`
    /// is for the runtime only and is left out.
    static func base(_ plugin: JSONObject, of list: NetworkConfigList) -> JSONObject {
        var config: JSONObject = ["cniVersion": .string(list.cniVersion.description), "name": .string(list.name)]
        for (key, value) in plugin where !["cniVersion", "name", "capabilities", "runtimeConfig", "prevResult"].contains(key) {
            config[key] = value
        }
        return config
    }

    private func invoke(_ plugin: JSONObject, of list: NetworkConfigList, _ command: CNICommand, _ attachment: NetworkAttachment,
                        prevResult: JSON?) throws -> [UInt8] {
        var environment = ["CNI_CONTAINERID": attachment.containerID, "CNI_NETNS": attachment.netns, "CNI_IFNAME": attachment.ifName]
        if !attachment.args.isEmpty { environment["CNI_ARGS"] = attachment.argsText }
        let config = requestConfig(plugin, of: list, attachment, prevResult: prevResult)
        return try run(plugin["type"]?.stringValue ?? "", command, environment: environment, stdin: Self.serialize(config))
    }

    private func run(_ type: String, _ command: CNICommand, environment: [String: String], stdin: [UInt8]) throws -> [UInt8] {
        guard let executable = invoker.find(type, in: pluginDirectories) else {
            throw CNIError(.invalidConfig, "plugin \"\(type)\" not found",
                           details: "searched CNI_PATH: \(pluginDirectories.isEmpty ? "(empty)" : pluginDirectories.joined(separator: ":"))")
        }
        var environment = environment
        environment["CNI_PATH"] = pluginDirectories.joined(separator: ":")
        return try invoker.run(executable, command: command, environment: environment, stdin: stdin)
    }

    private static func serialize(_ object: JSONObject) -> [UInt8] { Array(JSON.object(object).serialized().utf8) }

    /// A plugin's ADD output, checked to be a result and converted to the list's version.
    private static func decodeResult(_ output: [UInt8], plugin: JSONObject, version: CNIVersion) throws -> JSON {
        let type = plugin["type"]?.stringValue ?? "?"
        guard let value = try? JSON(parsing: output) else {
            throw CNIError(.decodingFailure, "cannot decode plugin \(type)'s ADD result", details: String(decoding: output, as: UTF8.self))
        }
        return try CNIResult(json: value).json(version: version)
    }
}

/// A plugin's VERSION answer.
public struct PluginVersionInfo: Sendable, Hashable {
    public let cniVersion: String
    public let supportedVersions: [String]
}
