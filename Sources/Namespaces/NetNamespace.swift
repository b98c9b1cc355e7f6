#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import NetCore

/// A network namespace, held open by a file descriptor.
///
/// Open one by path (`/run/netns/NAME`, `/proc/PID/ns/net`), or create a persistent named one
/// that `ip netns` sees. Code runs inside it only through ``run(_:)``, on a thread of its own.
public final class NetNamespace: Sendable {
    /// Where named namespaces are bind-mounted, as `ip netns` does.
    public static let defaultRunDirectory = "/run/netns"

    /// The open namespace file; valid until this object is released.
    public let descriptor: Int32
    /// The path it was opened from.
    public let path: String
    /// Device and inode of the namespace: equal identities mean the same namespace.
    public let identity: Identity

    public struct Identity: Hashable, Sendable, CustomStringConvertible {
        public let device: UInt64
        public let inode: UInt64
        public var description: String { "net:[\(inode)]" }

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }

        /// The namespace of the calling thread, or `nil` when procfs cannot tell.
        static func ofCallingThread() -> Identity? { of(path: "/proc/thread-self/ns/net") }

        /// What `path` refers to, by one `stat` and without opening it, to compare with a
        /// namespace's identity; `nil` when there is nothing at `path`.
        public static func of(path: String) -> Identity? {
            var info = stat()
            return stat(path, &info) == 0 ? Identity(info) : nil
        }
    }

    private init(descriptor: Int32, path: String) throws {
        var info = stat()
        try systemCall("fstat", path) { fstat(descriptor, &info) }
        self.descriptor = descriptor
        self.path = path
        identity = Identity(info)
    }

    deinit { close(descriptor) }

    /// Opens the network namespace at `path`.
    ///
    /// - Throws: ``NetworkError`` `.notFound` when nothing is there, `.invalidArgument` when the
    ///   file is not a network namespace.
    public static func open(path: String) throws -> NetNamespace {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let error = Errno.current
            if error == .noSuchFileOrDirectory {
                throw NetworkError(code: .notFound, message: "network namespace \"\(path)\" does not exist", cause: error)
            }
            throw NetworkError(code: .system, message: "cannot open network namespace \"\(path)\"", cause: error)
        }
        // NS_GET_NSTYPE fails on anything that is not a namespace file.
        guard cnetlink_namespace_type(descriptor) == CNETLINK_CLONE_NEWNET else {
            close(descriptor)
            throw NetworkError.invalid("network namespace path", path, "is not a network namespace")
        }
        do {
            return try NetNamespace(descriptor: descriptor, path: path)
        } catch {
            close(descriptor)
            throw error
        }
    }

    /// The namespace of the calling thread.
    public static func current() throws -> NetNamespace {
        try open(path: "/proc/thread-self/ns/net")
    }

    /// The namespace of process `pid`.
    public static func of(pid: Int32) throws -> NetNamespace {
        try open(path: "/proc/\(pid)/ns/net")
    }

    /// Runs `body` on a fresh thread that has joined this namespace; the thread exits afterwards,
    /// so the switch never leaks into any other work.
    ///
    /// - Throws: what `body` throws, or the `setns` error.
    public func run<T>(_ body: () throws -> T) throws -> T {
        try onDedicatedThread {
            try systemCall("setns", path) { cnetlink_setns(descriptor, CNETLINK_CLONE_NEWNET) }
            return try body()
        }
    }

    /// Runs `body` on the calling thread switched into this namespace, and switches the thread
    /// back into `home` before it returns or throws: ``run(_:)`` without a thread of its own,
    /// for a short-lived process that counts every fraction of a millisecond (a CNI plugin
    /// opening its one socket in the container). Two `setns` calls against a thread's creation,
    /// start and join, which wait for the scheduler when the machine is busy.
    ///
    /// - Parameters:
    ///   - home: the namespace the calling thread is in (opened on this thread from
    ///     `/proc/thread-self/ns/net`, as ``current()`` does).
    ///   - body: short and synchronous: it must not start threads or suspend, since the whole
    ///     of it runs inside this namespace.
    /// - Throws: what `body` throws, or the `setns` error (the thread has then not moved).
    ///   When the way back fails the process stops: the thread must never go on in the wrong
    ///   namespace.
    public func runOnCallingThread<T>(returningTo home: NetNamespace, _ body: () throws -> T) throws -> T {
        try systemCall("setns", path) { cnetlink_setns(descriptor, CNETLINK_CLONE_NEWNET) }
        defer {
            if cnetlink_setns(home.descriptor, CNETLINK_CLONE_NEWNET) != 0 {
                writeAll("netctl: cannot switch back into network namespace \(home.path): \(Errno.current)\n", to: 2)
                abort()
            }
        }
        return try body()
    }
}

// MARK: - Named, persistent namespaces

extension NetNamespace {
    /// The path of the named namespace `name` under `directory`.
    ///
    /// - Throws: ``NetworkError`` when `name` could escape the directory.
    public static func path(named name: String, in directory: String = defaultRunDirectory) throws -> String {
        guard !name.isEmpty, name.utf8.count <= 255, name != ".", name != "..", !name.contains("/"),
              !name.utf8.contains(0)
        else {
            throw NetworkError.invalid("namespace name", name, "must be 1-255 bytes, not \".\" or \"..\", without \"/\"")
        }
        return directory + "/" + name
    }

    /// Creates a new, empty network namespace and keeps it alive by bind-mounting it at
    /// `directory/name`, as `ip netns add` does. Nothing is left behind if a step fails.
    ///
    /// - Throws: ``NetworkError`` `.alreadyExists` when the name is taken.
    public static func create(named name: String, in directory: String = defaultRunDirectory) throws -> NetNamespace {
        let path = try path(named: name, in: directory)
        try prepareRunDirectory(directory)
        let placeholder = Glibc.open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)
        guard placeholder >= 0 else {
            let error = Errno.current
            if error == .fileExists {
                throw NetworkError(code: .alreadyExists, message: "network namespace \"\(name)\" already exists", cause: error)
            }
            throw NetworkError(code: .system, message: "cannot create \"\(path)\"", cause: error)
        }
        close(placeholder)
        do {
            try onDedicatedThread {
                try systemCall("unshare", "CLONE_NEWNET") { cnetlink_unshare(CNETLINK_CLONE_NEWNET) }
                try systemCall("mount", path) {
                    mount("/proc/thread-self/ns/net", path, "none", UInt(MS_BIND), nil)
                }
            }
            return try open(path: path)
        } catch {
            umount2(path, Int32(MNT_DETACH))
            unlink(path)
            throw error
        }
    }

    /// Removes the named namespace. Deleting one that is already gone is success; the
    /// namespace itself lives on while a process or descriptor still holds it.
    public static func delete(named name: String, in directory: String = defaultRunDirectory) throws {
        try delete(path: path(named: name, in: directory))
    }

    /// Unmounts and removes a namespace bind mount at `path`; a missing one is success.
    public static func delete(path: String) throws {
        if umount2(path, Int32(MNT_DETACH)) != 0 {
            let error = Errno.current
            // EINVAL: not a mount point (a stale placeholder); ENOENT: already gone.
            guard error == .invalidArgument || error == .noSuchFileOrDirectory else {
                throw NetworkError(code: .system, message: "cannot unmount network namespace \"\(path)\"", cause: error)
            }
        }
        if unlink(path) != 0, Errno.current != .noSuchFileOrDirectory {
            throw NetworkError(code: .system, message: "cannot remove \"\(path)\"", cause: Errno.current)
        }
    }

    /// Makes `directory` a shared mount point so namespace mounts made here are seen by
    /// every mount namespace that shares it (what `ip netns add` does).
    private static func prepareRunDirectory(_ directory: String) throws {
        if mkdir(directory, 0o755) != 0, Errno.current != .fileExists {
            throw NetworkError(code: .system, message: "cannot create \"\(directory)\"", cause: Errno.current)
        }
        let shared = UInt(MS_SHARED | MS_REC)
        if mount("", directory, "none", shared, nil) == 0 { return }
        guard Errno.current == .invalidArgument else {
            throw NetworkError(code: .system, message: "cannot make \"\(directory)\" a shared mount", cause: Errno.current)
        }
        // Not a mount point yet: bind it onto itself first.
        try systemCall("mount", directory) { mount(directory, directory, "none", UInt(MS_BIND | MS_REC), nil) }
        try systemCall("mount", directory) { mount("", directory, "none", shared, nil) }
    }
}
