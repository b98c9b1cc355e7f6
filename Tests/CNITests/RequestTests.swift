import CNI
import NetCore
import Testing

/// Environment and stdin validation, with the spec's codes and messages that name the culprit.
@Suite struct RequestTests {
    let config = Array(#"{"cniVersion":"1.1.0","name":"net1","type":"bridge","custom":{"kept":true}}"#.utf8)

    func environment(_ command: String, _ overrides: [String: String] = [:]) -> [String: String] {
        var environment = ["CNI_COMMAND": command, "CNI_CONTAINERID": "c0ffee", "CNI_NETNS": "/run/netns/x",
                           "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin:/usr/lib/cni"]
        for (key, value) in overrides { environment[key] = value }
        return environment
    }

    func error(_ environment: [String: String], stdin: [UInt8]? = nil) -> CNIError? {
        do {
            _ = try CNIRequest(environment: environment, stdin: stdin ?? config)
            return nil
        } catch {
            return error as? CNIError
        }
    }

    @Test func validAddRequestIsParsed() throws {
        let request = try CNIRequest(environment: environment("ADD", ["CNI_ARGS": "IgnoreUnknown=1;IP=10.0.0.5"]), stdin: config)
        #expect(request.command == .add)
        #expect(request.containerID == "c0ffee")
        #expect(request.interface?.rawValue == "eth0")
        #expect(request.path == ["/opt/cni/bin", "/usr/lib/cni"])
        #expect(request.arguments["IP"] == "10.0.0.5")
        #expect(request.version == CNIVersion(1, 1, 0))
        #expect(request.config.raw["custom"]?["kept"] == .bool(true))
    }

    @Test(arguments: [("ADD", "CNI_NETNS"), ("ADD", "CNI_IFNAME"), ("CHECK", "CNI_CONTAINERID"), ("DEL", "CNI_IFNAME")])
    func missingRequiredVariableIsCode4NamingIt(command: String, variable: String) {
        let failure = error(environment(command, [variable: ""]))
        #expect(failure?.code == .invalidEnvironment)
        #expect(failure?.message.contains(variable) == true)
    }

    @Test func deleteNeedsNoNetns() throws {
        let request = try CNIRequest(environment: environment("DEL", ["CNI_NETNS": ""]), stdin: config)
        #expect(request.netns == nil)
    }

    @Test func missingOrUnknownCommandIsCode4() {
        #expect(error(environment("", [:]))?.code == .invalidEnvironment)
        let unknown = error(environment("FROB"))
        #expect(unknown?.code == .invalidEnvironment)
        #expect(unknown?.message.contains("FROB") == true)
    }

    @Test(arguments: ["-leading", "has space", "slash/es", "ümlaut"])
    func badContainerIDIsCode4NamingIt(_ id: String) {
        let failure = error(environment("ADD", ["CNI_CONTAINERID": id]))
        #expect(failure?.code == .invalidEnvironment)
        #expect(failure?.message.contains(id) == true)
    }

    @Test(arguments: ["0123456789abcdef", "a/b", "a:b", "a b", ".", ".."])
    func badInterfaceNameIsCode4NamingIt(_ name: String) {
        let failure = error(environment("ADD", ["CNI_IFNAME": name]))
        #expect(failure?.code == .invalidEnvironment)
        #expect(failure?.message.contains("CNI_IFNAME") == true)
    }

    @Test func undecodableStdinIsCode6AndMissingNameIsCode7() {
        #expect(error(environment("ADD"), stdin: Array("{not json".utf8))?.code == .decodingFailure)
        #expect(error(environment("ADD"), stdin: Array("[1]".utf8))?.code == .decodingFailure)
        #expect(error(environment("ADD"), stdin: Array(#"{"cniVersion":"1.0.0"}"#.utf8))?.code == .invalidConfig)
        #expect(error(environment("ADD"), stdin: Array(#"{"cniVersion":"1.0.0","name":"bad name"}"#.utf8))?.code == .invalidConfig)
    }

    @Test func unsupportedVersionIsCode1AndEveryListedVersionIsAccepted() throws {
        let failure = error(environment("ADD"), stdin: Array(#"{"cniVersion":"0.2.0","name":"n"}"#.utf8))
        #expect(failure?.code == .incompatibleVersion)
        for version in CNIVersion.supported {
            let request = try CNIRequest(environment: environment("ADD"), stdin: Array(#"{"cniVersion":"\#(version)","name":"n"}"#.utf8))
            #expect(request.version == version)
        }
        #expect(error(environment("CHECK"), stdin: Array(#"{"cniVersion":"0.3.1","name":"n"}"#.utf8))?.code == .incompatibleVersion)
    }

    @Test func versionCommandNeedsNothing() throws {
        let request = try CNIRequest(environment: ["CNI_COMMAND": "VERSION"], stdin: [])
        #expect(request.command == .version)
        #expect(try CNIRequest(environment: ["CNI_COMMAND": "VERSION"], stdin: Array(#"{"cniVersion":"0.4.0"}"#.utf8)).version == CNIVersion(0, 4, 0))
    }

    @Test func gcReadsValidAttachmentsAndTheLegacyKey() throws {
        for key in ["cni.dev/valid-attachments", "cni.dev/attachments"] {
            let stdin = Array(#"{"cniVersion":"1.1.0","name":"n","\#(key)":[{"containerID":"a","ifname":"eth0"}]}"#.utf8)
            let request = try CNIRequest(environment: ["CNI_COMMAND": "GC", "CNI_PATH": "/x"], stdin: stdin)
            #expect(try request.config.validAttachments() == [GCAttachment(containerID: "a", interface: "eth0")])
        }
    }

    @Test func gcWithoutAValidSetIsCode7NamingTheKeyAndAnEmptyListIsNothingValid() throws {
        let request = try CNIRequest(environment: ["CNI_COMMAND": "GC", "CNI_PATH": "/x"], stdin: Array(#"{"cniVersion":"1.1.0","name":"n"}"#.utf8))
        #expect { _ = try request.config.validAttachments() } throws: { error in
            (error as? CNIError)?.code == .invalidConfig && (error as? CNIError)?.message.contains("cni.dev/valid-attachments") == true
        }
        let null = try CNIRequest(environment: ["CNI_COMMAND": "GC", "CNI_PATH": "/x"],
                                  stdin: Array(#"{"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":null}"#.utf8))
        #expect(throws: CNIError.self) { try null.config.validAttachments() }
        for key in ["cni.dev/valid-attachments", "cni.dev/attachments"] {
            let empty = try CNIRequest(environment: ["CNI_COMMAND": "GC", "CNI_PATH": "/x"],
                                       stdin: Array(#"{"cniVersion":"1.1.0","name":"n","\#(key)":[]}"#.utf8))
            #expect(try empty.config.validAttachments().isEmpty)
        }
    }

    @Test(arguments: ["GC", "STATUS"])
    func gcAndStatusNeed110(command: String) throws {
        for version in ["0.4.0", "1.0.0"] {
            let failure = error(environment(command), stdin: Array(#"{"cniVersion":"\#(version)","name":"n"}"#.utf8))
            #expect(failure?.code == .incompatibleVersion)
            #expect(failure?.message.contains(command) == true)
        }
        let request = try CNIRequest(environment: environment(command), stdin: Array(#"{"cniVersion":"1.1.0","name":"n"}"#.utf8))
        #expect(request.command.rawValue == command)
    }

    @Test func gcNeedsCNIPathAndStatusDoesNot() throws {
        let stdin = Array(#"{"cniVersion":"1.1.0","name":"n"}"#.utf8)
        let failure = error(["CNI_COMMAND": "GC"], stdin: stdin)
        #expect(failure?.code == .invalidEnvironment)
        #expect(failure?.message.contains("CNI_PATH") == true)
        let status = try CNIRequest(environment: ["CNI_COMMAND": "STATUS"], stdin: stdin)
        #expect(status.command == .status)
        #expect(status.version == CNIVersion(1, 1, 0))
        #expect(status.config.name == "n")
        #expect(status.path.isEmpty)
        #expect(status.containerID == nil && status.netns == nil && status.interface == nil)
    }

    @Test func cniArgsAreParsedAndUnknownKeysRefusedUnlessIgnored() throws {
        let arguments = try CNIArguments(parsing: "K8S_POD_NAME=web;IP=10.0.0.5")
        #expect(arguments["K8S_POD_NAME"] == "web")
        #expect(throws: CNIError.self) { try arguments.validate(known: ["IP"]) }
        try CNIArguments(parsing: "IgnoreUnknown=1;K8S_POD_NAME=web").validate(known: ["IP"])
        #expect(throws: CNIError.self) { try CNIArguments(parsing: "novalue") }
    }

    @Test func unimplementedOptionIsCode2NamingKeyAndValue() throws {
        let config = try PluginConfig(parsing: Array(#"{"name":"n","vlan":100,"promiscMode":false}"#.utf8))
        do {
            try config.rejectUnimplemented(["vlan", "promiscMode", "absent"])
            Issue.record("expected an error")
        } catch let error as CNIError {
            #expect(error.code == .unsupportedField)
            #expect(error.message.contains("vlan") && error.message.contains("100"))
        }
        try config.rejectUnimplemented(["promiscMode"])
        #expect(throws: CNIError.self) { try config.bool("vlan") }
    }
}
