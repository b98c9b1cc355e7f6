#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// The work handed to a fresh pthread through its `void *` argument.
private final class ThreadWork {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Runs `body` on a new pthread, waits for it, and lets the thread exit.
///
/// A thread that switched namespaces must never run anything else, so each call gets a
/// thread of its own that is thrown away afterwards, whatever `body` did to it.
func onDedicatedThread<T>(_ body: () throws -> T) throws -> T {
    var outcome: Result<T, any Error>?
    try withoutActuallyEscaping(body) { body in
        let work = Unmanaged.passRetained(ThreadWork { outcome = Result { try body() } })
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            Unmanaged<ThreadWork>.fromOpaque(argument).takeRetainedValue().run()
            return nil
        }, work.toOpaque())
        guard status == 0 else {
            work.release()
            throw SystemCallError(Errno(rawValue: status), call: "pthread_create", subject: "namespace thread")
        }
        // The closure only escapes into the thread joined here.
        pthread_join(thread, nil)
        PhaseTrace.mark("namespace thread")
    }
    guard let outcome else {
        throw NetworkError(code: .internalError, message: "namespace thread ended without a result")
    }
    return try outcome.get()
}
