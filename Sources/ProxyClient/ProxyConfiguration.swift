/// Tunables of a proxy process; the defaults suit production, tests shorten the UDP timeout.
public struct ProxyConfiguration: Hashable, Sendable {
    /// A UDP flow with no datagram either way for this long is dropped and its socket closed.
    /// Sixty seconds is what the kernel's conntrack and docker-proxy use for unreplied traffic.
    public var udpIdleTimeout: Double = 60
    /// At most this many UDP flows per listener; datagrams from further clients are dropped
    /// until one expires, so a flood of source ports cannot exhaust descriptors.
    public var maxUDPFlows: Int = 4096
    /// The capacity a splice pipe grows to once a connection fills it. Larger pipes mean fewer
    /// syscalls per byte (docker-proxy's Go runtime uses 1 MiB too); pages are only allocated
    /// while data sits in them.
    public var pipeSize: Int = 1 << 20

    public init(udpIdleTimeout: Double = 60, maxUDPFlows: Int = 4096, pipeSize: Int = 1 << 20) {
        self.udpIdleTimeout = udpIdleTimeout
        self.maxUDPFlows = maxUDPFlows
        self.pipeSize = pipeSize
    }

    /// The command-line options that reproduce this configuration in the proxy executable.
    var arguments: [String] {
        var arguments: [String] = []
        let defaults = ProxyConfiguration()
        if udpIdleTimeout != defaults.udpIdleTimeout { arguments += ["--udp-idle-timeout", "\(udpIdleTimeout)"] }
        if maxUDPFlows != defaults.maxUDPFlows { arguments += ["--max-udp-flows", "\(maxUDPFlows)"] }
        if pipeSize != defaults.pipeSize { arguments += ["--pipe-size", "\(pipeSize)"] }
        return arguments
    }
}
