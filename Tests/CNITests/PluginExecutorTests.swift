import CNI
import Foundation
import NetCore
import Testing

/// Exec'ing delegate plugins: found in CNI_PATH, same environment, config on stdin.
@Suite struct PluginExecutorTests {
    /// A directory holding a shell-script plugin named `name`.
    func scriptPlugin(_ name: String, _ body: String) throws -> String {
        let directory = NSTemporaryDirectory() + "cni-exec-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + name
        try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return directory
    }

    @Test func findsThePluginInCNIPathAndPassesEnvironmentAndStdin() throws {
        let directory = try scriptPlugin("echoer", #"printf '{"cmd":"%s","id":"%s","stdin":%s}' "$CNI_COMMAND" "$CNI_CONTAINERID" "$(cat)""#)
        let executable = try #require(PluginExecutor.find("echoer", in: ["/nonexistent", directory]))
        let output = try PluginExecutor.run(executable, command: .add, environment: ["CNI_CONTAINERID": "abc", "CNI_COMMAND": "DEL"],
                                            stdin: Array(#"{"name":"n"}"#.utf8))
        let value = try JSON(parsing: output)
        #expect(value["cmd"] == "ADD")
        #expect(value["id"] == "abc")
        #expect(value["stdin"]?["name"] == "n")
    }

    @Test func aPluginsErrorJSONBecomesItsCNIError() throws {
        let directory = try scriptPlugin("failer", #"cat >/dev/null; echo '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"later"}'; exit 1"#)
        do {
            _ = try PluginExecutor.run(directory + "/failer", command: .add, environment: [:], stdin: [])
            Issue.record("expected an error")
        } catch let error as CNIError {
            #expect(error.code == .tryAgainLater)
            #expect(error.message == "busy")
            #expect(error.details == "later")
        }
    }

    @Test func aCrashWithoutJSONNamesThePluginAndStatus() throws {
        let directory = try scriptPlugin("crasher", "echo garbage; exit 3")
        #expect {
            _ = try PluginExecutor.run(directory + "/crasher", command: .add, environment: [:], stdin: [])
        } throws: { error in
            "\(error)".contains("crasher") && "\(error)".contains("status 3")
        }
    }

    /// VERSION answers without reading stdin. A config larger than the pipe's buffer makes the
    /// write fail with EPIPE; that must neither raise SIGPIPE (which kills a caller that keeps
    /// the default disposition, as cnitool does) nor fail the call.
    @Test func aPluginThatAnswersWithoutReadingStdinRaisesNoSIGPIPE() throws {
        let directory = try scriptPlugin("deaf", #"echo '{"cniVersion":"1.1.0","supportedVersions":["1.1.0"]}'"#)
        let output = try PluginExecutor.run(directory + "/deaf", command: .version, environment: [:],
                                            stdin: [UInt8](repeating: UInt8(ascii: " "), count: 1 << 20))
        #expect(try JSON(parsing: output)["cniVersion"] == "1.1.0")
        var pending = sigset_t(), mask = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0, "a SIGPIPE was left pending")
        pthread_sigmask(SIG_SETMASK, nil, &mask)
        #expect(sigismember(&mask, SIGPIPE) == 0, "SIGPIPE was left blocked")
    }

    @Test func missingPluginIsNotFound() {
        #expect(PluginExecutor.find("nosuch", in: ["/usr/bin"]) == nil)
        #expect(PluginExecutor.find("../bin/sh", in: ["/usr/bin"]) == nil)
    }
}
