#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Namespaces
import NetCore
import Synchronization

/// What the runs measured, keyed by side, chain, mode and command; shared by the workers.
final class Measurements: Sendable {
    /// Wall time of one whole chain call per container index.
    private let times = Mutex<[String: [Int: Double]]>([:])
    /// `ru_maxrss` (KiB) of each plugin exec.
    private let sizes = Mutex<[String: [Double]]>([:])
    /// The cached ADD result per container id, as libcni keeps it for DEL.
    private let cache = Mutex<[String: JSON]>([:])
    /// The largest size (bytes) each of our stores' WAL files reached after a call.
    private let walPeaks = Mutex<[String: Int]>([:])

    func record(_ key: String, index: Int, nanoseconds: UInt64) {
        times.withLock { $0[key, default: [:]][index] = Double(nanoseconds) }
    }

    func record(size key: String, kibibytes: Int) {
        sizes.withLock { $0[key, default: []].append(Double(kibibytes)) }
    }

    func cacheResult(_ result: JSON, for id: String) { cache.withLock { $0[id] = result } }
    func cachedResult(for id: String) -> JSON? { cache.withLock { $0.removeValue(forKey: id) } }

    func record(walOf path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        walPeaks.withLock { $0[path] = max($0[path] ?? 0, Int(info.st_size)) }
    }

    func walPeak(_ path: String) -> Int? { walPeaks.withLock { $0[path] } }

    func times(_ key: String) -> [Int: Double] { times.withLock { $0[key] ?? [:] } }
    func sizes(_ key: String) -> Samples { Samples(sizes.withLock { $0[key] ?? [] }) }
}

/// Runs ADD for all containers of both sides, then DEL, in blocks that alternate which side
/// goes first, so drift in the machine's load lands on both alike.
struct Runner {
    let sides: [Side]
    let iterations: Int
    let blockSize: Int
    /// `netns[side label][index]`: one namespace per container per side.
    let namespaces: [String: [String]]
    let measurements: Measurements

    func run(_ kind: Chain.Kind, workers: Int) throws {
        let mode = workers == 1 ? "sequential" : "parallel\(workers)"
        for command in ["ADD", "DEL"] {
            for (blockIndex, blockStart) in stride(from: 0, to: iterations, by: blockSize).enumerated() {
                let block = Array(blockStart..<min(iterations, blockStart + blockSize))
                let order = blockIndex % 2 == 0 ? sides : sides.reversed()
                for side in order {
                    try runBlock(Chain(kind: kind, side: side), command: command, indices: block, workers: workers, mode: mode)
                }
            }
            progress("\(kind.title), \(mode): \(command) done")
        }
    }

    private func runBlock(_ chain: Chain, command: String, indices: [Int], workers: Int, mode: String) throws {
        let failure = FirstFailure()
        let work = { @Sendable (worker: Int) in
            for index in indices where index % workers == worker {
                do {
                    try self.call(chain, command: command, index: index, mode: mode)
                } catch {
                    failure.keep("\(error)")
                    return
                }
            }
        }
        if workers == 1 {
            work(0)
        } else {
            DispatchQueue.concurrentPerform(iterations: workers, execute: work)
        }
        if let message = failure.message { throw SpawnError(message: message) }
    }

    private func call(_ chain: Chain, command: String, index: Int, mode: String) throws {
        guard let netns = namespaces[chain.side.label]?[index] else { throw SpawnError(message: "no namespace \(index)") }
        let container = chain.container(index, netns: netns)
        let key = Runner.key(chain.side.label, chain.kind, mode, command)
        let start = now()
        let executions: [(String, Execution)]
        if command == "ADD" {
            let (result, done) = try chain.add(container)
            measurements.cacheResult(result, for: container.id)
            executions = done
        } else {
            executions = try chain.delete(container, cached: measurements.cachedResult(for: container.id) ?? .null)
        }
        measurements.record(key, index: index, nanoseconds: now() - start)
        if chain.side.label == "ours" { chain.walFiles.forEach(measurements.record(walOf:)) }
        for (plugin, execution) in executions {
            measurements.record(size: Runner.sizeKey(chain.side.label, plugin, command), kibibytes: execution.maxRSS)
            measurements.record(key + "/" + plugin, index: index, nanoseconds: execution.nanoseconds)
        }
    }

    static func key(_ side: String, _ kind: Chain.Kind, _ mode: String, _ command: String) -> String {
        "\(side)/\(kind.rawValue)/\(mode)/\(command)"
    }

    static func sizeKey(_ side: String, _ plugin: String, _ command: String) -> String {
        "\(side)/\(plugin)/\(command)"
    }
}

/// The first error any worker hit.
final class FirstFailure: Sendable {
    private let first = Mutex<String?>(nil)
    func keep(_ message: String) { first.withLock { $0 = $0 ?? message } }
    var message: String? { first.withLock { $0 } }
}

/// One line on stderr, so progress never mixes with the tables on stdout.
func progress(_ message: String) {
    let text = "bench-cni: \(message)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}
