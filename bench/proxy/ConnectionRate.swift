// Connection-rate load for the port-proxy benchmark; built by run.sh with `swiftc -O`.
//
//   connection-rate server PORT          echo server, one connection at a time (the client is sequential)
//   connection-rate client HOST PORT N   N sequential connections: connect, 1-byte echo, close; prints JSON
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    fputs("connection-rate: \(message): \(String(cString: strerror(errno)))\n", stderr)
    exit(1)
}

func address(_ host: String, _ port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { fail("bad address \(host)") }
    return address
}

func withSockaddr<T>(_ address: sockaddr_in, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var address = address
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func serve(port: UInt16) -> Never {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var on: Int32 = 1
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
    guard withSockaddr(address("0.0.0.0", port), { bind(listener, $0, $1) }) == 0, listen(listener, 4096) == 0 else {
        fail("bind/listen \(port)")
    }
    var byte: UInt8 = 0
    while true {
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { continue }
        while recv(connection, &byte, 1, 0) == 1 {
            _ = send(connection, &byte, 1, Int32(MSG_NOSIGNAL))
        }
        close(connection)
    }
}

func load(host: String, port: UInt16, count: Int) {
    let target = address(host, port)
    var latencies: [Double] = []
    latencies.reserveCapacity(count)
    var failures = 0
    var on: Int32 = 1
    var byte: UInt8 = 120
    let start = now()
    for _ in 0..<count {
        let begin = now()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if withSockaddr(target, { connect(fd, $0, $1) }) == 0, send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1,
           recv(fd, &byte, 1, 0) == 1 {
            latencies.append(now() - begin)
        } else {
            failures += 1
        }
        close(fd)
    }
    let elapsed = now() - start
    latencies.sort()
    func percentile(_ p: Double) -> Double {
        latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1e6
    }
    print("{\"rate\": \(Double(latencies.count) / elapsed), \"p50_us\": \(percentile(0.5)), \"p99_us\": \(percentile(0.99)), \"failures\": \(failures)}")
}

let arguments = CommandLine.arguments
switch (arguments.count > 1 ? arguments[1] : "", arguments.count) {
case ("server", 3):
    serve(port: UInt16(arguments[2]) ?? 7000)
case ("client", 5):
    load(host: arguments[2], port: UInt16(arguments[3]) ?? 7000, count: Int(arguments[4]) ?? 1000)
default:
    fputs("usage: connection-rate server PORT | client HOST PORT N\n", stderr)
    exit(2)
}
