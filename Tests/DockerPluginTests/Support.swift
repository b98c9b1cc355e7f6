import DockerPlugin
import Foundation
import NetCore
import NetctlModel
import Testing

/// Tests that make bridges, veth pairs and nftables rules run only as root inside the
/// throwaway sandbox `make test` sets up, so they never touch the machine's own links or ruleset.
enum Sandbox {
    static let isAvailable = getuid() == 0 && ProcessInfo.processInfo.environment["NETCTL_SANDBOX"] == "1"
    static let reason: Comment = "needs root inside the test sandbox (run `make test`)"
    /// Calls refused before the kernel is reached: safe anywhere but as root outside the sandbox,
    /// where a regression that went on would change the machine's own network.
    static let isHarmless = getuid() != 0 || isAvailable
    static let harmlessReason: Comment = "as root, runs only inside the test sandbox (run `make test`)"
}

/// A plugin handler over a model on a state directory of its own, as netctld makes it.
final class Plugin {
    let directory: String
    let model: Netctl
    let handler: PluginHandler

    init() throws {
        directory = NSTemporaryDirectory() + "netctl-docker-\(UUID().uuidString)"
        model = try Netctl(stateDirectory: directory, names: PluginHandler.dockerFieldNames)
        handler = PluginHandler(model: model)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// One call, as the daemon passes it: `POST /Interface.Method` with `body` as sent.
    func call(_ method: String, _ body: String = "") -> PluginResponse {
        handler.handle(path: "/" + method, body: Array(body.utf8))
    }

    /// One call whose answer must be JSON; returns the status and the decoded body.
    func send(_ method: String, _ body: String = "", sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int, body: JSON) {
        let response = call(method, body)
        let decoded = try #require(try? JSON(parsing: response.body), "\(method) answered a body that is not JSON: \(response.body)",
                                   sourceLocation: sourceLocation)
        return (response.status, decoded)
    }

    /// A call that must succeed with exactly `expected`.
    func expectOK(_ method: String, _ body: String = "", answers expected: JSON = [:], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (status, answer) = try send(method, body, sourceLocation: sourceLocation)
        #expect(status == 200, "\(method): \(answer)", sourceLocation: sourceLocation)
        #expect(answer == expected, "\(method)", sourceLocation: sourceLocation)
    }

    /// A call that must fail with `status` and an answer `{"Err": ...}` (nothing else) whose
    /// message holds each of `naming`; returns the message.
    @discardableResult
    func expectError(_ method: String, _ body: String, status expected: Int, naming: [String],
                     sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let (status, answer) = try send(method, body, sourceLocation: sourceLocation)
        #expect(status == expected, "\(method): \(answer)", sourceLocation: sourceLocation)
        #expect(answer.objectValue?.keys == ["Err"], "\(method): \(answer)", sourceLocation: sourceLocation)
        let message = answer["Err"]?.stringValue ?? ""
        for word in naming {
            #expect(message.contains(word), "\(method): \"\(message)\" should name \(word)", sourceLocation: sourceLocation)
        }
        return message
    }

    /// RequestPool; returns the pool's ID and subnet.
    func requestPool(_ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (id: String, pool: String) {
        let (status, answer) = try send("IpamDriver.RequestPool", body, sourceLocation: sourceLocation)
        try #require(status == 200, "RequestPool \(body): \(answer)", sourceLocation: sourceLocation)
        #expect(answer["Data"] == [:], sourceLocation: sourceLocation)
        #expect(answer.objectValue?.keys.sorted() == ["Data", "Pool", "PoolID"], "\(answer)", sourceLocation: sourceLocation)
        let id = try #require(answer["PoolID"]?.stringValue, sourceLocation: sourceLocation)
        let pool = try #require(answer["Pool"]?.stringValue, sourceLocation: sourceLocation)
        return (id, pool)
    }

    /// RequestAddress; returns the address with its prefix length, or the refusal.
    func requestAddress(pool: String, _ address: String = "", options: String = "null",
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int, body: JSON) {
        try send("IpamDriver.RequestAddress", #"{"PoolID":\#(quoted(pool)),"Address":\#(quoted(address)),"Options":\#(options)}"#,
                 sourceLocation: sourceLocation)
    }

    /// RequestAddress that must succeed; returns `Address`.
    func address(pool: String, _ address: String = "", options: String = "null",
                 sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let (status, answer) = try requestAddress(pool: pool, address, options: options, sourceLocation: sourceLocation)
        try #require(status == 200, "RequestAddress \(address) of \(pool): \(answer)", sourceLocation: sourceLocation)
        #expect(answer["Data"] == [:], sourceLocation: sourceLocation)
        #expect(answer.objectValue?.keys.sorted() == ["Address", "Data"], "\(answer)", sourceLocation: sourceLocation)
        return try #require(answer["Address"]?.stringValue, sourceLocation: sourceLocation)
    }
}

/// A JSON string literal of `text`.
func quoted(_ text: String) -> String { JSON.string(text).serialized() }

/// A Docker ID: `prefix` then random hex digits, 64 in all, so tests sharing the sandbox's
/// namespace never meet on a bridge or interface name.
func dockerID(_ prefix: String) -> String {
    var generator = SystemRandomNumberGenerator()
    var id = prefix
    while id.count < 64 { id += String(generator.next(upperBound: UInt8(16)), radix: 16) }
    return id
}

/// Runs a tool (found on PATH) in this process's namespace (the sandbox's); returns its exit
/// status and standard output (standard error is dropped).
@discardableResult
func runTool(_ arguments: [String]) throws -> (status: Int32, output: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, data)
}

/// `ip -j -d link show dev NAME`, decoded; `nil` when there is no such link.
func ipLink(_ name: String) throws -> [String: Any]? {
    let (status, data) = try runTool(["ip", "-j", "-d", "link", "show", "dev", name])
    guard status == 0 else { return nil }
    return (try JSONSerialization.jsonObject(with: data) as? [[String: Any]])?.first
}

/// CreateNetwork as dockerd sends it for `-d netctl --subnet POOL -o netctl.driver=macvlan`: a
/// macvlan network is only recorded until an endpoint joins, so this needs no privileges.
func macvlanNetworkBody(_ id: String, pool: String, gateway: String) -> String {
    #"{"NetworkID":"\#(id)","Options":{"com.docker.network.enable_ipv6":false,"com.docker.network.generic":{"netctl.driver":"macvlan","parent":"eth9"}},"IPv4Data":[{"AddressSpace":"LocalDefault","Gateway":"\#(gateway)","Pool":"\#(pool)"}],"IPv6Data":[]}"#
}

/// `nft list ruleset` of this process's namespace (the sandbox's).
func nftRuleset() throws -> String {
    String(decoding: try runTool(["nft", "list", "ruleset"]).output, as: UTF8.self)
}

/// Whether the ruleset names `port` as a number of its own (not inside a longer one).
func rulesetMentions(port: UInt16) throws -> Bool {
    let ruleset = try nftRuleset()
    let digits = Set("0123456789")
    var searchStart = ruleset.startIndex
    while let range = ruleset.range(of: String(port), range: searchStart..<ruleset.endIndex) {
        let before = range.lowerBound == ruleset.startIndex ? nil : ruleset[ruleset.index(before: range.lowerBound)]
        let after = range.upperBound == ruleset.endIndex ? nil : ruleset[range.upperBound]
        if !(before.map(digits.contains) ?? false) && !(after.map(digits.contains) ?? false) { return true }
        searchStart = range.upperBound
    }
    return false
}
