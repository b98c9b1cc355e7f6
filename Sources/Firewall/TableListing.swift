import NetCore

/// What `list table` (JSON) says is in the table now: chains, and the elements of every set
/// and map. Only the slow paths read it (removing a network, diagnosing a conflict, an
/// unpublish that found someone else's mapping), since listing costs O(elements).
struct TableListing: Sendable {
    /// One element as nftables printed it.
    struct Element: Sendable, Hashable {
        var key: JSON
        var data: JSON?
        var comment: String?
    }

    var chains: Set<String> = []
    var elements: [String: [Element]] = [:]
    /// The `expr` array of every rule, by chain.
    var rules: [String: [JSON]] = [:]

    /// Parses libnftables' JSON output.
    ///
    /// - Throws: ``NetworkError`` when the text is not the JSON libnftables prints.
    init(parsing text: String) throws {
        let document: JSON
        do {
            document = try JSON(parsing: text)
        } catch {
            throw NetworkError(code: .system, message: "cannot read the nftables listing", cause: error as? JSONParseError)
        }
        guard let objects = document["nftables"]?.arrayValue else {
            throw NetworkError(code: .system, message: "the nftables listing has no \"nftables\" array")
        }
        for object in objects {
            if let chain = object["chain"], let name = chain["name"]?.stringValue {
                chains.insert(name)
            }
            if let rule = object["rule"], let chain = rule["chain"]?.stringValue {
                rules[chain, default: []].append(rule["expr"] ?? .array([]))
            }
            for kind in ["set", "map"] {
                guard let set = object[kind], let name = set["name"]?.stringValue else { continue }
                elements[name] = (set["elem"]?.arrayValue ?? []).map(Self.element)
            }
        }
    }

    /// `table` as it is now, listed through `transport`, or `nil` when it does not exist.
    ///
    /// - Throws: ``NetworkError`` naming the table when libnftables refuses the listing.
    static func fetch(_ table: Nftables.Table, through transport: any NftablesTransport) throws -> TableListing? {
        let request: JSON = ["nftables": [["list": ["table": ["family": .string(table.family.rawValue), "name": .string(table.name)]]]]]
        do {
            return try TableListing(parsing: transport.run(request.serialized()))
        } catch let error as NftablesError where error.isNotFound {
            return nil
        } catch let error as NftablesError {
            throw NetworkError(code: .system, message: "cannot list nftables table \(table.family.rawValue) \(table.name)", cause: error)
        }
    }

    init(chains: Set<String> = [], elements: [String: [Element]] = [:]) {
        self.chains = chains
        self.elements = elements
    }

    /// `[key, data]` for map entries; `{"elem": {"val": key, "comment": ...}}` around a key with a comment.
    private static func element(_ json: JSON) -> Element {
        var key = json
        var data: JSON?
        if let pair = json.arrayValue, pair.count == 2 {
            key = pair[0]
            data = pair[1]
        }
        var comment: String?
        if let wrapped = key["elem"], let value = wrapped["val"] {
            comment = wrapped["comment"]?.stringValue
            key = value
        }
        return Element(key: Self.canonical(key), data: data.map(Self.canonical), comment: comment)
    }

    /// Rewrites address text to this project's canonical form, so listed keys compare equal
    /// to rendered ones however nftables chose to print them.
    static func canonical(_ json: JSON) -> JSON {
        switch json {
        case .string(let text):
            if let address = IPAddress(text) { return .string(address.description) }
            return json
        case .array(let values):
            return .array(values.map(canonical))
        case .object(let object):
            var result = JSONObject()
            for (key, value) in object { result[key] = canonical(value) }
            return .object(result)
        default:
            return json
        }
    }

    /// The elements of set or map `name` (empty when it does not exist).
    func elements(of name: String) -> [Element] { elements[name] ?? [] }

    /// Whether set `name` holds `key`.
    func contains(_ key: Nftables.Expression, in name: String) -> Bool {
        let wanted = Self.canonical(key.json)
        return elements(of: name).contains { $0.key == wanted }
    }

    /// The subnets of an interval set: prefixes, and single addresses as /32 or /128.
    func subnets(in name: String) -> [CIDR] {
        elements(of: name).compactMap { element in
            if let prefix = element.key["prefix"], let text = prefix["addr"]?.stringValue,
               let address = IPAddress(text), let length = prefix["len"]?.intValue {
                return try? CIDR(address: address, prefixLength: Int(length))
            }
            if let text = element.key.stringValue, let address = IPAddress(text) {
                return try? CIDR(address: address, prefixLength: address.family.bitWidth)
            }
            return nil
        }
    }
}
