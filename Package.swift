// swift-tools-version:6.0
import PackageDescription

/// In the static builds, code asks for the metadata of a concrete generic type (`[String]`,
/// `[String: JSON]`...) through its accessor, not by its mangled name: the name is demangled at
/// run time on first use, in every process, and a bridge ADD made ~50 such lookups.
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)] + (Context.environment["NETCTL_STATIC_LINK"] == "1"
    ? [.unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"])] : [])

/// The static builds (`NETCTL_STATIC_LINK=1`, set by `make install` and `make bench`) of the
/// executables that are exec'd once per call. `NETCTL_STATIC_LIBDIR` names a directory where
/// the Makefile puts linker scripts `libstdc++.so` and `libsqlite3.so` that point at the static
/// libraries: the Swift runtime's `-lstdc++` and the store's `-lsqlite3` then link statically,
/// and start-up no longer loads and relocates the shared ones (measured on the 2-core VM of
/// BENCHMARKS.md: libstdc++ was about a fifth of the time of a `VERSION` call). libgcc, which
/// the unwinder comes from, is linked statically too: libgcc_s is one library less to load,
/// and its constructor probes the CPU with `cpuid`, which traps to the hypervisor.
let staticLink = Context.environment["NETCTL_STATIC_LINK"] == "1"
let execLinkerSettings: [LinkerSetting] = staticLink
    ? [.unsafeFlags((Context.environment["NETCTL_STATIC_LIBDIR"].map { ["-L", $0] } ?? []) + ["-Xclang-linker", "-static-libgcc"])]
    : []

let package = Package(
    name: "netctl",
    products: [
        .library(name: "NetCore", targets: ["NetCore"]),
        .library(name: "Namespaces", targets: ["Namespaces"]),
        .library(name: "Netlink", targets: ["Netlink"]),
        .library(name: "Store", targets: ["Store"]),
        .library(name: "IPAM", targets: ["IPAM"]),
        .library(name: "Firewall", targets: ["Firewall"]),
        .library(name: "CNI", targets: ["CNI"]),
        .library(name: "Drivers", targets: ["Drivers"]),
        .executable(name: "netctl", targets: ["netctl"]),
    ],
    dependencies: [
        // Only the netctl CLI uses it: it would double the size of the CNI plugin binary.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Only netctld (the Docker plugin daemon) links it: netctl and netctl-cni start as fast as before.
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        // Only the Cluster target (the etcd client) uses these, and only netctld links Cluster: its
        // TLS stack (NIOSSL with BoringSSL) must stay out of the exec'd binaries (netctl, netctl-cni).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
    ],
    targets: [
        // libmnl, found through pkg-config.
        .systemLibrary(
            name: "CMnl",
            pkgConfig: "libmnl",
            providers: [.apt(["libmnl-dev"])]
        ),
        // Kernel uapi headers and the few libc calls Swift cannot import (setns, unshare).
        .target(name: "CNetlink", dependencies: ["CMnl"]),
        // The system's libsqlite3, found through pkg-config.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // libnftables' and libnftnl's headers: the Firewall applies its batches through
        // libnftables, which it dlopens on first use instead of linking (no pkg-config, so no
        // -lnftables); it writes published ports' map elements itself with libmnl, and the
        // tests compare those bytes with libnftnl's (which only the tests load).
        .systemLibrary(
            name: "CNftables",
            providers: [.apt(["libnftables-dev", "libnftnl-dev"])]
        ),
        // Debug builds (the tests') carry the fault-injection switch (NetCore/FaultInjection.swift).
        .target(name: "NetCore", swiftSettings: strict + [.define("NETCTL_FAULT_INJECTION", .when(configuration: .debug))]),
        .target(name: "Namespaces", dependencies: ["NetCore", "CNetlink"], swiftSettings: strict),
        .target(name: "Netlink", dependencies: ["NetCore", "Namespaces", "CNetlink"], swiftSettings: strict),
        .target(name: "Store", dependencies: ["NetCore", "CSQLite"], swiftSettings: strict),
        .target(name: "IPAM", dependencies: ["NetCore", "Store"], swiftSettings: strict),
        // nftables through libnftables; the host's addresses and sysctls come in through a
        // `FirewallHost`, so it reads no kernel state of its own (no Netlink).
        .target(name: "Firewall", dependencies: ["NetCore", "Namespaces", "CNetlink", "CNftables"], swiftSettings: strict),
        // `swift run -c release bench-firewall` (in the sandbox): add+remove one mapping against the mapping count.
        .executableTarget(
            name: "bench-firewall",
            dependencies: ["Firewall", "Publishing", "NetCore"],
            path: "bench/firewall",
            swiftSettings: strict
        ),
        // Drives IPAM from many processes at once for the concurrency and crash tests.
        .executableTarget(name: "ipam-stress", dependencies: ["IPAM", "Store", "NetCore"], path: "Tests/Helpers/ipam-stress", swiftSettings: strict),
        // `swift run -c release bench-ipam`: allocate+release latency against the lease count.
        .executableTarget(
            name: "bench-ipam",
            dependencies: ["IPAM", "Store", "NetCore"],
            path: "bench/ipam",
            swiftSettings: strict
        ),
        .target(name: "CNI", dependencies: ["NetCore"], swiftSettings: strict),
        // Link drivers: they keep no records and publish nothing.
        .target(name: "Drivers", dependencies: ["NetCore", "Namespaces", "Netlink", "CNetlink", "IPAM"], swiftSettings: strict),
        // Published ports and network rules: the firewall registry in the store, the DNAT vs
        // proxy plan, the proxy's client side, conntrack flushes, the host's facts.
        .target(name: "Publishing", dependencies: ["NetCore", "Namespaces", "Netlink", "Store", "Firewall", "ProxyClient"], swiftSettings: strict),
        // The recipe every front end runs for one attachment: lease, driver, publishing, one undo stack.
        .target(name: "Attachment", dependencies: ["NetCore", "Drivers", "IPAM", "Firewall", "Publishing"], swiftSettings: strict),
        // The CNM model behind the CLI: networks, sandboxes, endpoints over the shared drivers.
        .target(
            name: "NetctlModel",
            dependencies: ["NetCore", "Namespaces", "IPAM", "Store", "ProxyClient", "Publishing", "Drivers", "Attachment", "CNI", "NameService"],
            swiftSettings: strict
        ),
        // DNS messages: the parts a resolver of its own names reads and writes (no library: see README).
        .target(name: "DNS", swiftSettings: strict),
        // What the resolver answers, kept in the store; starting it; the answers themselves.
        .target(name: "NameService", dependencies: ["DNS", "NetCore", "Namespaces", "Store", "CPortProxy", "ProxyClient"], swiftSettings: strict),
        // The resolver of netctl's networks: one per host, started on demand.
        .executableTarget(name: "netctl-dns", dependencies: ["NameService", "DNS", "NetCore", "Store", "CPortProxy", "ProxyClient"], swiftSettings: strict),
        // The main every fuzz target shares: libFuzzer's driver, or a replay of its corpus.
        .target(name: "FuzzSupport", path: "Tests/Fuzz/Support", swiftSettings: strict),
        // `make fuzz`: the resolver's packet path under libFuzzer; built plainly, a replayer of its corpus.
        .executableTarget(name: "fuzz-dns", dependencies: ["FuzzSupport", "DNS", "NameService", "NetCore"], path: "Tests/Fuzz/dns",
                          exclude: ["corpus"], swiftSettings: strict),
        // The other fuzz targets, alike: NetCore's JSON (with a round trip), a CNI plugin's request,
        // the text parsers of user input, netlink replies, and the Docker plugin's store-only calls.
        .executableTarget(name: "fuzz-json", dependencies: ["FuzzSupport", "NetCore"], path: "Tests/Fuzz/json", exclude: ["corpus"], swiftSettings: strict),
        .executableTarget(name: "fuzz-cni", dependencies: ["FuzzSupport", "CNI", "NetCore"], path: "Tests/Fuzz/cni", exclude: ["corpus"], swiftSettings: strict),
        .executableTarget(name: "fuzz-parsers", dependencies: ["FuzzSupport", "NetCore", "ProxyClient"], path: "Tests/Fuzz/parsers",
                          exclude: ["corpus"], swiftSettings: strict),
        .executableTarget(name: "fuzz-netlink", dependencies: ["FuzzSupport", "Netlink", "NetCore"], path: "Tests/Fuzz/netlink",
                          exclude: ["corpus"], swiftSettings: strict),
        // `@testable import NetctlModel` (its fake-driver hook): debug builds, the fuzz build too, are testable.
        .executableTarget(name: "fuzz-docker", dependencies: ["FuzzSupport", "DockerPlugin", "NetctlModel", "Drivers", "NetCore", "CNetlink"],
                          path: "Tests/Fuzz/docker", exclude: ["corpus"], swiftSettings: strict),
        // Docker's network plugin protocol over the model, without HTTP: what netctld serves.
        .target(name: "DockerPlugin", dependencies: ["NetctlModel", "NetCore"], swiftSettings: strict),
        .target(
            name: "NetctlCommands",
            dependencies: ["NetctlModel", "NetCore", "Namespaces", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .executableTarget(name: "netctl", dependencies: ["NetctlCommands"], swiftSettings: strict, linkerSettings: execLinkerSettings),
        // The long-running daemon: Docker's network plugin over HTTP/1.1 on a unix socket (SwiftNIO), and the overlay agent.
        // The overlay agent: the host's lease and shares in etcd, a watch, the kernel kept in step.
        .target(name: "OverlayAgent", dependencies: ["Cluster", "NetctlModel", "NetCore"], swiftSettings: strict),
        .executableTarget(
            name: "netctld",
            dependencies: [
                "DockerPlugin", "NetctlModel", "NetCore", "Cluster", "OverlayAgent",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // The etcd v3 client over etcd's JSON gateway (AsyncHTTPClient: TCP, unix sockets, TLS with
        // client certificates). Only the daemon netctld may link it: it brings SwiftNIO, NIOSSL and
        // BoringSSL, which netctl and netctl-cni (exec'd per call) must not carry.
        .target(
            name: "Cluster",
            dependencies: [
                "NetCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        // splice, pipe2, accept4, epoll and signalfd, which the Glibc module hides or lacks.
        .target(name: "CPortProxy"),
        // Starting, keeping and stopping a proxy process, and its forward rules: what publishers link.
        .target(name: "ProxyClient", dependencies: ["NetCore", "CPortProxy"], swiftSettings: strict),
        // The proxy server itself (epoll, splice): only netctl-proxy links it.
        .target(name: "PortProxy", dependencies: ["NetCore", "CPortProxy", "ProxyClient"], swiftSettings: strict),
        // The userland TCP/UDP port proxy: one process per endpoint, started by ProxyProcess.
        .executableTarget(name: "netctl-proxy", dependencies: ["PortProxy"], swiftSettings: strict, linkerSettings: execLinkerSettings),
        // The CNI plugins: one multi-call binary, installed under each plugin's name.
        .executableTarget(
            name: "netctl-cni",
            dependencies: ["CNI", "Drivers", "IPAM", "Store", "NetCore", "Namespaces", "Publishing", "Attachment", "NameService"],
            path: "plugins",
            swiftSettings: strict,
            // Every CNI call is an exec: a position-dependent executable has no relative
            // relocations (32 000 in a PIE, ~0.8 MB of .rela.dyn to read and every page of
            // Swift metadata to copy-on-write before main), so start-up takes a quarter fewer
            // page faults and ~0.6 MiB less memory. The reference plugins (Go) are not PIE either.
            // Only for the static builds (NETCTL_STATIC_LINK=1, set by the Makefile): against the
            // shared Swift runtime the linker warns that it may break pointer equality.
            linkerSettings: staticLink ? execLinkerSettings + [.unsafeFlags(["-Xclang-linker", "-no-pie"])] : []
        ),
        // `make bench`: our netlink layer against `ip -batch` on the same work.
        .executableTarget(
            name: "bench-netlink",
            dependencies: ["NetCore", "Namespaces", "Netlink"],
            path: "bench/netlink",
            swiftSettings: strict
        ),
        // `cnitool add|del|check|status|gc NET NETNS`: runs a network list through the CNI runtime.
        .executableTarget(name: "cnitool", dependencies: ["CNI", "NetCore"], swiftSettings: strict, linkerSettings: execLinkerSettings),
        // `make bench BENCH=cni`: the CNI plugins against the reference plugins, exec'd as a runtime does.
        .executableTarget(
            name: "bench-cni",
            dependencies: ["NetCore", "Namespaces", "CBenchTrace"],
            path: "bench/cni",
            exclude: ["offcpu.py"],
            swiftSettings: strict
        ),
        // ptrace for bench-cni's memory-at-exit table.
        .target(name: "CBenchTrace", path: "bench/ctrace"),
        // A bridge and two namespaces through the netlink library alone (not installed).
        .executableTarget(
            name: "netlink-demo",
            dependencies: ["NetCore", "Namespaces", "Netlink"],
            path: "examples/netlink-demo",
            swiftSettings: strict
        ),

        .testTarget(name: "CNITests", dependencies: ["CNI", "NetCore"], swiftSettings: strict),
        .testTarget(name: "NetCoreTests", dependencies: ["NetCore"], swiftSettings: strict),
        // Against a real etcd the tests start themselves (skipped where /usr/bin/etcd is missing).
        .testTarget(
            name: "ClusterTests",
            dependencies: ["Cluster", "NetCore", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(name: "NamespacesTests", dependencies: ["Namespaces", "NetCore"], swiftSettings: strict),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "Drivers", "Namespaces", "NetCore"], swiftSettings: strict),
        .testTarget(name: "AttachmentTests", dependencies: ["Attachment", "Drivers", "NetCore"], swiftSettings: strict),
        .testTarget(name: "DockerPluginTests", dependencies: ["DockerPlugin", "NetctlModel", "NetCore"], swiftSettings: strict),
        .testTarget(name: "NameServiceTests", dependencies: ["NameService", "DNS", "NetCore", "Store"], swiftSettings: strict),
        .testTarget(name: "OverlayAgentTests", dependencies: ["OverlayAgent", "Cluster", "NetctlModel", "NetCore"], swiftSettings: strict),
        .testTarget(name: "StoreTests", dependencies: ["Store"], swiftSettings: strict),
        .testTarget(name: "NetctlTests", dependencies: ["NetctlModel", "NetctlCommands", "NetCore", "Namespaces", "Drivers", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
        .testTarget(name: "PublishingTests", dependencies: ["Publishing", "Drivers", "Firewall", "Store", "NetCore"], swiftSettings: strict),
        .testTarget(name: "FirewallTests", dependencies: ["Firewall", "NetCore"], exclude: ["golden"], swiftSettings: strict),
        // Real traffic through the nftables ruleset, in namespaces made per test (root, sandbox only).
        .testTarget(
            name: "FirewallIntegrationTests",
            dependencies: ["Firewall", "Publishing", "Store", "NetCore", "Namespaces", "Netlink"],
            swiftSettings: strict
        ),
        // Depends on ipam-stress so that building the tests builds the helper they spawn.
        .testTarget(name: "IPAMTests", dependencies: ["IPAM", "Store", "NetCore", "ipam-stress"], swiftSettings: strict),
        // Depends on netctl-proxy so that `swift test` builds the executable the tests spawn.
        .testTarget(name: "PortProxyTests", dependencies: ["PortProxy", "ProxyClient", "NetCore", "netctl-proxy"], swiftSettings: strict),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["CNI", "NetCore", "Drivers", "Firewall", "Publishing", "ProxyClient", "Store", "netctl-cni", "netctl-proxy", "netctl", "cnitool", "netctld"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["NetCore", "Namespaces", "Netlink", "CNetlink", "Drivers", "IPAM", "Firewall", "Publishing", "Store"],
            swiftSettings: strict
        ),
    ]
)
