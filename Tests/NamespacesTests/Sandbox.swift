import Glibc
import Testing

enum Sandbox {
    /// Privileged tests run only as root inside the throwaway sandbox `make test` sets up.
    static let isAvailable = getuid() == 0 && getenv("NETCTL_SANDBOX") != nil
    static let reason: Comment = "needs root inside the test sandbox (run `make test`)"
}
