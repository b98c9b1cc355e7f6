#if canImport(Glibc)
import Glibc
#endif
import FuzzSupport
import CNI
import NetCore

// A CNI plugin's start under libFuzzer (`make fuzz`): the environment a runtime sets and the
// config it sends on stdin, read as every plugin reads them (CNIRequest, the config's typed
// readers, CNI_ARGS, prevResult as a CNIResult). Errors are fine; a trap is not.
//
// The input: byte 0 chooses CNI_COMMAND (one of the spec's, none, or an unknown one); byte 1's
// low bits say which of CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH are set;
// their values follow in that order, each ended by a NUL byte; the rest is stdin.
// Built with FUZZING (and -sanitize=fuzzer) main hands over to libFuzzer's driver; without,
// it replays files (`fuzz-cni FILE...`).

let variables = ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"]
let commands: [String?] = CNICommand.allCases.map(\.rawValue) + [nil, "add", "NOPE"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
    var offset = 0
    if bytes.count >= 2 {
        environment["CNI_COMMAND"] = commands[Int(bytes[0]) % commands.count]
        offset = 2
        for (bit, name) in variables.enumerated() where bytes[1] & (1 << bit) != 0 {
            let end = bytes[offset...].firstIndex(of: 0) ?? bytes.endIndex
            environment[name] = String(decoding: bytes[offset..<end], as: UTF8.self)
            offset = min(end + 1, bytes.endIndex)
        }
    }
    let stdin = Array(bytes[offset...])

    let request: CNIRequest
    do {
        request = try CNIRequest(environment: environment, stdin: stdin)
    } catch {
        // A plugin prints the error as JSON: that must always be possible.
        let printed = CNIError(error).json(cniVersion: .current).serialized()
        precondition((try? JSON(parsing: printed)) != nil, "an error printed as invalid JSON: \(printed)")
        return 0
    }
    precondition(CNIVersion.supported.contains(request.version) || request.command == .version, "unsupported version \(request.version) accepted")
    if let interface = request.interface {
        precondition((try? InterfaceName(interface.rawValue)) == interface, "CNI_IFNAME \(interface) does not re-validate")
    }
    _ = request.arguments.ignoresUnknown
    _ = try? request.arguments.validate(known: ["IP", "MAC", "K8S_POD_NAME", "K8S_POD_NAMESPACE"])
    precondition((try? CNIArguments(parsing: request.arguments.pairs.map { "\($0.key)=\($0.value)" }.joined(separator: ";"))) == request.arguments,
                 "CNI_ARGS does not survive being written back")

    // What the plugins read of a config.
    let config = request.config
    _ = (config.cniVersionText, config.name, config.type, config.runtimeConfig)
    _ = try? config.string("bridge")
    _ = try? config.bool("isGateway")
    _ = try? config.int("mtu")
    _ = try? config.object("ipam")
    _ = try? config.array("capabilities")
    _ = try? config.rejectUnimplemented(["vlan", "vlanTrunk", "enabledad", "macspoofchk"])
    if request.command == .gc { _ = try? config.validAttachments() }

    // prevResult, as a chained plugin reads it: a result that reads must print and read back
    // unchanged in the newest version, and print readably in the request's.
    if let previous = config.prevResult, let result = try? CNIResult(json: previous) {
        guard let again = try? CNIResult(json: result.json(version: .current)) else {
            preconditionFailure("a result does not read back: \(result.json(version: .current))")
        }
        precondition(again == result, "a result changed in a round trip: \(result.json(version: .current))")
        precondition((try? CNIResult(json: result.json(version: request.version))) != nil, "a result in \(request.version) does not read back")
    }
    return 0
}

@main
struct Replay {
    static func main() { FuzzDriver.main(fuzzOne) }
}
