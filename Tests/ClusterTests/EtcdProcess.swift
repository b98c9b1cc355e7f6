@testable import Cluster
import NetCore
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

let etcdExecutable = "/usr/bin/etcd"
let opensslExecutable = "/usr/bin/openssl"

func skipUnlessEtcd() throws {
    guard access(etcdExecutable, X_OK) == 0 else {
        throw XCTSkip("\(etcdExecutable) is missing (Debian's etcd-server package): the etcd client tests need a real etcd")
    }
}

/// A throwaway single-member etcd: its socket in a temp dir (its working directory, since 3.4 takes
/// only `unix://name:port`, relative), its data on tmpfs. Killed with SIGKILL by `stop()`.
final class EtcdProcess {
    /// The temp dir: the sockets, the log, the TLS files.
    let directory: String
    let dataDirectory: String
    private(set) var pid: pid_t = 0
    /// The client URL: `unix://<dir>/etcd.sock:0`, or `https://127.0.0.1:<port>` with TLS.
    let endpoint: String

    struct TLSFiles {
        var ca: String
        var serverCert: String
        var serverKey: String
        var clientCert: String
        var clientKey: String
    }

    /// Starts etcd on a unix socket, or with `tls` over TLS with client-certificate checking, on
    /// 127.0.0.1 (`unixSocket` false) or a unix socket.
    init(tls: TLSFiles? = nil, unixSocket: Bool = true, directory existing: String? = nil) throws {
        directory = try existing ?? makeTemporaryDirectory("/tmp/etcd-test.")
        dataDirectory = try makeTemporaryDirectory("/dev/shm/etcd-data.")
        var arguments = [
            "--name", "t1", "--data-dir", dataDirectory,
            "--listen-peer-urls", "unix://peer.sock:0", "--initial-advertise-peer-urls", "unix://peer.sock:0",
            "--initial-cluster", "t1=unix://peer.sock:0", "--logger", "zap", "--log-level", "error",
        ]
        let listen: String
        switch (tls, unixSocket) {
        case (nil, _):
            listen = "unix://etcd.sock:0"
            endpoint = "unix://\(directory)/etcd.sock:0"
        case (_?, true):
            listen = "unixs://etcd.sock:0"
            endpoint = "unixs://\(directory)/etcd.sock:0"
        case (_?, false):
            listen = "https://127.0.0.1:\(try freeTCPPort())"
            endpoint = listen
        }
        arguments += ["--listen-client-urls", listen, "--advertise-client-urls", listen]
        if let tls {
            arguments += ["--cert-file", tls.serverCert, "--key-file", tls.serverKey, "--trusted-ca-file", tls.ca, "--client-cert-auth"]
        }
        self.arguments = arguments
        try start()
    }

    private let arguments: [String]

    private func start() throws {
        pid = try Spawn.start("/bin/sh", arguments: ["sh", "-c", "cd \"$0\" && exec \"$@\" >>etcd.log 2>&1", directory, etcdExecutable] + arguments)
    }

    /// Kills etcd and starts it again on the same data and sockets (its keys survive).
    func restart() throws {
        kill()
        for socket in ["etcd.sock:0", "peer.sock:0"] { unlink(directory + "/" + socket) }
        try start()
    }

    /// Waits until `client` gets an answer to a range (about half a second after exec).
    func waitUntilReady(_ client: EtcdClient, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                throw EtcdTestFailure("etcd exited (status \(status)): \(log)")
            }
            do {
                _ = try await client.range("/ready-probe")
                return
            } catch {
                lastError = error
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw EtcdTestFailure("etcd did not answer within \(timeout): \(lastError.map { "\($0)" } ?? "")\n\(log)")
    }

    /// A client of this etcd (plus `extra` endpoints before it, or other `endpoints`), once it answers.
    func client(before extra: [String] = [], endpoints: [String]? = nil, caFile: String? = nil, certFile: String? = nil,
                keyFile: String? = nil) async throws -> EtcdClient {
        let client = try EtcdClient(EtcdConfiguration(endpoints: endpoints ?? extra + [endpoint], caFile: caFile, certFile: certFile, keyFile: keyFile))
        do {
            try await waitUntilReady(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        return client
    }

    var log: String { (try? readFile(directory + "/etcd.log")) ?? "" }

    /// SIGKILL, then reaps it.
    func kill() {
        guard pid > 0 else { return }
        sendSignal(pid, SIGKILL)
        _ = Spawn.wait(pid)
        pid = 0
    }

    /// Kills etcd and removes its directories.
    func stop() {
        kill()
        removeTree(dataDirectory)
        removeTree(directory)
    }
}

private func sendSignal(_ pid: pid_t, _ signal: Int32) {
    _ = kill(pid, signal)
}

struct EtcdTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func makeTemporaryDirectory(_ prefix: String) throws -> String {
    var template = Array((prefix + "XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.map { mkdtemp($0) != nil } ?? false }
    guard made else { throw Errno.current }
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func removeTree(_ path: String) {
    _ = try? Spawn.wait(Spawn.start("/bin/rm", arguments: ["rm", "-rf", "--", path]))
}

func readFile(_ path: String) throws -> String {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw Errno.current }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(descriptor, &buffer, buffer.count)
        guard count > 0 else { break }
        bytes += buffer[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A port on 127.0.0.1 that nothing listens on right now (the kernel's pick).
func freeTCPPort() throws -> UInt16 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw Errno.current }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw Errno.current }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw Errno.current }
    return UInt16(bigEndian: address.sin_port)
}

/// Runs openssl with `arguments` in `directory`; throws with its output when it fails.
func openssl(_ arguments: [String], in directory: String) throws {
    let pid = try Spawn.start("/bin/sh", arguments: ["sh", "-c", "cd \"$0\" && exec \"$@\" >>openssl.log 2>&1", directory, opensslExecutable] + arguments)
    let status = Spawn.wait(pid)
    guard status == 0 else {
        throw EtcdTestFailure("openssl \(arguments.joined(separator: " ")) failed (\(status)): \((try? readFile(directory + "/openssl.log")) ?? "")")
    }
}

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by the
/// CA, written into `directory`.
func makeCertificates(in directory: String) throws -> EtcdProcess.TLSFiles {
    try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
                 "-out", "ca.pem", "-days", "2", "-subj", "/CN=netctl test CA"], in: directory)
    // etcd's JSON gateway reaches etcd's own gRPC server with the server certificate as a client
    // certificate: with --client-cert-auth, that certificate must allow clientAuth too.
    for (name, extensions) in [("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth"),
                               ("client", "extendedKeyUsage=clientAuth")] {
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(name).key",
                     "-out", "\(name).csr", "-subj", "/CN=netctl test \(name)"], in: directory)
        let file = "\(directory)/\(name).ext"
        let descriptor = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Errno.current }
        let text = Array((extensions + "\n").utf8)
        _ = write(descriptor, text, text.count)
        close(descriptor)
        try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", "\(name).pem", "-days", "2", "-extfile", "\(name).ext"], in: directory)
    }
    return EtcdProcess.TLSFiles(ca: directory + "/ca.pem", serverCert: directory + "/server.pem", serverKey: directory + "/server.key",
                                clientCert: directory + "/client.pem", clientKey: directory + "/client.key")
}
