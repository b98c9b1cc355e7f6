import NetCore

/// libcni's on-disk record of an attachment, `<cacheDir>/results/<net>-<containerID>-<ifname>`:
/// DEL and CHECK get `prevResult` from it, GC finds stale attachments in it.
public struct CachedAttachment: Sendable {
    public var networkName: String
    public var containerID: String
    public var ifName: String
    public var netns: String
    public var args: [(key: String, value: String)]
    public var capabilityArgs: JSONObject
    /// The network list's JSON as ADD used it.
    public var config: [UInt8]
    /// The final ADD result, in the list's version.
    public var result: JSON?

    /// The cache format libcni writes and reads.
    static let kind = "cniCacheV1"

    var json: JSON {
        var object: JSONObject = ["kind": .string(Self.kind), "containerId": .string(containerID),
                                  "config": .string(Base64.encode(config)), "ifName": .string(ifName),
                                  "networkName": .string(networkName)]
        if !netns.isEmpty { object["netns"] = .string(netns) }
        if !args.isEmpty { object["cniArgs"] = .array(args.map { [.string($0.key), .string($0.value)] }) }
        if !capabilityArgs.isEmpty { object["capabilityArgs"] = .object(capabilityArgs) }
        object["result"] = result
        return .object(object)
    }

    init(networkName: String, attachment: NetworkAttachment, config: [UInt8], result: JSON?) {
        self.networkName = networkName
        containerID = attachment.containerID
        ifName = attachment.ifName
        netns = attachment.netns
        args = attachment.args
        capabilityArgs = attachment.capabilityArgs
        self.config = config
        self.result = result
    }

    /// Reads a cache file's JSON; `nil` for another kind or missing identity fields.
    init?(json: JSON) {
        guard json["kind"]?.stringValue == Self.kind, let networkName = json["networkName"]?.stringValue,
              let containerID = json["containerId"]?.stringValue, let ifName = json["ifName"]?.stringValue
        else { return nil }
        self.networkName = networkName
        self.containerID = containerID
        self.ifName = ifName
        netns = json["netns"]?.stringValue ?? ""
        args = (json["cniArgs"]?.arrayValue ?? []).compactMap { pair in
            guard let key = pair.arrayValue?.first?.stringValue, let value = pair.arrayValue?.dropFirst().first?.stringValue else { return nil }
            return (key, value)
        }
        capabilityArgs = json["capabilityArgs"]?.objectValue ?? [:]
        config = json["config"]?.stringValue.flatMap(Base64.decode) ?? []
        result = json["result"].flatMap { $0.isNull ? nil : $0 }
    }

    /// The attachment this record describes.
    var attachment: NetworkAttachment {
        NetworkAttachment(containerID: containerID, netns: netns, ifName: ifName, args: args, capabilityArgs: capabilityArgs)
    }
}

/// The `results` directory under the runtime's cache directory.
public struct ResultCache: Sendable {
    public let directory: String

    public init(cacheDirectory: String) {
        directory = cacheDirectory + "/results"
    }

    /// `<net>-<containerID>-<ifname>`, libcni's key.
    public func path(network: String, containerID: String, ifName: String) -> String {
        "\(directory)/\(network)-\(containerID)-\(ifName)"
    }

    func save(_ entry: CachedAttachment) throws {
        let bytes = Array(entry.json.serialized().utf8)
        do {
            try RuntimeFiles.makeDirectories(directory)
            try RuntimeFiles.writeAtomically(bytes, to: path(network: entry.networkName, containerID: entry.containerID, ifName: entry.ifName))
        } catch let error as FileError {
            throw error.cniError
        }
    }

    /// The entry for the attachment; `nil` when there is none.
    ///
    /// - Throws: ``CNIError`` code 5 when it cannot be read, 6 when it does not decode.
    public func load(network: String, containerID: String, ifName: String) throws -> CachedAttachment? {
        let file = path(network: network, containerID: containerID, ifName: ifName)
        let bytes: [UInt8]
        do {
            bytes = try RuntimeFiles.read(file)
        } catch let error as FileError {
            if error.isNotFound { return nil }
            throw error.cniError
        }
        guard let value = try? JSON(parsing: bytes), let entry = CachedAttachment(json: value) else {
            throw CNIError(.decodingFailure, "cannot decode the cached result \(file)")
        }
        return entry
    }

    func remove(network: String, containerID: String, ifName: String) throws {
        do {
            try RuntimeFiles.remove(path(network: network, containerID: containerID, ifName: ifName))
        } catch let error as FileError {
            throw error.cniError
        }
    }

    /// Every readable entry for `network` (unreadable files and other networks are skipped).
    public func entries(network: String) -> [CachedAttachment] {
        guard let names = try? RuntimeFiles.list(directory) else { return [] }
        return names.filter { $0.hasPrefix(network + "-") && !$0.contains(".tmp-") }.compactMap { name in
            guard let bytes = try? RuntimeFiles.read(directory + "/" + name), let value = try? JSON(parsing: bytes),
                  let entry = CachedAttachment(json: value), entry.networkName == network else { return nil }
            return entry
        }
    }
}
