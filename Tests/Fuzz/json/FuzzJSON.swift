#if canImport(Glibc)
import Glibc
#endif
import FuzzSupport
import NetCore

// NetCore's JSON parser under libFuzzer (`make fuzz`): any bytes as a CNI config or a Docker
// plugin body. What parses must serialize to text that parses back to the same value (compact
// and pretty), and serializing that again must give the same text. Built with FUZZING (and
// -sanitize=fuzzer) main hands over to libFuzzer's driver; without, it replays files
// (`fuzz-json FILE...`), which is how a crash the fuzzer found becomes a regression test.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let parsed = try? JSON(parsing: bytes) else { return 0 }
    let text = parsed.serialized()
    let reparsed: JSON
    do {
        reparsed = try JSON(parsing: text)
    } catch {
        preconditionFailure("serialized JSON does not parse (\(error)): \(text)")
    }
    precondition(sameValue(parsed, reparsed), "the round trip changed the value: \(text)")
    precondition(reparsed.serialized() == text, "serializing is not a fixed point: \(text)")
    let pretty = parsed.serialized(pretty: true)
    guard let fromPretty = try? JSON(parsing: pretty) else { preconditionFailure("pretty JSON does not parse: \(pretty)") }
    precondition(sameValue(parsed, fromPretty), "the pretty round trip changed the value: \(pretty)")
    // Equal values hash alike: an object's members in another order are the same object.
    if parsed == reparsed { precondition(parsed.hashValue == reparsed.hashValue, "equal values hash differently: \(text)") }
    if let object = parsed.objectValue {
        let reversed = JSON.object(JSONObject(object.members.reversed().map { ($0.key, $0.value) }))
        precondition(reversed == parsed && reversed.hashValue == parsed.hashValue, "member order changed the object: \(text)")
    }
    return 0
}

/// `==`, except that a number may come back as the other kind of number of the same value:
/// the serializer writes an integral double without its fraction (`1500.0` as `1500`, as the
/// CNI plugins print MTUs), which parses back as an integer; `intValue` reads both alike.
func sameValue(_ lhs: JSON, _ rhs: JSON) -> Bool {
    switch (lhs, rhs) {
    case (.int(let a), .double(let b)), (.double(let b), .int(let a)):
        return Double(exactly: a) == b
    case (.array(let a), .array(let b)):
        return a.count == b.count && zip(a, b).allSatisfy(sameValue)
    case (.object(let a), .object(let b)):
        return a.keys == b.keys && a.members.allSatisfy { member in b[member.key].map { sameValue(member.value, $0) } ?? false }
    default:
        return lhs == rhs
    }
}

@main
struct Replay {
    static func main() { FuzzDriver.main(fuzzOne) }
}
