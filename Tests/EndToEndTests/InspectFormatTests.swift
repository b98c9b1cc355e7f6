import Foundation
import NetCore
import Testing

/// What `netctl network inspect` prints for scripts (`Created` as docker prints it) and for
/// people (`--format dot`: the host's topology as a Graphviz graph).
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct InspectFormatTests {
    @Test func createdIsRFC3339AndTheDotGraphShowsNetworksSandboxesAndPorts() throws {
        defer {
            _ = try? netctl("sandbox", "rm", "-f", "e2edot1")
            _ = try? netctl("network", "rm", "-f", "e2edot")
        }
        #expect(try netctl("network", "create", "e2edot", "--subnet", "10.233.0.0/24", "-o", "com.docker.network.bridge.name=e2edot0").status == 0)
        #expect(try netctl("sandbox", "create", "e2edot1").status == 0)
        let connected = try netctl("connect", "e2edot", "e2edot1", "-p", "8680:80")
        #expect(connected.status == 0, "\(connected.stderr)")

        let rfc3339 = try Regex(#"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"#)
        let network = try netctl("network", "inspect", "e2edot").json?.arrayValue?.first
        let created = network?["Created"]?.stringValue ?? ""
        #expect(created.wholeMatch(of: rfc3339) != nil, "network Created: \(created)")
        let sandbox = try netctl("sandbox", "inspect", "e2edot1").json?.arrayValue?.first
        #expect((sandbox?["Created"]?.stringValue ?? "").wholeMatch(of: rfc3339) != nil, "\(String(describing: sandbox))")
        #expect((try netctl("network", "ls", "--format", "json").json?.arrayValue ?? []).allSatisfy { $0["Created"]?.stringValue != nil })

        for arguments in [["network", "inspect", "--format", "dot"], ["network", "inspect", "e2edot", "--format", "dot"]] {
            let graph = try netctl(arguments)
            #expect(graph.status == 0, "\(graph.stderr)")
            for node in [#""network:e2edot""#, #""link:e2edot0""#, #""sandbox:e2edot1""#, "10.233.0.2/24", "-p 8680:80/tcp"] {
                #expect(graph.stdout.contains(node), "\(arguments): no \(node) in \(graph.stdout)")
            }
            // Graphviz itself reads it.
            let file = NSTemporaryDirectory() + "netctl-\(UUID().uuidString).dot"
            try graph.stdout.write(toFile: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: file) }
            let rendered = try runCommand(["dot", "-Tsvg", file])
            #expect(rendered.status == 0 && rendered.text.contains("<svg"), "dot: \(rendered.text.prefix(300))")
        }
        let refused = try netctl("network", "inspect")
        #expect(refused.status == 64, "\(refused.status) \(refused.stderr)")
    }
}

/// What one `netctl connect -p` opens: the sandbox's namespace once, and one thread enters it
/// (for the socket every step of the attachment shares).
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct NamespaceOpenTests {
    @Test func connectWithAPublishedPortOpensTheSandboxNamespaceOnce() throws {
        #expect(try netctl("network", "create", "e2eonce", "--subnet", "10.234.0.0/24").status == 0)
        #expect(try netctl("sandbox", "create", "e2eonce1").status == 0)
        defer {
            _ = try? netctl("sandbox", "rm", "-f", "e2eonce1")
            _ = try? netctl("network", "rm", "-f", "e2eonce")
        }
        let trace = NSTemporaryDirectory() + "netctl-connect-\(UUID().uuidString).trace"
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let netctlPath = productsDirectory.appendingPathComponent("netctl").path
        // -b execve: let go of the proxy netctl starts, which lives on.
        let traced = try runCommand(["strace", "-f", "-b", "execve", "-e", "trace=openat,setns", "-o", trace,
                                     netctlPath, "connect", "e2eonce", "e2eonce1", "-p", "8791:80"])
        #expect(traced.status == 0, "\(traced.text)")
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        let opens = lines.filter { $0.contains(#"openat(AT_FDCWD, "/run/netns/e2eonce1""#) }
        let entries = lines.filter { $0.contains("setns(") }
        #expect(opens.count == 1, "\(opens)")
        #expect(entries.count == 1, "\(entries)")
    }
}
