import Dispatch
import DockerPlugin
import NetCore
import NIOCore

/// Runs plugin calls one at a time on a queue of their own, off the event loop: they block on
/// netlink, nftables and the store. The handler (and the model under it) is touched only there.
final class PluginDispatcher: @unchecked Sendable {
    private let queue = DispatchQueue(label: "netctld.plugin-calls")
    private let handler: PluginHandler
    private let log: Log

    init(handler: PluginHandler, log: Log) {
        self.handler = handler
        self.log = log
    }

    /// Answers one call on `promise`.
    func dispatch(path: String, body: [UInt8], promise: EventLoopPromise<PluginResponse>) {
        queue.async {
            let started = monotonicNow()
            let response = self.handler.handle(path: path, body: body)
            let milliseconds = Double(monotonicNow() - started) / 1_000_000
            if response.status == 200 {
                self.log.debug("\(path) 200 \(Self.format(milliseconds)) ms")
            } else {
                self.log.info("\(path) \(response.status) \(Self.format(milliseconds)) ms: \(response.body)")
            }
            promise.succeed(response)
        }
    }

    /// Runs `body` with the handler, on the calls' queue.
    func withHandler(_ body: @escaping @Sendable (PluginHandler) -> Void) {
        queue.async { body(self.handler) }
    }

    /// Returns once every call queued before has been answered.
    func drain() {
        queue.sync {}
    }

    private static func format(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
