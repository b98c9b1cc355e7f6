import NetCore

/// Drops frames a container sends with any source MAC but its own (the bridge plugin's
/// `macspoofchk`), in a table of its own, `bridge netctl`:
///
///     chain prerouting (filter, -300): iifname vmap @guarded-ports
///     chain port-vethX: ether saddr != MAC drop
///
/// One chain per guarded host port reached through a verdict map, so guarding and
/// releasing a port touch nothing of another, and releasing needs nothing but the port's
/// name: it declares what it deletes first, in the same transaction, so a port that is not
/// guarded is no error.
/// Not `Sendable`: use one instance from one thread at a time.
public final class MACSpoofGuard {
    static let table = Nftables.Table(family: .bridge, name: "netctl")
    static let ports = Nftables.NamedSet(name: "guarded-ports", keyType: [.interfaceName], dataType: .verdict)
    static let prerouting = Nftables.Chain(name: "prerouting", hook: .init(.filter, .prerouting, priority: -300))

    private let transport: any NftablesTransport

    public init(transport: any NftablesTransport) {
        self.transport = transport
    }

    /// Lets frames from `port` through only with source `mac`; guarding again replaces the MAC.
    public func guardPort(_ port: InterfaceName, mac: MACAddress) throws {
        let chain = Self.chain(port)
        var batch = Nftables.Batch(table: Self.table, commands: Self.declarations)
        batch.append(.flush(.chain(Self.prerouting)))
        batch.append(.add(.rule(.init(chain: Self.prerouting.name, [.verdictMap(key: .meta("iifname"), map: Self.ports.name)]))))
        batch.append(.add(.chain(chain)))
        batch.append(.flush(.chain(chain)))
        batch.append(.add(.rule(.init(chain: chain.name, [.notEqual(.payload(protocol: "ether", field: "saddr"), .symbol(mac.description)), .drop]))))
        batch.append(.add(.elements(Self.ports.name, [Self.element(port)])))
        try apply(batch, "guard the source MAC of \(port)")
    }

    /// Stops guarding `port`; a port that is not guarded is success.
    public func releasePort(_ port: InterfaceName) throws {
        let chain = Self.chain(port)
        var batch = Nftables.Batch(table: Self.table, commands: Self.declarations)
        batch.append(.add(.chain(chain)))
        batch.append(.add(.elements(Self.ports.name, [Self.element(port)])))
        batch.append(.delete(.elements(Self.ports.name, [Nftables.Element(key: .symbol(port.rawValue))])))
        batch.append(.flush(.chain(chain)))
        batch.append(.delete(.chain(chain)))
        try apply(batch, "release the source MAC guard of \(port)")
    }

    private static var declarations: [Nftables.Command] {
        [.add(.table), .add(.set(ports)), .add(.chain(prerouting))]
    }

    private static func chain(_ port: InterfaceName) -> Nftables.Chain { Nftables.Chain(name: "port-" + port.rawValue) }

    private static func element(_ port: InterfaceName) -> Nftables.Element {
        Nftables.Element(key: .symbol(port.rawValue), data: .verdict(.jump(chain(port).name)))
    }

    private func apply(_ batch: Nftables.Batch, _ operation: String) throws {
        do {
            _ = try transport.run(batch.text)
        } catch let error as NftablesError {
            throw NetworkError(code: .system, message: "nftables refused to \(operation)", cause: error)
        }
    }
}
