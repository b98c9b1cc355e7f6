#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI
import NetCore

/// The `cni:<type>` driver, libnetwork's "remote driver" done with CNI: a network is a
/// conflist made from the network's settings, and an endpoint is an ADD of that list through
/// the CNI runtime, so any CNI plugin in the plugin directories can back a netctl network.
struct CNINetwork {
    /// `$CNI_PATH` when set, else where our plugins and Debian's are installed.
    static var pluginDirectories: [String] {
        if let path = getenv("CNI_PATH"), path.pointee != 0 {
            return String(cString: path).split(separator: ":").map(String.init)
        }
        return ["/usr/local/lib/netctl/cni", "/usr/lib/netctl/cni", "/opt/cni/bin", "/usr/lib/cni"]
    }

    let network: NetworkRecord
    let type: String
    let runtime = CNIRuntime(pluginDirectories: pluginDirectories)

    /// The list: the plugin with every `-o key=value` (values that parse as JSON are taken as
    /// JSON, the rest as strings), `host-local` IPAM over the network's subnets, and `portmap`
    /// when it is installed, so `-p` works.
    func configList() throws -> NetworkConfigList {
        var plugin: JSONObject = ["type": .string(type)]
        for (key, value) in network.options.sorted(by: { $0.key < $1.key }) {
            plugin[key] = (try? JSON(parsing: value)) ?? .string(value)
        }
        if plugin["ipam"] == nil, !network.subnets.isEmpty {
            plugin["ipam"] = ["type": "host-local", "ranges": .array(network.subnets.map { spec in
                var range: JSONObject = ["subnet": .string(spec.subnet.description)]
                if let gateway = spec.gateway { range["gateway"] = .string(gateway.description) }
                if let ipRange = spec.ipRange {
                    range["rangeStart"] = .string(ipRange.networkAddress.description)
                    range["rangeEnd"] = .string(ipRange.lastAddress.description)
                }
                return .array([.object(range)])
            })]
        }
        var plugins: [JSON] = [.object(plugin)]
        if runtime.invoker.find("portmap", in: runtime.pluginDirectories) != nil {
            plugins.append(["type": "portmap", "capabilities": ["portMappings": true]])
        }
        let list: JSON = ["cniVersion": "1.1.0", "name": .string(network.name), "plugins": .array(plugins)]
        do {
            return try NetworkConfigList(parsing: Array(list.serialized().utf8), source: "network \(network.name)")
        } catch {
            throw NetworkError.invalid("-o", "(options of cni:\(type))", "do not make a valid CNI config: \(error)")
        }
    }

    func attachment(_ sandbox: SandboxRecord, interface: String, ports: [PortMapping] = []) -> NetworkAttachment {
        var capabilities = JSONObject()
        if !ports.isEmpty {
            capabilities["portMappings"] = .array(ports.flatMap { mapping in
                mapping.hostPorts.map { hostPort -> JSON in
                    var entry: JSONObject = ["hostPort": .int(Int64(hostPort)), "containerPort": .int(Int64(mapping.containerPort(for: hostPort))),
                                             "protocol": .string(mapping.transport.rawValue)]
                    if let hostIP = mapping.hostIP { entry["hostIP"] = .string(hostIP.description) }
                    return .object(entry)
                }
            })
        }
        return NetworkAttachment(containerID: sandbox.id, netns: sandbox.path, ifName: interface, capabilityArgs: capabilities)
    }

    /// ADD; the endpoint's addresses are what the chain's result says.
    func add(_ sandbox: SandboxRecord, interface: String, ports: [PortMapping]) throws -> [CIDR] {
        try cniErrors { try runtime.add(configList(), attachment(sandbox, interface: interface, ports: ports)).ips.map(\.address) }
    }

    func delete(_ sandbox: SandboxRecord, interface: String) throws {
        try cniErrors { try runtime.delete(configList(), attachment(sandbox, interface: interface)) }
    }

    /// A plugin's CNI error as netctl's, with the plugin's message and details.
    private func cniErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CNIError {
            throw NetworkError(code: error.code == .tryAgainLater ? .busy : .system,
                               message: "CNI plugin \(type) of network \"\(network.name)\": \(error.message)\(error.details.map { " (\($0))" } ?? "")")
        }
    }
}
