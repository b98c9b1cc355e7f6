#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy

/// Empty pipes kept for the next connection, so a short connection costs no `pipe2` call.
/// Only pipes known to be empty come back here.
///
/// Pipes start at the kernel's default size and grow to ``maxSize`` only for a connection that
/// moves a lot: bulk transfers then move more per `splice`, while short connections never pay
/// for the `fcntl` or count a large pipe against the user's pipe quota.
final class PipePool {
    private var free: [Pipe] = []
    let maxSize: Int
    private let limit: Int

    /// The size of a new pipe (`PIPE_DEF_BUFFERS` pages).
    static let defaultCapacity = 16 * 4096

    init(maxSize: Int, limit: Int = 32) {
        self.maxSize = maxSize
        self.limit = limit
    }

    deinit {
        for pipe in free { Self.destroy(pipe) }
    }

    /// A pooled pipe or a new one; `nil` when none can be made (out of descriptors).
    func take() -> Pipe? {
        if let pipe = free.popLast() { return pipe }
        var fds: [Int32] = [-1, -1]
        guard cportproxy_pipe(&fds) == 0 else { return nil }
        return Pipe(read: fds[0], write: fds[1], capacity: Self.defaultCapacity)
    }

    /// Grows a pipe to ``maxSize``; best effort, since an unprivileged process may not
    /// exceed `pipe-max-size` or its quota of pipe pages.
    func grow(_ pipe: inout Pipe) {
        guard pipe.canGrow, pipe.capacity < maxSize else { return }
        let size = cportproxy_set_pipe_size(pipe.write, Int32(clamping: maxSize))
        if size > 0 {
            pipe.capacity = Int(size)
        }
        pipe.canGrow = false
    }

    /// Takes back a pipe; `empty` says whether every byte spliced in was spliced out again.
    func recycle(_ pipe: Pipe, empty: Bool) {
        if empty && free.count < limit {
            free.append(pipe)
        } else {
            Self.destroy(pipe)
        }
    }

    private static func destroy(_ pipe: Pipe) {
        close(pipe.read)
        close(pipe.write)
    }
}
