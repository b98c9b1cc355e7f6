// The CNI plugins: one executable, installed under each plugin's name, that dispatches on the
// name it was called by (argv[0]). It links no Foundation and no argument parser, so an exec
// costs little more than the process itself.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI
import Publishing
import NetCore

PhaseTrace.mark("runtime start")
BackgroundRelease.declareShortLivedProcess()

/// The last component of `path`. Top-level closures are main-actor isolated, and calling one
/// from `map` makes the runtime check the executor, which loads the concurrency runtime and
/// libdispatch at start-up; a nonisolated function needs no check (so is the writer below).
nonisolated func baseName(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}

/// argv[0] read directly: `CommandLine.arguments` builds an array of every argument, and the
/// first use of its type costs a lookup of its metadata by name at every exec.
let invokedAs = CommandLine.unsafeArgv[0].map { baseName(String(cString: $0)) } ?? ""

/// The plugin called `name`. A switch rather than a dictionary of plugins: that dictionary's
/// type too is looked up by name at run time, and built at every exec for one lookup.
nonisolated func plugin(named name: String) -> (any CNIPlugin)? {
    switch name {
    case "bridge": BridgePlugin()
    case "macvlan": MacvlanPlugin()
    case "loopback": LoopbackPlugin()
    case "host-local": HostLocalIPAM()
    case "portmap": PortmapPlugin()
    case "dnsname": DNSNamePlugin()
    case "overlay": OverlayPlugin()
    default: nil
    }
}

let pluginNames = ["bridge", "dnsname", "host-local", "loopback", "macvlan", "overlay", "portmap"]

nonisolated func writeStandardOutput(_ text: String) { writeAll(text, to: 1) }

guard let plugin = plugin(named: invokedAs) else {
    let names = pluginNames.joined(separator: ", ")
    let error = CNIError(.internal, "unknown plugin \"\(invokedAs)\"", details: "install this binary under one of: \(names)")
    writeStandardOutput(error.json(cniVersion: .current).serialized(pretty: true) + "\n")
    exit(1)
}

let environment = PluginMain.processEnvironment()
if environment["CNI_COMMAND"] == nil {
    // Run by hand: say what this is, as the reference plugins do.
    let about = "netctl CNI plugin \(invokedAs)\nCNI protocol versions supported: \(CNIVersion.supported.map(\.description).joined(separator: ", "))\n"
    writeAll(about, to: 2)
    exit(0)
}
let input: [UInt8]
do {
    input = environment["CNI_COMMAND"] == "VERSION" ? [] : try PluginMain.readStandardInput()
} catch {
    writeStandardOutput(CNIError(.ioFailure, "cannot read stdin", details: "\(error)").json(cniVersion: .current).serialized(pretty: true) + "\n")
    exit(1)
}
PhaseTrace.mark("input read")
let status = PluginMain.run(StoreAwarePlugin(plugin: plugin), environment: environment, stdin: input, write: writeStandardOutput)
// The child this leaves is reparented to init or the nearest subreaper; a runtime that is a
// subreaper and reaps only the children it knows can turn the hand-off off.
if BackgroundRelease.isAllowed {
    PublishingExit.leaveReclaimToAChild()
}
exit(status)
