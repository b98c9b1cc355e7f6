#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NameService
import NetCore

/// Names on DNS-enabled networks: the records the resolver answers from, kept with the
/// endpoints in the same transactions; the resolver started when a name is first recorded;
/// `/etc/netns/NAME/resolv.conf` for the sandboxes netctl made (the `ip netns exec` convention).
extension Netctl {
    var nameTables: NameTables { NameTables(database: store.database) }

    /// What the resolver serves of a network: its gateways, for the clients in its subnets.
    func nameNetwork(_ network: NetworkRecord) -> NameNetwork {
        NameNetwork(key: Self.stateKey(network.name), listen: network.subnets.compactMap(\.gateway), subnets: network.subnets.map(\.subnet))
    }

    /// The names an endpoint answers to: its sandbox's name, when that is a DNS name, and its aliases.
    func names(of sandbox: SandboxRecord, aliases: [String]) -> [String] {
        var names = aliases
        if (try? Self.validateAlias(sandbox.name)) != nil {
            names.insert(sandbox.name, at: 0)
        } else {
            warn("sandbox \"\(sandbox.name)\" is not a DNS name (RFC 1123): only its aliases resolve")
        }
        return names
    }

    /// Records the endpoint's names on its network (replacing what it had) and says which
    /// resolver the sandbox asks. Call in the transaction that records the endpoint.
    func recordNames(_ endpoint: inout EndpointRecord, sandbox: SandboxRecord, network: NetworkRecord) throws {
        guard network.dnsEnabled else { return }
        let key = Self.stateKey(network.name)
        try nameTables.upsert(nameNetwork(network))
        try nameTables.replace(owner: Self.nameOwner(sandbox, endpoint.interface), on: key, names: names(of: sandbox, aliases: endpoint.aliases),
                               addresses: endpoint.addresses.map(\.address))
        endpoint.nameservers = network.subnets.compactMap(\.gateway)
    }

    func forgetNames(sandbox: SandboxRecord, interface: String, network: NetworkRecord) throws {
        try nameTables.removeRecords(owner: Self.nameOwner(sandbox, interface), on: Self.stateKey(network.name))
    }

    static func nameOwner(_ sandbox: SandboxRecord, _ interface: String) -> String { "\(sandbox.id)/\(interface)" }

    /// Starts the resolver unless it runs. A resolver that cannot start costs names, not the
    /// connect: that is told, and the next connect tries again.
    func startResolver() {
        guard launchesResolver else { return }
        do {
            try ResolverProcess.ensureRunning(storeDirectory: store.directory)
        } catch {
            warn("\(error)")
        }
    }

    /// Where `ip netns exec` and `netctl exec` find a sandbox's resolv.conf.
    static func resolvConfPath(of sandbox: SandboxRecord) -> String { "/etc/netns/\(sandbox.name)/resolv.conf" }

    /// Writes the resolv.conf of a sandbox netctl made: the resolvers of its DNS-enabled
    /// networks and netctl's search domain; removed when it has none (the host's applies then).
    func writeResolvConf(for sandbox: SandboxRecord) {
        guard sandbox.isOwned else { return }
        let path = Self.resolvConfPath(of: sandbox)
        let nameservers = ((try? tables.endpoints(sandbox: sandbox.name)) ?? []).flatMap(\.nameservers)
        var seen = Set<IPAddress>()
        let unique = nameservers.filter { seen.insert($0).inserted }
        do {
            guard !unique.isEmpty else {
                removeResolvConf(of: sandbox)
                return
            }
            try makeDirectories("/etc/netns/\(sandbox.name)", mode: 0o755)
            let text = "# netctl: the resolver of the sandbox's networks\n"
                + unique.prefix(3).map { "nameserver \($0)\n" }.joined() + "search \(NameZones.domain)\n"
            try writeFileAtomically(text, to: path)
        } catch {
            warn("cannot write \(path): \(error)")
        }
    }

    func removeResolvConf(of sandbox: SandboxRecord) {
        unlink(Self.resolvConfPath(of: sandbox))
        rmdir("/etc/netns/\(sandbox.name)")
    }

    /// Writes beside the file and renames over it: a reader sees the old file or the new.
    private func writeFileAtomically(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw NetworkError(code: .system, message: "cannot write \(temporary)", cause: Errno.current) }
        writeAll(text, to: descriptor)
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let error = Errno.current
            unlink(temporary)
            throw NetworkError(code: .system, message: "cannot write \(path)", cause: error)
        }
    }
}
