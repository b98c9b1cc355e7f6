#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import NameService
import NetCore
import Store

/// netctl-dns: the resolver of netctl's networks. Started by netctl (or the `dnsname` CNI
/// plugin) when a name is first recorded; see README's "Names".
///
///     netctl-dns [--state-dir DIR] [--resolv-conf PATH] [--udp-threads N]
func main() -> Int32 {
    var stateDirectory = StateStore.configuredDirectory
    var resolvConf = "/etc/resolv.conf"
    var udpThreads = defaultUDPThreads(cores: sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--state-dir": stateDirectory = arguments.popFirst() ?? stateDirectory
        case "--resolv-conf": resolvConf = arguments.popFirst() ?? resolvConf
        case "--udp-threads":
            guard let count = arguments.popFirst().flatMap({ Int($0) }), count >= 1 else {
                writeAll("netctl-dns: --udp-threads takes a number of threads, 1 or more\n", to: 2)
                return 2
            }
            udpThreads = count
        case "-h", "--help":
            print("""
                usage: netctl-dns [--state-dir DIR] [--resolv-conf PATH] [--udp-threads N]
                Answers DNS on the gateways of netctl's DNS-enabled networks: the names of the sandboxes on each
                network and their aliases (A, AAAA, PTR; NXDOMAIN in the "netctl" domain), and forwards the rest to
                the servers in resolv.conf. Reads the names from the store (NETCTL_STATE_DIR or DIR) whenever it
                changes. One runs per network namespace and store; a second exits at once. netctl starts it.
                UDP is answered by N threads (default: one per two cores, at most 8), all on the same sockets.
                """)
            return 0
        default:
            writeAll("netctl-dns: unknown argument \(argument) (see --help)\n", to: 2)
            return 2
        }
    }
    let log: @Sendable (String) -> Void = { writeAll("netctl-dns[\(getpid())]: \($0)\n", to: 2) }
    let ready = ResolverProcess.readyDescriptor
    defer { close(ready) }

    // One per namespace and store: the lock says which.
    do { try makeDirectories("/run/netctl", mode: 0o755) } catch { log("\(error)") }
    let lock = open(ResolverProcess.lockPath(storeDirectory: stateDirectory), O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard lock >= 0, flock(lock, LOCK_EX | LOCK_NB) == 0 else { return 0 }

    // SIGTERM and SIGINT arrive on a descriptor the loop polls, whichever thread they hit.
    var stopping = sigset_t()
    sigemptyset(&stopping)
    sigaddset(&stopping, SIGTERM)
    sigaddset(&stopping, SIGINT)
    pthread_sigmask(SIG_BLOCK, &stopping, nil)
    signal(SIGPIPE, SIG_IGN)
    let signals = signalfd(-1, &stopping, Int32(SFD_CLOEXEC | SFD_NONBLOCK))

    let resolver: Resolver
    do {
        let store = try StateStore(directory: stateDirectory, schema: [NameTables.schema])
        resolver = try Resolver(store: store, resolvConf: resolvConf, signals: signals, udpThreads: udpThreads, log: log)
    } catch {
        log("cannot open the store in \(stateDirectory): \(error)")
        return 1
    }
    resolver.refresh()
    resolver.refreshUpstreams()
    writeAll("ready\n", to: ready)
    while resolver.run() == .idle {
        // A network recorded while the lock was still held started no resolver: look once
        // more with the lock let go, and serve it if no new resolver took the lock meanwhile.
        flock(lock, LOCK_UN)
        resolver.refresh()
        guard resolver.hasNetworks, flock(lock, LOCK_EX | LOCK_NB) == 0 else { return 0 }
    }
    return 0
}

/// Threads that answer UDP: one per two cores, at most 8. The queries' senders are on the same
/// host and need CPU too: each query's way through the veth and the bridge runs on the
/// sender's core, and a worker per core competes with them for every core (on 2 cores, 1
/// worker answered names at 16 clients at 1.5x the rate of 2, p99 0.6x; bench/dns/ab.py).
func defaultUDPThreads(cores: Int) -> Int {
    min(max(1, cores / 2), 8)
}

exit(main())
