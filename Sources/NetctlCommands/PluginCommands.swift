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
            var arguments = ["plugin", "serve"]
            if let socket { arguments += ["--socket", socket] }
            if let dockerHost { arguments += ["--docker-host", dockerHost] }
            if verbose { arguments.append("--verbose") }
            try execDaemon(arguments)
        }
    }
}

/// `netctl agent`: runs this host's overlay agent, `netctld agent`, in the foreground.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run this host's overlay agent (netctld agent, in the foreground).",
        discussion: """
            One per host, for overlay networks (network create --driver overlay): it keeps the host's \
            membership and subnet shares in etcd under a lease and programs VXLAN to the other hosts. \
            Then, on any host: netctl network create --driver overlay --subnet 10.200.0.0/16 NAME; \
            netctl connect NAME SANDBOX. See `netctld agent --help` and contrib/systemd/netctl-agent.service.
            """)
    @Option(help: "etcd's client URLs, comma-separated: http://HOST:PORT, https://HOST:PORT, unix:///PATH.") var store: String
    @Option(help: "This host's underlay address: other hosts send VXLAN to it.") var advertise: String
    @Option(name: .customLong("lease-ttl"), help: "Seconds a host outlives its last keepalive (default 20).") var leaseTTL: Int?
    @Option(name: .customLong("store-cacert"), help: "CA certificate (PEM) for etcd's server certificate.") var storeCACert: String?
    @Option(name: .customLong("store-cert"), help: "Client certificate (PEM) for etcd.") var storeCert: String?
    @Option(name: .customLong("store-key"), help: "The client certificate's key (PEM).") var storeKey: String?
    @Option(help: "Key prefix in etcd shared by the hosts of one cluster (default /netctl/v1).") var prefix: String?
    @Option(name: .customLong("host-name"), help: "This host's name in messages and `network inspect`.") var hostName: String?
    @Flag(help: "Log more.") var verbose = false

    func run() throws {
        var arguments = ["agent", "--store", store, "--advertise", advertise]
        let optional: [(String, String?)] = [("--lease-ttl", leaseTTL.map(String.init)), ("--store-cacert", storeCACert),
                                             ("--store-cert", storeCert), ("--store-key", storeKey), ("--prefix", prefix),
                                             ("--host-name", hostName)]
        for case let (flag, value?) in optional { arguments += [flag, value] }
        if verbose { arguments.append("--verbose") }
        try execDaemon(arguments)
    }
}

/// Replaces this process with `netctld ARGUMENTS`.
private func execDaemon(_ arguments: [String]) throws {
    guard let daemon = locateExecutable(named: "netctld") else {
        throw NetworkError(code: .notFound, message: "netctld is neither beside netctl nor on PATH: install it with `make install`")
    }
    var pointers = (["netctld"] + arguments).map { strdup($0) } + [nil]
    execv(daemon, &pointers)
    throw NetworkError(code: .system, message: "cannot run \(daemon)", cause: Errno.current)
}
