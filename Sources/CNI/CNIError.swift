import NetCore

/// An error as the CNI spec prints it: `{"cniVersion", "code", "msg", "details"}` on stdout,
/// with a non-zero exit.
public struct CNIError: Error, Sendable, CustomStringConvertible {
    /// The spec's well-known codes (0–99 are reserved).
    public enum Code: Int, Sendable {
        case unknown = 0
        case incompatibleVersion = 1
        /// The message names the key and the value.
        case unsupportedField = 2
        case unknownContainer = 3
        /// The message names the variable.
        case invalidEnvironment = 4
        case ioFailure = 5
        case decodingFailure = 6
        case invalidConfig = 7
        case invalidNetNS = 8
        case tryAgainLater = 11
        /// STATUS: not ready.
        case notAvailable = 50
        /// STATUS: not ready, and existing containers may have limited connectivity.
        case limitedConnectivity = 51
        case `internal` = 999
    }

    public let code: Code
    public let message: String
    public let details: String?

    public init(_ code: Code, _ message: String, details: String? = nil) {
        self.code = code
        self.message = message
        self.details = details
    }

    /// Any error as a CNI error: ``NetworkError`` codes map to the spec's nearest code.
    public init(_ error: any Error) {
        switch error {
        case let error as CNIError:
            self = error
        case let error as NetworkError:
            let code: Code = switch error.code {
            case .invalidArgument: .invalidConfig
            case .unsupported: .unsupportedField
            case .busy: .tryAgainLater
            case .notFound, .alreadyExists, .exhausted, .permissionDenied, .system, .internalError: .internal
            }
            self.init(code, error.description)
        case let error as JSONParseError:
            self.init(.decodingFailure, "cannot decode the network configuration", details: error.description)
        default:
            self.init(.internal, "\(error)")
        }
    }

    /// The spec's JSON form.
    public func json(cniVersion: CNIVersion) -> JSON {
        var object: JSONObject = ["cniVersion": .string(cniVersion.description), "code": .int(Int64(code.rawValue)), "msg": .string(message)]
        if let details, !details.isEmpty { object["details"] = .string(details) }
        return .object(object)
    }

    public var description: String {
        "CNI error \(code.rawValue): \(message)" + (details.map { " (\($0))" } ?? "")
    }

    /// Code 2, naming the key and its value as the spec asks.
    public static func unsupported(_ key: String, _ value: JSON) -> CNIError {
        CNIError(.unsupportedField, "unsupported field \"\(key)\": \(value.serialized())",
                 details: "this plugin does not implement \"\(key)\"")
    }
}
