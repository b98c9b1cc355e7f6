import NetCore
import NetctlModel

/// A record's JSON as the CLI prints it: the stored form with `Created` as RFC 3339 text.
private func presented(_ json: JSON, created: Int64) -> JSON {
    guard case .object(var object) = json else { return json }
    object["Created"] = .string(rfc3339(created))
    return .object(object)
}

extension NetworkRecord {
    var output: JSON {
        guard !dockerNetworks.isEmpty || driver.spansHosts, case .object(var object) = presented(json, created: created) else {
            return presented(json, created: created)
        }
        if driver.spansHosts {
            object["Hosts"] = .array(overlayShares.map { share in
                ["Name": .string(share.hostName), "Id": .string(share.hostID), "Underlay": .string(share.underlay.description),
                 "Subnet": .string(share.subnet.description), "VtepMAC": .string(share.vtepMAC.description),
                 "Endpoints": .int(Int64(share.endpoints))]
            })
        }
        guard !dockerNetworks.isEmpty else { return .object(object) }
        object["Docker"] = .array(dockerNetworks.map { docker in
            var entry: JSONObject = ["Id": .string(docker.id), "MadeForIt": .bool(docker.made)]
            if let name = docker.name { entry["Name"] = .string(name) }
            return .object(entry)
        })
        return .object(object)
    }

    /// The Docker networks it carries, by Docker's name (or short ID until dockerd told it).
    var dockerNames: String {
        dockerNetworks.isEmpty ? "-" : dockerNetworks.map { $0.name ?? String($0.id.prefix(12)) }.joined(separator: ",")
    }
}

extension SandboxRecord {
    var output: JSON { presented(json, created: created) }
}

/// The host's networks, their bridges, the sandboxes on them and the published ports, as a
/// Graphviz graph: `netctl network inspect --format dot | dot -Tsvg > netctl.svg`.
enum TopologyGraph {
    static func render(networks: [NetworkRecord], endpoints: [EndpointRecord], sandboxes: [SandboxRecord]) -> String {
        var lines = ["digraph netctl {", "    rankdir=LR;", "    node [fontname=\"Helvetica\", fontsize=11];",
                     "    edge [fontname=\"Helvetica\", fontsize=10];"]
        let shown = Set(networks.map(\.name))
        for network in networks {
            let subnets = network.subnets.map(\.subnet.description).joined(separator: "\\n")
            let kind = "\(network.driver)" + (network.isInternal ? ", internal" : "")
            lines.append("    \(quoted("network:" + network.name)) [shape=box, style=rounded, label=\(quoted("\(network.name)\\n\(kind)" + (subnets.isEmpty ? "" : "\\n" + subnets)))];")
            if network.driver.hasHostBridge {
                lines.append("    \(quoted("link:" + network.bridgeName)) [shape=hexagon, label=\(quoted(network.bridgeName))];")
                lines.append("    \(quoted("network:" + network.name)) -> \(quoted("link:" + network.bridgeName)) [arrowhead=none, style=dashed];")
            }
        }
        let paths = Dictionary(sandboxes.map { ($0.name, $0.path) }, uniquingKeysWith: { first, _ in first })
        var drawnSandboxes = Set<String>()
        for endpoint in endpoints where shown.contains(endpoint.network) {
            if drawnSandboxes.insert(endpoint.sandbox).inserted {
                let path = paths[endpoint.sandbox].map { "\\n" + $0 } ?? ""
                lines.append("    \(quoted("sandbox:" + endpoint.sandbox)) [shape=ellipse, label=\(quoted(endpoint.sandbox + path))];")
            }
            let label = ([endpoint.interface] + endpoint.addresses.map(\.description)).filter { !$0.isEmpty }.joined(separator: "\\n")
            lines.append("    \(quoted("sandbox:" + endpoint.sandbox)) -> \(quoted("network:" + endpoint.network)) [arrowhead=none, label=\(quoted(label))];")
            for port in endpoint.ports {
                let node = "port:\(endpoint.network)/\(endpoint.sandbox)/\(port)"
                lines.append("    \(quoted(node)) [shape=note, label=\(quoted("-p " + port.description))];")
                lines.append("    \(quoted(node)) -> \(quoted("sandbox:" + endpoint.sandbox));")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    /// A DOT string with its quotes escaped. Backslashes stay: the labels' `\n` line breaks
    /// are DOT escapes (names cannot hold one; a sandbox path could, and DOT reads it as one).
    private static func quoted(_ text: String) -> String {
        "\"" + text.map { $0 == "\"" ? "\\\"" : String($0) }.joined() + "\""
    }
}
