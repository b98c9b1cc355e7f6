import NetCore

/// How the model's errors name the fields of a request. The model speaks of fields; each
/// front end gives the names its users typed (the CLI its flags), so an error names what to
/// change without the model knowing any front end.
public struct FieldNames: Sendable {
    public var ipv4Address = "IPv4 address"
    public var ipv6Address = "IPv6 address"
    public var mac = "MAC address"
    public var port = "published port"
    public var alias = "alias"
    /// A driver option; the option's key follows it (`option mtu`).
    public var option = "option"
    public var driver = "driver"
    public var subnet = "subnet"
    public var ipRange = "IP range"
    public var gateway = "gateway"
    public var auxAddress = "auxiliary address"
    /// The switch that gives a network IPv6.
    public var ipv6 = "IPv6"
    public var networkMode = "network mode"

    public init() {}

    /// The name of the address field of `family`'s addresses.
    func address(_ family: IPAddress.Family) -> String { family == .v4 ? ipv4Address : ipv6Address }

    /// `option KEY`, as the front end writes a driver option.
    func option(_ key: String) -> String { "\(option) \(key)" }
}
