import ArgumentParser

/// `netctl create DRIVER [NAME]`: the short form of `netctl network create --driver DRIVER NAME`.
struct CreateShortForm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a network: the short form of `network create`.",
        discussion: """
            `netctl create DRIVER [NAME] [flags]` is `netctl network create --driver DRIVER NAME \
            [flags]`, with the same output and exit status. Without NAME the network is named \
            after the driver (`netctl create bridge` makes the network `bridge`, with a subnet \
            from the default pools, as Docker names its default network; `cni:<type>` is named \
            after the plugin type); a second one without a name exists already (exit 4).

            Examples:
              netctl create bridge
              netctl create bridge web --subnet 10.88.0.0/24
              netctl create macvlan mv -o parent=eth0 --subnet 192.168.50.0/24
            """ + "\n\n" + NetworkCreateOptions.discussion)

    @Argument(help: "null, host, bridge, macvlan or cni:<type> (a CNI plugin from $CNI_PATH).") var driver: String
    @Argument(help: "The network's name. Default: the driver's name.") var name: String?
    @OptionGroup var options: NetworkCreateOptions

    func run() throws {
        try options.create(name: name ?? Self.defaultName(driver: driver), driver: driver, named: name != nil)
    }

    /// The driver's name, or the plugin type of `cni:<type>` (a network name has no colon).
    static func defaultName(driver: String) -> String {
        driver.hasPrefix("cni:") ? String(driver.dropFirst(4)) : driver
    }
}
