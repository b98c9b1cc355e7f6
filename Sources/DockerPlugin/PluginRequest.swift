import NetCore
import NetctlModel

/// A request body, read field by field; every error names the method and the field.
struct PluginRequest {
    let method: String
    let body: JSON

    /// - Throws: ``NetworkError`` `.invalidArgument` for a body that is not a JSON object
    ///   (an empty body is an empty object: dockerd sends none for some calls).
    init(method: String, bytes: [UInt8]) throws {
        self.method = method
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            body = .object(JSONObject())
            return
        }
        do {
            body = try JSON(parsing: bytes)
        } catch {
            throw NetworkError(code: .invalidArgument, message: "\(method): the request body is not JSON: \(error)")
        }
        guard body.objectValue != nil else {
            throw NetworkError(code: .invalidArgument, message: "\(method): the request body must be a JSON object, not \(body.kindName)")
        }
    }

    private func invalid(_ field: String, _ value: JSON, _ reason: String) -> NetworkError {
        NetworkError.invalid("\(method) \(field)", value.serialized(), reason)
    }

    /// A string field that must be there.
    func string(_ field: String) throws -> String {
        guard let value = body[field], let text = value.stringValue else {
            throw invalid(field, body[field] ?? .null, "must be a string")
        }
        return text
    }

    /// A string field that may be missing, null or empty (all `nil`).
    func optionalString(_ field: String, in object: JSON? = nil) throws -> String? {
        guard let value = (object ?? body)[field], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw invalid(field, value, "must be a string") }
        return text.isEmpty ? nil : text
    }

    func bool(_ field: String, in object: JSON? = nil) throws -> Bool {
        guard let value = (object ?? body)[field], !value.isNull else { return false }
        if let flag = value.boolValue { return flag }
        // dockerd sends some options as strings ("true").
        if let text = value.stringValue, let flag = Bool(text) { return flag }
        throw invalid(field, value, "must be true or false")
    }

    func cidr(_ field: String, in object: JSON? = nil) throws -> CIDR? {
        guard let text = try optionalString(field, in: object) else { return nil }
        guard let cidr = CIDR(text) else { throw invalid(field, .string(text), "is not an address with a prefix length (CIDR)") }
        return cidr
    }

    func address(_ field: String, in object: JSON? = nil) throws -> IPAddress? {
        guard let text = try optionalString(field, in: object) else { return nil }
        guard let address = IPAddress(text) else { throw invalid(field, .string(text), "is not an IP address") }
        return address
    }

    /// An object of string values (`Options`, `com.docker.network.generic`); missing is empty.
    func stringMap(_ field: String, in object: JSON? = nil) throws -> [String: String] {
        guard let value = (object ?? body)[field], !value.isNull else { return [:] }
        guard let members = value.objectValue else { throw invalid(field, value, "must be an object") }
        var result: [String: String] = [:]
        for (key, member) in members {
            switch member {
            case .string(let text): result[key] = text
            case .bool(let flag): result[key] = flag ? "true" : "false"
            case .int, .double: result[key] = member.serialized()
            default: throw invalid("\(field).\(key)", member, "must be a string")
            }
        }
        return result
    }

    /// `com.docker.network.portmap` in an `Options` object: Docker's port bindings.
    func portBindings() throws -> [DockerPortBinding] {
        guard let value = body["Options"]?["com.docker.network.portmap"], !value.isNull else { return [] }
        guard let entries = value.arrayValue else { throw invalid("Options.com.docker.network.portmap", value, "must be an array") }
        return try entries.map { entry in
            let field = "Options.com.docker.network.portmap"
            func port(_ key: String, allowZero: Bool) throws -> UInt16 {
                guard let number = entry[key]?.intValue, let port = UInt16(exactly: number), allowZero || port > 0 else {
                    throw invalid("\(field) \(key)", entry[key] ?? .null, allowZero ? "must be a port number 0-65535" : "must be a port number 1-65535")
                }
                return port
            }
            let transport: TransportProtocol
            switch entry["Proto"]?.intValue {
            case 6: transport = .tcp
            case 17: transport = .udp
            case 132: transport = .sctp
            default: throw invalid("\(field) Proto", entry["Proto"] ?? .null, "must be 6 (tcp), 17 (udp) or 132 (sctp)")
            }
            let hostPort = try port("HostPort", allowZero: true)
            let hostPortEnd = entry["HostPortEnd"] == nil ? hostPort : try port("HostPortEnd", allowZero: true)
            return DockerPortBinding(transport: transport, containerPort: try port("Port", allowZero: false),
                                     hostIP: try address("HostIP", in: entry), hostPort: hostPort, hostPortEnd: hostPortEnd)
        }
    }
}
