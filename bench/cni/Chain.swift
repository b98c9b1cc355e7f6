import NetCore

/// One side of the comparison: a plugin directory (`CNI_PATH`) and the network it owns, so
/// the two sides never share a bridge, a subnet, an address store or host ports.
struct Side: Sendable {
    let label: String
    let pluginDirectory: String
    /// The second octet of the side's 10.x.0.0/16 subnets (the chain adds its own offset).
    let subnetOctet: Int
    let firstHostPort: Int
    let dataDirectory: String
    /// Added to every plugin's environment (`--steps` sets `NETCTL_PHASE_TRACE`).
    var environment: [String] = []
}

/// A conflist, run the way libcni runs one.
struct Chain: Sendable {
    enum Kind: String, CaseIterable, Sendable {
        case bridge, portmap
        /// `host-local` exec'd alone, as the IPAM of a network: the store's share of a call,
        /// without the kernel's.
        case ipam

        var title: String {
            switch self {
            case .bridge: "bridge + host-local"
            case .portmap: "bridge + host-local + portmap"
            case .ipam: "host-local alone"
            }
        }

        /// The plugins that must answer VERSION for the chain to run.
        var pluginTypes: [String] {
            switch self {
            case .bridge: ["bridge"]
            case .portmap: ["bridge", "portmap"]
            case .ipam: ["host-local"]
            }
        }
    }

    let kind: Kind
    let side: Side

    var networkName: String { "bench-\(side.label)-\(kind.rawValue)" }
    var bridgeName: String { "bc\(side.label.prefix(1))\(kind == .bridge ? "b" : "p")0" }
    var subnet: String {
        let offset = switch kind { case .bridge: 0; case .portmap: 1; case .ipam: 2 }
        return "10.\(side.subnetOctet + offset).0.0/16"
    }

    /// The plugin list of the conflist: bridge with host-local IPAM (no ipMasq: the plain
    /// interface chain), then portmap with its capability when the chain has it.
    var plugins: [JSONObject] {
        let ipam: JSONObject = [
            "type": "host-local",
            "ranges": [[["subnet": .string(subnet)]]],
            "routes": [["dst": "0.0.0.0/0"]],
            "dataDir": .string("\(side.dataDirectory)/\(kind.rawValue)"),
        ]
        // The IPAM plugin reads the `ipam` section of the network's config, whatever its type.
        guard kind != .ipam else { return [["type": "host-local", "ipam": .object(ipam)]] }
        let bridge: JSONObject = [
            "type": "bridge", "bridge": .string(bridgeName), "isGateway": true, "ipMasq": false,
            "ipam": .object(ipam),
        ]
        guard kind == .portmap else { return [bridge] }
        let portmap: JSONObject = ["type": "portmap", "capabilities": ["portMappings": true], "snat": true]
        return [bridge, portmap]
    }

    /// The WAL files of the stores our plugins write: host-local's `dataDir` and portmap's
    /// state directory (the sandbox's `/var/lib/netctl`).
    var walFiles: [String] {
        ["\(side.dataDirectory)/\(kind.rawValue)/netctl.db-wal", "/var/lib/netctl/netctl.db-wal"]
    }

    /// The runtime's view of container `index`: its id, netns and the capability arguments.
    struct Container: Sendable {
        let id: String
        let netns: String
        let hostPort: Int
    }

    func container(_ index: Int, netns: String) -> Container {
        Container(id: "bench-\(side.label)-\(kind.rawValue)-\(index)", netns: netns, hostPort: side.firstHostPort + index)
    }

    /// ADD: each plugin in order, the previous one's result injected as `prevResult`.
    /// Returns the final result (what libcni caches) and every exec it made.
    func add(_ container: Container, memoryAtExit: Bool = false) throws -> (result: JSON, executions: [(String, Execution)]) {
        var previous: JSON?
        var executions: [(String, Execution)] = []
        for plugin in plugins {
            let execution = try run(plugin, command: "ADD", container: container, previous: previous, memoryAtExit: memoryAtExit)
            executions.append((typeName(plugin), execution))
            guard execution.succeeded else {
                throw SpawnError(message: "\(side.label) \(typeName(plugin)) ADD \(container.id) failed (\(execution.status)): \(execution.output)\(execution.errorText)")
            }
            previous = try JSON(parsing: execution.stdout)
        }
        return (previous ?? .null, executions)
    }

    /// DEL: the plugins in reverse order, each given the cached ADD result as `prevResult`.
    func delete(_ container: Container, cached: JSON, memoryAtExit: Bool = false) throws -> [(String, Execution)] {
        var executions: [(String, Execution)] = []
        for plugin in plugins.reversed() {
            let execution = try run(plugin, command: "DEL", container: container, previous: cached, memoryAtExit: memoryAtExit)
            executions.append((typeName(plugin), execution))
            guard execution.succeeded else {
                throw SpawnError(message: "\(side.label) \(typeName(plugin)) DEL \(container.id) failed (\(execution.status)): \(execution.output)\(execution.errorText)")
            }
        }
        return executions
    }

    private func typeName(_ plugin: JSONObject) -> String { plugin["type"]?.stringValue ?? "?" }

    /// Builds one plugin's network config as libcni does (name, cniVersion, prevResult, and
    /// `runtimeConfig` holding only the capabilities the plugin declares) and execs it.
    private func run(_ plugin: JSONObject, command: String, container: Container, previous: JSON?,
                     memoryAtExit: Bool) throws -> Execution {
        var config = plugin
        config["name"] = .string(networkName)
        config["cniVersion"] = "1.0.0"
        config["capabilities"] = nil
        if plugin["capabilities"]?["portMappings"]?.boolValue == true {
            config["runtimeConfig"] = .object(["portMappings": [[
                "hostPort": .int(Int64(container.hostPort)), "containerPort": 80, "protocol": "tcp",
            ]]])
        }
        if let previous { config["prevResult"] = previous }
        let environment = [
            "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(container.id)", "CNI_NETNS=\(container.netns)",
            "CNI_IFNAME=eth0", "CNI_PATH=\(side.pluginDirectory)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        ] + side.environment
        return try execute("\(side.pluginDirectory)/\(typeName(plugin))", environment: environment,
                           input: Array(JSON.object(config).serialized().utf8), memoryAtExit: memoryAtExit)
    }
}
