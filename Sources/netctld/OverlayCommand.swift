import ArgumentParser
import NetCore
import NetctlModel
import OverlayAgent

/// `netctld overlay create|remove`: what `netctl network create|rm` runs for an overlay
/// network, so that netctl links no etcd client. One JSON object on stdout: the result, or
/// `{"error": {"code", "message"}}`.
struct OverlayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overlay", abstract: "Overlay networks in etcd (run by `netctl network create/rm --driver overlay`).",
        subcommands: [Create.self, Remove.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put an overlay network's config into etcd.")
        @Option var name: String
        @Option(help: "The network's config (JSON).") var config: String

        func run() throws {
            respond {
                let config = try OverlayNetworkConfig(json: JSON(parsing: config))
                let operations = try OverlayOperations(agent: try agentRecord())
                let outcome = awaitResult { try await operations.create(name: name, config: config) }
                awaitResult { await operations.shutdown() }
                return try outcome.get().json
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an overlay network from etcd once no host has endpoints on it.")
        @Option var name: String
        @Option var id: String?
        @Option(name: .customLong("local-endpoints")) var localEndpoints = 0

        func run() throws {
            respond {
                let agent = try agentRecord()
                let operations = try OverlayOperations(agent: agent)
                let outcome = awaitResult { try await operations.remove(name: name, localHost: agent.hostID, localEndpoints: localEndpoints) }
                awaitResult { await operations.shutdown() }
                try outcome.get()
                return [:]
            }
        }
    }
}

private func agentRecord() throws -> OverlayAgentRecord {
    guard let agent = try Netctl().overlayAgent() else {
        throw NetworkError(code: .unsupported, message: "no overlay agent has run on this host: start one with netctl agent --store URL --advertise IP")
    }
    return agent
}

/// Prints the body's JSON, or the error as `{"error": …}`.
private func respond(_ body: () throws -> JSON) {
    let output: JSON
    do {
        output = try body()
    } catch let error as NetworkError {
        output = ["error": ["code": .string(error.code.rawValue), "message": .string(error.message)]]
    } catch {
        output = ["error": ["code": .string(NetworkError.Code.system.rawValue), "message": .string("\(error)")]]
    }
    writeAll(output.serialized() + "\n", to: 1)
}

/// Runs an async body to completion from a synchronous command.
@discardableResult
private func awaitResult<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
    let box = ResultBox<T>()
    if case .failure(let error) = runUntilSignalled(TerminationSignals.installed, { box.result = .success(try await body()) }) { return .failure(error) }
    return box.result ?? .failure(CancellationError())
}

private final class ResultBox<T>: @unchecked Sendable {
    // Written by the task before runUntilSignalled returns, read after.
    var result: Result<T, any Error>?
}
