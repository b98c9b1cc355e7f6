#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import NetCore

/// An epoll instance. Each registration carries a 64-bit token that comes back with its events.
final class Poller {
    let descriptor: Int32
    /// Where `epoll_wait` writes; reused for every wait.
    private let events: UnsafeMutableBufferPointer<epoll_event>

    init(capacity: Int = 256) throws {
        descriptor = try systemCall("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        events = .allocate(capacity: capacity)
    }

    deinit {
        events.deallocate()
        close(descriptor)
    }

    func add(_ fd: Int32, interest: Interest, token: UInt64) throws {
        try control(EPOLL_CTL_ADD, fd, interest: interest, token: token)
    }

    private func control(_ operation: Int32, _ fd: Int32, interest: Interest, token: UInt64) throws {
        var event = epoll_event()
        event.events = interest.rawValue
        event.data.u64 = token
        try systemCall("epoll_ctl", "descriptor \(fd)") { epoll_ctl(descriptor, operation, fd, &event) }
    }

    /// Waits up to `timeout` milliseconds (`-1`: forever) and calls `body` for each ready
    /// descriptor's token and events. An interrupted wait returns without events.
    func wait(timeout: Int32, _ body: (UInt64, Interest) -> Void) throws {
        let count = epoll_wait(descriptor, events.baseAddress, Int32(events.count), timeout)
        if count < 0 {
            let error = Errno.current
            if error == .interrupted { return }
            throw SystemCallError(error, call: "epoll_wait", subject: "")
        }
        for index in 0..<Int(count) {
            body(events[index].data.u64, Interest(rawValue: events[index].events))
        }
    }
}
