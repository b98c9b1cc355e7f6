import CNI
import NetCore
import Testing

/// The protocol around a plugin: stdout JSON, exit status, version conversion.
@Suite struct PluginMainTests {
    struct Plugin: CNIPlugin {
        var failure: CNIError?
        func add(_ request: CNIRequest) throws -> CNIResult {
            if let failure { throw failure }
            var result = CNIResult()
            result.ips = [CNIResult.IPConfig(address: try CIDR(parsing: "10.1.0.2/24"))]
            return result
        }
        func delete(_ request: CNIRequest) throws { if let failure { throw failure } }
        func check(_ request: CNIRequest) throws {}
        func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws {}
        func status(_ request: CNIRequest) throws { if let failure { throw failure } }
    }

    func invoke(_ plugin: Plugin, _ environment: [String: String], _ stdin: String) -> (Int32, JSON?) {
        var output = ""
        let status = PluginMain.run(plugin, environment: environment, stdin: Array(stdin.utf8)) { output += $0 }
        return (status, try? JSON(parsing: output))
    }

    let add = ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0", "CNI_PATH": "/x"]

    @Test func versionListsEverySupportedVersion() {
        let (status, output) = invoke(Plugin(), ["CNI_COMMAND": "VERSION"], #"{"cniVersion":"0.4.0"}"#)
        #expect(status == 0)
        #expect(output?["cniVersion"] == "1.1.0")
        #expect(output?["supportedVersions"] == ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    }

    @Test func addPrintsTheResultInTheConfigsVersion() {
        let (status, output) = invoke(Plugin(), add, #"{"cniVersion":"0.3.1","name":"n","type":"t"}"#)
        #expect(status == 0)
        #expect(output?["cniVersion"] == "0.3.1")
        #expect(output?["ips"]?.arrayValue?.first?["version"] == "4")
    }

    @Test func errorsGoToStdoutAsSpecJSONWithExit1() {
        let failure = CNIError(.tryAgainLater, "store is busy")
        let (status, output) = invoke(Plugin(failure: failure), add, #"{"cniVersion":"1.0.0","name":"n"}"#)
        #expect(status == 1)
        #expect(output?["code"] == 11)
        #expect(output?["msg"] == "store is busy")
        #expect(output?["cniVersion"] == "1.0.0")
    }

    @Test func environmentErrorsAreReportedTheSameWay() {
        let (status, output) = invoke(Plugin(), ["CNI_COMMAND": "ADD"], "{}")
        #expect(status == 1)
        #expect(output?["code"] == 4)
        #expect(output?["msg"]?.stringValue?.contains("CNI_CONTAINERID") == true)
    }

    /// The spec: an error's `cniVersion` is the config's, also for errors found before the
    /// request is whole; a version the plugin does not speak gets its own.
    @Test(arguments: [
        (["CNI_COMMAND": "CHECK", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0", "CNI_PATH": "/x"],
         #"{"cniVersion":"0.3.1","name":"n","type":"t"}"#, 1, "0.3.1"),
        (["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0", "CNI_PATH": "/x"],
         #"{"cniVersion":"1.0.0","name":"n","type":"t"}"#, 4, "1.0.0"),
        (["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0", "CNI_PATH": "/x"],
         #"{"cniVersion":"9.9.9","name":"n","type":"t"}"#, 1, "1.1.0"),
    ])
    func earlyErrorsSpeakTheConfigsVersion(environment: [String: String], config: String, code: Int, version: String) {
        let (status, output) = invoke(Plugin(), environment, config)
        #expect(status == 1)
        #expect(output?["code"]?.intValue == Int64(code))
        #expect(output?["cniVersion"]?.stringValue == version)
    }

    @Test func networkErrorsMapToSpecCodes() {
        let invalid = NetworkError.invalid("mtu", "99999", "too large")
        let (_, output) = invoke(Plugin(failure: nil), add, #"{"name":"n"}"#)
        #expect(output?["cniVersion"] == "1.1.0") // no cniVersion: the current one
        #expect(CNIError(invalid).code == .invalidConfig)
        #expect(CNIError(NetworkError(code: .busy, message: "x")).code == .tryAgainLater)
        #expect(CNIError(NetworkError(code: .unsupported, message: "x")).code == .unsupportedField)
    }
}
