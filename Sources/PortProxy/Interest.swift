import CPortProxy

/// The events a descriptor is watched for (`EPOLL*`).
struct Interest: OptionSet {
    let rawValue: UInt32

    /// `EPOLLIN`
    static let readable = Interest(rawValue: EPOLLIN.rawValue)
    /// `EPOLLOUT`
    static let writable = Interest(rawValue: EPOLLOUT.rawValue)
    /// `EPOLLRDHUP`: the peer shut down its sending side.
    static let peerClosed = Interest(rawValue: EPOLLRDHUP.rawValue)
    /// `EPOLLERR`: always reported, never requested.
    static let error = Interest(rawValue: EPOLLERR.rawValue)
    /// `EPOLLHUP`: always reported, never requested.
    static let hangup = Interest(rawValue: EPOLLHUP.rawValue)
    /// `EPOLLET`: report changes only; the handler must work until `EAGAIN`.
    static let edgeTriggered = Interest(rawValue: EPOLLET.rawValue)
}
