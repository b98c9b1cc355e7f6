#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// A plain table: a header and rows, columns padded to their widest cell.
func printTable(_ header: [String], _ rows: [[String]]) {
    for line in tableLines(header, rows) { print(line) }
}

/// The lines of ``printTable(_:_:)``.
func tableLines(_ header: [String], _ rows: [[String]]) -> [String] {
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
    }
    return ([header] + rows).map { row in
        row.enumerated().map { index, cell in
            index == row.count - 1 || index >= widths.count ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 3)
        }.joined()
    }
}

/// Prints ``fieldLines(_:)``.
func printFields(_ fields: [(key: String, values: [String])]) {
    for line in fieldLines(fields) { print(line) }
}

/// `Key:   value` lines, the values aligned; a key with several values gets one line each
/// (the key on the first), one with none gets `-`.
func fieldLines(_ fields: [(key: String, values: [String])]) -> [String] {
    let width = (fields.map(\.key.count).max() ?? 0) + 2
    return fields.flatMap { key, values in
        (values.isEmpty ? ["-"] : values).enumerated().map { index, value in
            let label = index == 0 ? key + ":" : ""
            return label + String(repeating: " ", count: width - label.count) + value
        }
    }
}

/// Seconds since the epoch as `2024-05-01 12:00:00 UTC`.
func timestamp(_ seconds: Int64) -> String { utcTime(seconds, "%Y-%m-%d %H:%M:%S UTC") }

/// Seconds since the epoch as RFC 3339 in UTC, `2024-05-01T12:00:00Z`, as `docker inspect`
/// prints `Created`.
func rfc3339(_ seconds: Int64) -> String { utcTime(seconds, "%Y-%m-%dT%H:%M:%SZ") }

/// `strftime` of the UTC time `seconds` after the epoch; the number itself if that fails.
private func utcTime(_ seconds: Int64, _ format: String) -> String {
    var time = time_t(seconds)
    var parts = tm()
    guard gmtime_r(&time, &parts) != nil else { return "\(seconds)" }
    var buffer = [CChar](repeating: 0, count: 64)
    let count = strftime(&buffer, buffer.count, format, &parts)
    guard count > 0 else { return "\(seconds)" }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func printJSON(_ json: JSON) {
    print(json.serialized(pretty: true))
}

func printError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
