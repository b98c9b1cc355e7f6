import CNI
import Foundation
import NetCore
import Testing

/// Every file in conf/ loads (or, for the containers.conf fragment, is recognised as not a network).
@Suite struct ExampleConfigTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../conf").standardized.path

    @Test func everyExampleLoads() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory).sorted()
        #expect(files.count >= 6)
        var names: [String] = []
        for file in files where file != "README.md" {
            let path = Self.directory + "/" + file
            if file == "podman-containers.conf" {
                let text = try String(contentsOfFile: path, encoding: .utf8)
                #expect(text.contains("[network]") && text.contains(#"network_backend = "cni""#))
                #expect(text.contains(#"cni_plugin_dirs = ["/usr/local/lib/netctl/cni"]"#))
                #expect(text.contains(#"network_config_dir = "/etc/cni/net.d""#))
                // TOML, not a network config: the loader says so, naming the file.
                #expect { _ = try NetworkConfigList(contentsOf: path) } throws: { error in
                    (error as? CNIError)?.code == .decodingFailure && "\(error)".contains(file)
                }
                continue
            }
            let list = try NetworkConfigList(contentsOf: path)
            #expect(list.cniVersion == CNIVersion(1, 1, 0), "\(file)")
            names.append(list.name)
            #expect(try NetworkConfigList.find(named: list.name, in: Self.directory).source == path)
        }
        #expect(names.sorted() == ["netctl-bridge", "netctl-dual", "netctl-loopback", "netctl-macvlan"])
    }

    @Test func bridgePortmapDeclaresPortMappings() throws {
        let list = try NetworkConfigList(contentsOf: Self.directory + "/bridge-portmap.conflist")
        #expect(list.plugins.map { $0["type"] } == ["bridge", "portmap"])
        #expect(list.plugins[1]["capabilities"] == ["portMappings": true])
        #expect(list.plugins[0]["ipam"]?["type"] == "host-local")
    }

    @Test func dualStackHasBothFamilies() throws {
        let list = try NetworkConfigList(contentsOf: Self.directory + "/dual-stack.conflist")
        let subnets = list.plugins[0]["ipam"]?["ranges"]?.arrayValue?.compactMap { $0.arrayValue?.first?["subnet"]?.stringValue }
        #expect(subnets?.compactMap(CIDR.init).map(\.address.family) == [.v4, .v6])
    }
}
