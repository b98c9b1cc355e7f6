/// Both ends of a non-blocking pipe, the buffer `splice` moves pages through.
struct Pipe {
    let read: Int32
    let write: Int32
    /// The pipe's size in bytes: the kernel's default until ``PipePool/grow(_:)``.
    var capacity: Int
    /// Cleared once growing failed (an unprivileged user over its pipe quota), so it is not
    /// tried again for this pipe.
    var canGrow = true
}
