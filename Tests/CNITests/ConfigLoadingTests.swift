import CNI
import Foundation
import NetCore
import Testing

/// `.conflist` and `.conf` loading, and finding a network in a config directory.
@Suite struct ConfigLoadingTests {
    @Test func readsAConflist() throws {
        let list = try NetworkConfigList(parsing: bytes("""
            {"cniVersion":"1.0.0","name":"net1","disableCheck":true,"disableGC":"true",
             "plugins":[{"type":"bridge","custom":{"kept":1}},{"type":"portmap"}]}
            """))
        #expect(list.name == "net1")
        #expect(list.cniVersion == CNIVersion(1, 0, 0))
        #expect(list.disableCheck && list.disableGC)
        #expect(list.plugins.map { $0["type"] } == ["bridge", "portmap"])
        #expect(list.plugins[0]["custom"] == ["kept": 1])
    }

    @Test func wrapsASingleConfAsAListOfOne() throws {
        let list = try NetworkConfigList(parsingSingle: bytes(#"{"cniVersion":"0.4.0","name":"lo","type":"loopback"}"#))
        #expect(list.name == "lo")
        #expect(list.cniVersion == CNIVersion(0, 4, 0))
        #expect(!list.disableCheck)
        #expect(list.plugins.count == 1 && list.plugins[0]["type"] == "loopback")
        #expect(list.raw["plugins"]?.arrayValue?.count == 1)
    }

    @Test func cniVersionsPicksTheHighestSupported() throws {
        let list = try NetworkConfigList(parsing: bytes(#"{"cniVersions":["0.3.1","1.1.0","9.0.0"],"name":"n","plugins":[{"type":"x"}]}"#))
        #expect(list.cniVersion == CNIVersion(1, 1, 0))
    }

    @Test(arguments: [
        (#"{"cniVersion":"1.0.0","name":"bad name","plugins":[{"type":"x"}]}"#, "\"name\"", "\"bad name\""),
        (#"{"cniVersion":"1.0","name":"n","plugins":[{"type":"x"}]}"#, "\"cniVersion\"", "\"1.0\""),
        (#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#, "\"plugins\"", "[]"),
        (#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../x"}]}"#, "\"plugins[0].type\"", "\"../x\""),
        (#"{"cniVersion":"1.0.0","name":"n","disableCheck":3,"plugins":[{"type":"x"}]}"#, "\"disableCheck\"", "3"),
    ])
    func errorsNameTheFileFieldAndValue(text: String, field: String, value: String) throws {
        let directory = try temporaryDirectory("conf")
        let path = directory + "/10-bad.conflist"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            _ = try NetworkConfigList(contentsOf: path)
        } throws: { error in
            let message = "\(error)"
            return (error as? CNIError)?.code == .invalidConfig && message.contains(path) && message.contains(field) && message.contains(value)
        }
    }

    @Test func anUnsupportedVersionIsCode1() {
        #expect {
            _ = try NetworkConfigList(parsing: bytes(#"{"cniVersion":"2.0.0","name":"n","plugins":[{"type":"x"}]}"#))
        } throws: { ($0 as? CNIError)?.code == .incompatibleVersion }
    }

    @Test func findsANetworkByNameInSortedFilesAndSkipsNonJSON() throws {
        let directory = try temporaryDirectory("confdir")
        let files = [
            "20-other.conflist": #"{"cniVersion":"1.0.0","name":"wanted","plugins":[{"type":"second"}]}"#,
            "10-first.conf": #"{"cniVersion":"1.0.0","name":"wanted","type":"first"}"#,
            "05-podman.conf": "[network]\nnetwork_backend = \"cni\"\n",
            "00-ignored.txt": "not a config",
            "30-json.json": #"{"cniVersion":"1.1.0","name":"jsonnet","plugins":[{"type":"j"}]}"#,
        ]
        for (name, text) in files { try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
        let wanted = try NetworkConfigList.find(named: "wanted", in: directory)
        #expect(wanted.plugins[0]["type"] == "first")
        #expect(wanted.source == directory + "/10-first.conf")
        #expect(try NetworkConfigList.find(named: "jsonnet", in: directory).plugins[0]["type"] == "j")
        #expect {
            _ = try NetworkConfigList.find(named: "absent", in: directory)
        } throws: { error in
            "\(error)".contains("absent") && "\(error)".contains(directory) && "\(error)".contains("05-podman.conf")
        }
    }
}
