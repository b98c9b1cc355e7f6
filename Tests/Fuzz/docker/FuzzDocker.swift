#if canImport(Glibc)
import Glibc
#endif
import FuzzSupport
import CNetlink
import DockerPlugin
import Drivers
import Foundation
import NetCore
// The fake driver goes in through the model's test seam, which only a debug build (the tests'
// and `make fuzz`'s) has; a release build of this target is a stub that says so.
#if DEBUG
@testable import NetctlModel

// The Docker plugin's request bodies under libFuzzer (`make fuzz`): what dockerd (or anything
// that can reach netctld's socket) may POST, handled by PluginHandler over one model whose
// store lives in a temporary directory, for the whole run: calls build on what earlier ones
// recorded. Only the calls that read a body and touch the store are fuzzed: the driver of
// every network is an inert fake, and CreateNetwork runs only for a macvlan network (recorded,
// nothing made) or one taking an existing netctl network; bridge networks, Join and
// ProgramExternalConnectivity would change the kernel's links and ruleset. As root the process
// moves to a network namespace of its own first, so even a call that slipped through could
// not reach the machine's network.
//
// The input: byte 0 chooses the call, the rest is its body. Built with FUZZING (and
// -sanitize=fuzzer) main hands over to libFuzzer's driver; without, it replays files
// (`fuzz-docker FILE...`) in order, over one store.

let calls = [
    "IpamDriver.GetCapabilities", "IpamDriver.GetDefaultAddressSpaces", "IpamDriver.RequestPool", "IpamDriver.ReleasePool",
    "IpamDriver.RequestAddress", "IpamDriver.ReleaseAddress",
    "NetworkDriver.GetCapabilities", "NetworkDriver.CreateNetwork", "NetworkDriver.DeleteNetwork", "NetworkDriver.CreateEndpoint",
    "NetworkDriver.EndpointOperInfo", "NetworkDriver.DeleteEndpoint", "NetworkDriver.Leave", "NetworkDriver.DiscoverNew",
    "NetworkDriver.DiscoverDelete", "NetworkDriver.RevokeExternalConnectivity", "Plugin.Activate", "NetworkDriver.Unknown",
]

/// A driver that makes nothing: Leave, DeleteEndpoint and DeleteNetwork reach it, never the kernel.
struct InertDriver: NetworkDriver {
    var addsInterface: Bool { true }
    func attach(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws -> AttachedInterfaces? {
        preconditionFailure("attach is not a Docker plugin call")
    }
    func detach(_ context: AttachmentContext) throws {}
    func check(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws {}
}

let stateDirectory = NSTemporaryDirectory() + "netctl-fuzz-docker-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

nonisolated(unsafe) let handler: PluginHandler = {
    do {
        let model = try Netctl(stateDirectory: stateDirectory, names: PluginHandler.dockerFieldNames)
        model.driverOverride = { _ in InertDriver() }
        model.launchesResolver = false
        model.warn = { _ in }
        atexit { try? FileManager.default.removeItem(atPath: stateDirectory) }
        return PluginHandler(model: model)
    } catch {
        fatalError("cannot open a store in \(stateDirectory): \(error)")
    }
}()

/// Whether CreateNetwork with `body` stays off the kernel, read as PluginRequest reads it: a
/// body the handler refuses, one that takes an existing netctl network, or one for a macvlan
/// network. Anything else would make a bridge network, with its nftables rules.
func createsOnlyRecords(_ body: ArraySlice<UInt8>) -> Bool {
    guard let json = try? JSON(parsing: Array(body)), json.objectValue != nil else { return true }
    let options = json["Options"] ?? json
    guard let generic = options["com.docker.network.generic"]?.objectValue else { return false }
    return generic[DockerOption.network] != nil || generic[DockerOption.driver] == "macvlan"
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let method = calls[Int(bytes[0]) % calls.count]
    let body = bytes[1...]
    if method == "NetworkDriver.CreateNetwork", !createsOnlyRecords(body) { return 0 }
    let response = handler.handle(path: "/" + method, body: Array(body))
    // Every answer, a refusal too, is a JSON object dockerd can read, with a status it knows.
    precondition([200, 400, 403, 404, 409, 500, 501, 507].contains(response.status), "\(method) answered status \(response.status)")
    guard let answer = try? JSON(parsing: response.body), let object = answer.objectValue else {
        preconditionFailure("\(method) answered a body that is not a JSON object: \(response.body)")
    }
    precondition(response.status == 200 || object.keys == ["Err"], "\(method) failed without Err alone: \(response.body)")
    return 0
}

@main
struct Replay {
    static func main() { FuzzDriver.main(fuzzOne) }
}
#else
@main
struct ReleaseStub {
    static func main() {
        writeAll("fuzz-docker: a debug build only (make fuzz, or swift build): it needs the model's test seam\n", to: 2)
        exit(2)
    }
}
#endif
