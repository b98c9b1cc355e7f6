#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Cluster
import Dispatch
import NetCore
import NetctlModel
import OverlayAgent

/// `netctld agent`: the overlay agent of this host, in the foreground.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run this host's overlay agent: VXLAN between hosts, membership and subnet shares in etcd.",
        discussion: """
            One per host. It holds an etcd lease for the host (keepalive at a third of its TTL), takes the \
            host's share of every overlay network with a create-if-absent transaction, watches the networks \
            and hosts under --prefix, and programs one neighbour, FDB entry and route per other host on each \
            network's VXLAN device. A host whose agent stops is forgotten by the others when its lease \
            expires; an agent started again within the TTL keeps its shares. Logs go to stderr; SIGTERM or \
            SIGINT stops it (the lease is kept for the TTL). See contrib/systemd/netctl-agent.service.
            """)

    @Option(help: "etcd's client URLs, comma-separated: http://HOST:PORT, https://HOST:PORT, unix:///PATH.")
    var store: String
    @Option(help: "This host's underlay address: other hosts send VXLAN to it. Its interface gives the MTU.")
    var advertise: String
    @Option(name: .customLong("lease-ttl"), help: "Seconds a host outlives its last keepalive (at least 2).")
    var leaseTTL: Int64 = 20
    @Option(name: .customLong("store-cacert"), help: "CA certificate (PEM) that etcd's server certificate is checked against.")
    var storeCACert: String?
    @Option(name: .customLong("store-cert"), help: "Client certificate (PEM) for etcd.")
    var storeCert: String?
    @Option(name: .customLong("store-key"), help: "The client certificate's key (PEM).")
    var storeKey: String?
    @Option(help: "Key prefix in etcd shared by the hosts of one cluster.")
    var prefix = OverlayKeys.defaultPrefix
    @Option(name: .customLong("host-name"), help: "This host's name in messages and `network inspect` (default: the host name).")
    var hostName: String?
    @Flag(help: "Log more.") var verbose = false

    func run() throws {
        let signals = TerminationSignals.installed
        guard let address = IPAddress(advertise), address.family == .v4 else {
            throw ValidationError("--advertise \(advertise): must be this host's IPv4 underlay address")
        }
        guard leaseTTL >= 2 else { throw ValidationError("--lease-ttl \(leaseTTL): must be at least 2 (etcd's minimum)") }
        let etcd = try EtcdConfiguration(endpoints: EtcdConfiguration.endpoints(parsing: store), caFile: storeCACert,
                                         certFile: storeCert, keyFile: storeKey)
        let log = Log(verbose: verbose)
        let settings = AgentSettings(etcd: etcd, advertise: address, leaseTTL: leaseTTL, keys: OverlayKeys(prefix: prefix),
                                     hostName: hostName ?? Self.systemHostName())
        let agent = try OverlayAgent(settings: settings) { log.info($0) }
        log.info("overlay agent: etcd at \(etcd.endpoints.joined(separator: ",")), prefix \(settings.keys.prefix)")
        let outcome = runUntilSignalled(signals) {
            defer { Task { await agent.shutdown() } }
            try await agent.run()
        }
        if case .failure(let error) = outcome, !(error is CancellationError) {
            log.info("stopped: \(error)")
            throw ExitCode(1)
        }
        log.info("stopped; the lease stays until its TTL, so a restart keeps this host's shares")
    }

    static func systemHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The outcome of an async body run from a synchronous command.
final class Outcome: @unchecked Sendable {
    // Written once by the task before the semaphore is signalled, read after the wait.
    var result: Result<Void, any Error> = .success(())
}

/// Runs `body` on the concurrency pool until it returns or SIGTERM/SIGINT cancels it.
func runUntilSignalled(_ signals: TerminationSignals, _ body: @escaping @Sendable () async throws -> Void) -> Result<Void, any Error> {
    let done = DispatchSemaphore(value: 0)
    let outcome = Outcome()
    let task = Task {
        do { try await body() } catch { outcome.result = .failure(error) }
        done.signal()
    }
    signals.onSignal { _ in task.cancel() }
    done.wait()
    return outcome.result
}
