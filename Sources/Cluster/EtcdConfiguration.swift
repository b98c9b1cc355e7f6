import NetCore

/// Where etcd is and how to reach it: the values of `--store`, `--store-cacert`, `--store-cert`
/// and `--store-key`.
public struct EtcdConfiguration: Sendable {
    /// Client URLs, tried in order: `http://127.0.0.1:2379`, `https://h:2379`,
    /// `unix:///path/etcd.sock:0` (a socket path, absolute or relative to the working directory),
    /// `unixs://…` for TLS over a unix socket. A TCP endpoint without a port gets etcd's 2379.
    public var endpoints: [String]
    /// The CA that signs etcd's server certificate (PEM); without one, https uses the system's trust.
    public var caFile: String?
    /// The client certificate (PEM) for an etcd that runs with `--client-cert-auth`; with `keyFile`.
    public var certFile: String?
    public var keyFile: String?
    /// How long one call (connect, request, answer) may take on one endpoint (a call that moves on
    /// to the next endpoint starts again); for a watch, until etcd's first answer.
    public var requestTimeout: Duration

    public init(endpoints: [String], caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil,
                requestTimeout: Duration = .seconds(5)) throws {
        guard !endpoints.isEmpty else { throw NetworkError.invalid("--store", "", "names no etcd endpoint") }
        for endpoint in endpoints { _ = try EtcdEndpoint(parsing: endpoint) }
        for (field, value) in [("--store-cacert", caFile), ("--store-cert", certFile), ("--store-key", keyFile)] {
            if let value, value.isEmpty { throw NetworkError.invalid(field, value, "is an empty path") }
        }
        switch (certFile, keyFile) {
        case (let cert?, nil): throw NetworkError.invalid("--store-cert", cert, "needs --store-key with it")
        case (nil, let key?): throw NetworkError.invalid("--store-key", key, "needs --store-cert with it")
        default: break
        }
        guard requestTimeout > .zero else {
            throw NetworkError.invalid("etcd request timeout", "\(requestTimeout)", "must be positive")
        }
        self.endpoints = endpoints
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.requestTimeout = requestTimeout
    }

    /// Parses a comma-separated `--store` value (`http://a:2379,http://b:2379`): each endpoint
    /// checked, blanks around commas ignored.
    public static func endpoints(parsing text: String) throws -> [String] {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        let endpoints = text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            String(part.drop(while: blank).reversed().drop(while: blank).reversed())
        }
        guard !endpoints.isEmpty, !endpoints.allSatisfy(\.isEmpty) else {
            throw NetworkError.invalid("--store", text, "names no etcd endpoint")
        }
        for endpoint in endpoints {
            guard !endpoint.isEmpty else { throw NetworkError.invalid("--store", text, "has an empty endpoint between commas") }
            _ = try EtcdEndpoint(parsing: endpoint)
        }
        return endpoints
    }
}

/// One endpoint as AsyncHTTPClient reaches it.
struct EtcdEndpoint: Sendable, Hashable {
    /// As the user wrote it, for messages.
    let text: String
    /// The URL without a path: `http://127.0.0.1:2379`, `http+unix://%2Frun%2Fetcd.sock%3A0`.
    let baseURL: String
    let tls: Bool
    let unixSocket: Bool

    static let defaultPort = 2379

    init(parsing text: String) throws {
        func invalid(_ reason: String) -> NetworkError { NetworkError.invalid("--store", text, reason) }
        guard let separator = text.firstRange(of: "://") else {
            throw invalid("is not a URL (http://host:port, https://host:port, unix://path or unixs://path)")
        }
        let scheme = text[..<separator.lowerBound].lowercased()
        let rest = String(text[separator.upperBound...])
        self.text = text
        switch scheme {
        case "http", "https":
            tls = scheme == "https"
            unixSocket = false
            var authority = Substring(rest)
            if authority.hasSuffix("/") { authority = authority.dropLast() }
            guard !authority.isEmpty else { throw invalid("has no host") }
            guard !authority.contains(where: { "/?#@ ".contains($0) }) else {
                throw invalid("must be scheme://host:port with no path, query or user")
            }
            let host: Substring
            var portText: Substring?
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else { throw invalid("has an unclosed [") }
                host = authority[authority.startIndex...close]
                let after = authority[authority.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { throw invalid("has text after ]") }
                    portText = after.dropFirst()
                }
                guard IPv6Address(host.dropFirst().dropLast()) != nil else {
                    throw invalid("has no valid IPv6 address in brackets")
                }
            } else {
                let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count <= 2 else { throw invalid("has several ':' (write an IPv6 address in brackets)") }
                host = parts[0]
                portText = parts.count == 2 ? parts[1] : nil
                guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }) else {
                    throw invalid("has no valid host name or address")
                }
            }
            var port = Self.defaultPort
            if let portText {
                guard let value = Int(portText), (1...65535).contains(value) else { throw invalid("has no valid port") }
                port = value
            }
            baseURL = "\(scheme)://\(host):\(port)"
        case "unix", "unixs":
            tls = scheme == "unixs"
            unixSocket = true
            guard !rest.isEmpty else { throw invalid("has no socket path") }
            guard !rest.utf8.contains(0) else { throw invalid("has a NUL byte") }
            baseURL = (tls ? "https+unix://" : "http+unix://") + Self.percentEncoded(rest)
        default:
            throw invalid("has an unknown scheme \"\(scheme)\" (http, https, unix or unixs)")
        }
    }

    /// Every byte but RFC 3986's unreserved ones as %XX: a socket path as a URL's host.
    static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                output.append(byte)
            default:
                output += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
