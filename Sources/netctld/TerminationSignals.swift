import Dispatch
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// SIGTERM and SIGINT as events on a queue of their own, for the process's whole life.
///
/// Taken (``installed``) before the daemon shows it is up (binds its socket, starts its agent),
/// so a signal sent the moment it is up finds the handler in place: never the default action,
/// and never the `SIG_IGN` that dispatch's sources need, with no handler yet to see it. What to
/// do on the signal is given later; a signal that came first runs it as soon as it is given.
/// One per process, never released: a source released while the daemon waits would leave the
/// signals ignored.
final class TerminationSignals: @unchecked Sendable {
    /// Made on first use; the first use must come before any thread is started.
    static let installed = TerminationSignals()

    private struct State {
        var signalled: Int32?
        var action: (@Sendable (Int32) -> Void)?
    }
    private let state = NIOLockedValueBox(State())
    /// Held, never read again: what keeps the sources alive (`@unchecked Sendable` for them;
    /// the state is behind its lock).
    private let sources: [any DispatchSourceSignal]

    private init() {
        Self.unblock()
        let queue = DispatchQueue(label: "netctld.signals")
        let state = state
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                let action = state.withLockedValue { state -> (@Sendable (Int32) -> Void)? in
                    if state.signalled == nil { state.signalled = number }
                    return state.action
                }
                action?(number)
            }
            source.resume()
            return source
        }
    }

    /// Runs `action` (on the signals' queue) at every signal from now on, and at once if one
    /// came already.
    func onSignal(_ action: @escaping @Sendable (Int32) -> Void) {
        let earlier = state.withLockedValue { state -> Int32? in
            state.action = action
            return state.signalled
        }
        if let earlier { action(earlier) }
    }

    /// A daemon stops on SIGTERM and SIGINT whatever mask it was started with (a supervisor or
    /// a test runner may hand them blocked): unblocked before any thread exists.
    private static func unblock() {
        var stopping = sigset_t()
        sigemptyset(&stopping)
        sigaddset(&stopping, SIGTERM)
        sigaddset(&stopping, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &stopping, nil)
    }
}
