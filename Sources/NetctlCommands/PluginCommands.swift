#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import NetCore

/// `netctl plugin serve`: runs the daemon, `netctld`, which is an executable of its own so that
/// `netctl` links no HTTP server and starts as fast as before.
struct PluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plugin", abstract: "netctl as Docker's network plugin.",
                                                    subcommands: [Serve.self])

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve Docker's NetworkDriver and IpamDriver (runs netctld in the foreground).",
            discussion: """
                Then: docker network create -d netctl --ipam-driver netctl [-o netctl.driver=bridge|macvlan] \
                [-o netctl.network=NAME] NAME. The socket is /run/docker/plugins/netctl.sock unless given; \
                dockerd finds the plugin there by name. See `netctld plugin serve --help` and README's \
                "With Docker".
                """)
        @Option(help: "The unix socket to listen on.") var socket: String?
        @Option(name: .customLong("docker-host"), help: "dockerd's API socket, asked for network and container names.")
        var dockerHost: String?
        @Flag(help: "Log every call, not only the failures.") var verbose = false

        func run() throws {
            guard let daemon = locateExecutable(named: "netctld") else {
                throw NetworkError(code: .notFound, message: "netctld is neither beside netctl nor on PATH: install it with `make install`")
            }
            var arguments = ["netctld", "plugin", "serve"]
            if let socket { arguments += ["--socket", socket] }
            if let dockerHost { arguments += ["--docker-host", dockerHost] }
            if verbose { arguments.append("--verbose") }
            var pointers = arguments.map { strdup($0) } + [nil]
            execv(daemon, &pointers)
            throw NetworkError(code: .system, message: "cannot run \(daemon)", cause: Errno.current)
        }
    }
}
