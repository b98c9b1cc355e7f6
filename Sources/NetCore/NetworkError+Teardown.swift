extension NetworkError {
    /// A step of a teardown failed; the others still ran.
    public static func teardown(_ what: String, failures: [(name: String, error: any Error)]) -> NetworkError {
        let list = failures.map { "\($0.name): \($0.error)" }.joined(separator: "; ")
        return NetworkError(code: .system, message: "\(what) left work undone: \(list)")
    }

    /// What CHECK found different from what was set up.
    package static func mismatch(_ message: String) -> NetworkError {
        NetworkError(code: .notFound, message: message)
    }
}
