#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI
import NetCore

/// Runs one operation; the result (ADD, VERSION) goes to stdout.
func runTool(_ options: Options) throws -> JSON? {
    let environment = { (key: String) in getenv(key).map { String(cString: $0) } }
    let pluginPath = environment("CNI_PATH") ?? ""
    let runtime = CNIRuntime(pluginDirectories: pluginPath.split(separator: ":").map(String.init),
                             cacheDirectory: environment("CNI_CACHE_DIR") ?? CNIRuntime.defaultCacheDirectory)
    if options.command == "version" {
        let info = try runtime.version(ofPlugin: options.name)
        return ["cniVersion": .string(info.cniVersion), "supportedVersions": .array(info.supportedVersions.map(JSON.string))]
    }
    let list = try NetworkConfigList.find(named: options.name, in: environment("NETCONFPATH") ?? "/etc/cni/net.d")
    let attachment = NetworkAttachment(containerID: options.effectiveContainerID, netns: options.netns, ifName: options.ifName,
                                args: options.args, capabilityArgs: options.capabilityArgs)
    switch options.command {
    case "add": return try runtime.add(list, attachment).json(version: list.cniVersion)
    case "del": try runtime.delete(list, attachment)
    case "check": try runtime.check(list, attachment)
    case "status": try runtime.status(list)
    default: try runtime.gc(list, validAttachments: options.valid)
    }
    return nil
}

let arguments = Array(CommandLine.arguments.dropFirst())
if Options.asksForHelp(arguments) {
    print(Options.usage)
    exit(0)
}
do {
    if let output = try runTool(Options(arguments)) {
        print(output.serialized(pretty: true))
    }
} catch {
    print(CNIError(error).json(cniVersion: .current).serialized(pretty: true))
    exit(1)
}
