import Foundation
import Testing

/// Real runtimes over our plugins (scripts/e2e/runtimes.sh does the set-up each needs, in a
/// mount namespace of its own): podman's CNI backend publishing `-p 8180:80`, and crun
/// running a bundle in a netns the bridge plugin configured.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct RuntimeTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/e2e/runtimes.sh").standardized.path

    static func installed(_ tool: String) -> Bool {
        ["/usr/bin/", "/usr/sbin/", "/bin/"].contains { FileManager.default.isExecutableFile(atPath: $0 + tool) }
    }

    /// Runs one mode of the script and returns its PASS and FAIL lines.
    func run(_ mode: String) throws -> (passed: [String], failed: [String]) {
        let output = try runCommand(["unshare", "--mount", "--propagation", "private", Self.script, mode, pluginDirectory.path,
                                     productsDirectory.appendingPathComponent("netctl").path]).text
        let lines = output.split(separator: "\n").map(String.init)
        return (lines.filter { $0.hasPrefix("PASS ") }, lines.filter { $0.hasPrefix("FAIL ") })
    }

    @Test(.enabled(if: installed("podman") && installed("crun"), "needs podman and crun (make deps installs them)"))
    func podmanPublishesAPortThroughOurPluginsAndRmLeavesNothing() throws {
        let (passed, failed) = try run("podman")
        #expect(failed.isEmpty, "\(failed)")
        #expect(passed.count == 8, "\(passed)")
    }

    @Test(.enabled(if: installed("crun"), "needs crun (make deps installs it)"))
    func crunBundleJoinsANetnsOurBridgePluginConfigured() throws {
        let (passed, failed) = try run("crun")
        #expect(failed.isEmpty, "\(failed)")
        #expect(passed.count == 2, "\(passed)")
    }

    @Test(.enabled(if: installed("crun"), "needs crun (make deps installs it)"))
    func crunBundleInANetctlSandboxServesHTTPThroughAPublishedPort() throws {
        let (passed, failed) = try run("netctl-crun")
        #expect(failed.isEmpty, "\(failed)")
        #expect(passed.count == 3, "\(passed)")
    }
}
