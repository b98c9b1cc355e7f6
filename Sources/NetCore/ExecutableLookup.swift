#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a companion executable of netctl is: beside `program` (the running executable when
/// `nil`, as installed together), else the first in `PATH`; `nil` when neither has one.
public func locateExecutable(named name: String, besides program: String? = nil) -> String? {
    var candidates: [String] = []
    if let program = program ?? runningExecutable(), let slash = program.lastIndex(of: "/") {
        candidates.append(String(program[..<slash]) + "/" + name)
    }
    if let path = getenv("PATH") {
        candidates += String(cString: path).split(separator: ":").map { "\($0)/\(name)" }
    }
    return candidates.first { access($0, X_OK) == 0 }
}

/// The running executable's path (`/proc/self/exe`).
public func runningExecutable() -> String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
