import NetCore

/// How `netctl-proxy` tells a launcher what went wrong through its exit status: one status
/// per ``NetworkError/Code``, so a launcher that reads only the message can still tell a port
/// in use from a bad rule.
public enum ProxyExitStatus {
    public static func status(for code: NetworkError.Code) -> Int32 {
        Int32(NetworkError.Code.allCases.firstIndex(of: code) ?? 0) + 10
    }

    /// The code ``status(for:)`` encoded, or `system` for any other status.
    public static func code(forExitStatus status: Int32) -> NetworkError.Code {
        let index = Int(status) - 10
        let codes = NetworkError.Code.allCases
        return codes.indices.contains(index) ? codes[index] : .system
    }
}
