#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Dispatch
import DockerPlugin
import NetCore
import NetctlModel
import NIOCore
import NIOHTTP1
import NIOPosix

@main
struct Netctld: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netctld",
        abstract: "netctl's daemon: Docker's network and IPAM plugin, and the overlay agent.",
        subcommands: [Plugin.self, AgentCommand.self, OverlayCommand.self])
}

struct Plugin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin", abstract: "Docker's network and IPAM plugin.", subcommands: [Serve.self])
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve Docker's NetworkDriver and IpamDriver on a unix socket, in the foreground.",
        discussion: """
            dockerd finds the plugin by its socket: `docker network create -d netctl --ipam-driver netctl NAME`. \
            Networks and endpoints are kept in netctl's store (NETCTL_STATE_DIR, default /var/lib/netctl), so a \
            restart of the plugin or of dockerd loses nothing; `netctl network ls` and `netctl port ls` show them. \
            Under systemd the socket may be passed in (LISTEN_FDS, see contrib/systemd/netctl-plugin.socket). \
            Logs go to stderr; SIGTERM or SIGINT stops it once the calls under way are answered.
            """)

    static let defaultSocket = "/run/docker/plugins/netctl.sock"

    @Option(help: "The unix socket to listen on (ignored when systemd passes one).") var socket = defaultSocket
    @Option(name: .customLong("docker-host"), help: "dockerd's API socket, asked for network and container names.")
    var dockerHost = "unix:///run/docker.sock"
    @Flag(help: "Log every call, not only the failures.") var verbose = false

    func run() throws {
        // Before any thread exists and before the socket is there for anyone to see.
        let signals = TerminationSignals.installed
        let log = Log(verbose: verbose)
        let model = try Netctl(names: PluginHandler.dockerFieldNames)
        model.warn = { log.info("warning: \($0)") }
        let handler = PluginHandler(model: model)
        let dispatcher = PluginDispatcher(handler: handler, log: log)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let names = EngineNames(group: group, socketPath: String(dockerHost.trimmingPrefix("unix://")), dispatcher: dispatcher, log: log)
        dispatcher.withHandler { handler in handler.namesWanted = { names.refresh(networkID: $0) } }

        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 128)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(HTTPPluginHandler(dispatcher: dispatcher))
                }
            }
        let listener: Listener
        do {
            listener = try Listener.open(socket, bootstrap: bootstrap)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        log.info("serving Docker's NetworkDriver and IpamDriver on \(listener.description)")

        signals.onSignal { number in
            log.info("stopping (signal \(number))")
            listener.channel.close(promise: nil)
        }
        dispatcher.withHandler { handler in
            for id in handler.servedNetworkIDs() { names.refresh(networkID: id) }
        }
        try? listener.channel.closeFuture.wait()
        dispatcher.drain()
        try? group.syncShutdownGracefully()
        listener.removeSocketFile()
        log.info("stopped")
    }
}

/// The listening socket: passed by systemd, or bound at a path (whose file it removes at the end).
struct Listener {
    let channel: any Channel
    let path: String?
    let description: String

    static func open(_ path: String, bootstrap: ServerBootstrap) throws -> Listener {
        if let descriptor = SocketActivation.passedSocket() {
            let channel = try bootstrap.withBoundSocket(descriptor).wait()
            return Listener(channel: channel, path: nil, description: "the socket systemd passed (fd \(descriptor))")
        }
        if path == Serve.defaultSocket, getuid() != 0 {
            throw ValidationError("the default socket \(path) is dockerd's plugin directory and needs root; give --socket PATH")
        }
        if SocketActivation.isServed(path) {
            throw ValidationError("another process serves \(path); stop it first (or give --socket PATH)")
        }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty { try makeDirectories(directory, mode: 0o755) }
        let channel = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
        // dockerd runs as root: nobody else has any business on this socket.
        chmod(path, 0o600)
        return Listener(channel: channel, path: path, description: path)
    }

    func removeSocketFile() {
        if let path { unlink(path) }
    }
}
