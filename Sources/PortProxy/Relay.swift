#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy

/// One direction of a connection: bytes read from the source wait in `pipe` until the
/// destination takes them. End of stream is passed on as `shutdown(SHUT_WR)` once the pipe is
/// empty, so a client that half-closes still gets the whole reply.
struct Relay {
    var pipe: Pipe?
    /// Bytes spliced into the pipe and not yet out of it.
    var pending = 0
    /// Bytes read from the source so far; past the pool's maximum pipe size the connection
    /// counts as a bulk transfer and its pipe grows.
    var transferred = 0
    /// The source reached end of stream.
    var sourceEnded = false
    /// End of stream was passed on to the destination; nothing more moves this way.
    var isShutDown = false

    enum Outcome {
        /// Nothing more can move until the next readiness event.
        case waiting
        /// The byte budget ran out with more to move; call again before waiting for events,
        /// since an edge-triggered descriptor will not report the same readiness twice.
        case yielded
        /// A socket failed; the connection must close.
        case failed
    }

    /// Largest request to the kernel per splice; the pipe's free room is the real limit.
    static let chunk = 1 << 20

    /// Moves bytes from `source` to `destination` until both would block, the source ends,
    /// or `budget` bytes have moved.
    ///
    /// Each round reads once and writes once, and stops as soon as a call says there is nothing
    /// more to do, so a short exchange costs one `EAGAIN` rather than a retry per descriptor.
    mutating func pump(from source: Int32, to destination: Int32, pipes: PipePool, budget: Int) -> Outcome {
        var moved = 0
        var sourceDrained = false
        while !isShutDown {
            if !sourceEnded && !sourceDrained {
                if pipe == nil {
                    guard let fresh = pipes.take() else { return .failed }
                    pipe = fresh
                }
                guard let pipe else { return .failed }
                let count = cportproxy_splice(source, pipe.write, Self.chunk, CPORTPROXY_SPLICE_FLAGS)
                if count > 0 {
                    pending += count
                    transferred += count
                    if transferred >= pipes.maxSize && pipe.canGrow {
                        // A bulk transfer: give it room for bigger splices.
                        var grown = pipe
                        pipes.grow(&grown)
                        self.pipe = grown
                    }
                } else if count == 0 {
                    sourceEnded = true
                } else if Self.wouldBlock(errno) {
                    // The socket is empty or the pipe is full; either way, drain before reading again.
                    sourceDrained = true
                } else {
                    return .failed
                }
            }
            if pending > 0, let pipe {
                let count = cportproxy_splice(pipe.read, destination, pending, CPORTPROXY_SPLICE_FLAGS)
                if count > 0 {
                    pending -= count
                    moved += count
                    // Room in the pipe again: a full pipe may have been why the read stopped.
                    sourceDrained = false
                } else if count < 0, Self.wouldBlock(errno) {
                    // The destination's writable edge brings us back.
                    return .waiting
                } else {
                    return .failed
                }
            }
            if sourceEnded && pending == 0 {
                // ENOTCONN here means the destination is gone; the other direction will notice.
                shutdown(destination, Int32(SHUT_WR))
                isShutDown = true
                break
            }
            if sourceDrained && pending == 0 { break }
            if moved >= budget { return .yielded }
        }
        return .waiting
    }

    /// `EAGAIN` (the socket has no data or room, or the pipe is full or empty) or `EINTR`.
    private static func wouldBlock(_ error: Int32) -> Bool {
        error == EAGAIN || error == EWOULDBLOCK || error == EINTR
    }
}
