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
    static let prerouting = Nftables.Chain(name: "prerouting", hook: .init(.filter, .prerouting, priority: Nftables.Chain.Hook.Priority.raw))

    private let transport: any NftablesTransport

    public init(transport: any NftablesTransport) {
        self.transport = transport
    }

    /// Lets frames from `port` through only with source `mac`; guarding again replaces the MAC.
    ///
    /// - Parameter owner: kept as the port's element comment (cut to 128 bytes), so
    ///   ``guardedPorts(owner:)`` can list the ports of one network even after their links
    ///   went away with the container's namespace.
    public func guardPort(_ port: InterfaceName, mac: MACAddress, owner: String? = nil) throws {
        let chain = Self.chain(port)
        var batch = Nftables.Batch(table: Self.table, commands: Self.declarations)
        batch.append(.flush(.chain(Self.prerouting)))
        batch.append(.add(.rule(.init(chain: Self.prerouting.name, [.verdictMap(key: .meta("iifname"), map: Self.ports.name)]))))
        batch.append(.add(.chain(chain)))
        batch.append(.flush(.chain(chain)))
        batch.append(.add(.rule(.init(chain: chain.name, [.notEqual(.payload(protocol: "ether", field: "saddr"), .symbol(mac.description)), .drop]))))
        batch.append(.add(.elements(Self.ports.name, [Self.element(port, comment: owner.map(Nftables.Element.fittingComment))])))
        try apply(batch, "guard the source MAC of \(port)")
    }

    /// The ports guarded for `owner` (as given to ``guardPort(_:mac:owner:)``), read from the
    /// table itself; none when the table does not exist.
    public func guardedPorts(owner: String) throws -> [InterfaceName] {
        let wanted = Nftables.Element.fittingComment(owner)
        return try TableListing.fetch(Self.table, through: transport)?.elements(of: Self.ports.name).compactMap { element in
            guard element.comment == wanted, let name = element.key.stringValue else { return nil }
            return try? InterfaceName(name)
        } ?? []
    }

    /// What of `port`'s guard is not in the live table: its map element, its chain, or the rule
    /// that lets only `mac` through (not looked for when `mac` is `nil`); `nil` when all is there.
    public func missing(_ port: InterfaceName, mac: MACAddress?) throws -> String? {
        guard let listing = try TableListing.fetch(Self.table, through: transport) else { return "table bridge \(Self.table.name) does not exist" }
        let chain = Self.chain(port).name
        guard listing.chains.contains(Self.prerouting.name), listing.rules[Self.prerouting.name]?.isEmpty == false else {
            return "chain \(Self.prerouting.name) of table bridge \(Self.table.name) is missing or empty"
        }
        guard let element = listing.elements(of: Self.ports.name).first(where: { $0.key.stringValue == port.rawValue }),
              element.data?["jump"]?["target"]?.stringValue == chain else {
            return "port \(port) has no element in map \(Self.ports.name)"
        }
        guard listing.chains.contains(chain) else { return "chain \(chain) is missing" }
        if let mac, !(listing.rules[chain] ?? []).contains(where: { Self.mentions($0, mac.description) }) {
            return "chain \(chain) has no rule for source MAC \(mac)"
        }
        return nil
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

    private static func element(_ port: InterfaceName, comment: String? = nil) -> Nftables.Element {
        Nftables.Element(key: .symbol(port.rawValue), data: .verdict(.jump(chain(port).name)), comment: comment)
    }

    /// Whether `json` holds the string `text` anywhere (nftables prints MACs in lower case).
    private static func mentions(_ json: JSON, _ text: String) -> Bool {
        switch json {
        case .string(let value): value.lowercased() == text.lowercased()
        case .array(let values): values.contains { mentions($0, text) }
        case .object(let object): object.contains { mentions($0.value, text) }
        default: false
        }
    }

    private func apply(_ batch: Nftables.Batch, _ operation: String) throws {
        do {
            _ = try transport.run(batch.text)
        } catch let error as NftablesError {
            throw NetworkError(code: .system, message: "nftables refused to \(operation)", cause: error)
        }
    }
}
