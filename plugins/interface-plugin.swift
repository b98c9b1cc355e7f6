import Attachment
import CNI
import Drivers
import Namespaces
import NetCore

/// What `bridge` and `macvlan` share: the attachment's identity, its MAC, IPAM around the
/// driver's work, and the result's shape.
extension CNIRequest {
    /// `CNI_ARGS` keys the interface plugins understand (the rest need `IgnoreUnknown`).
    static let knownArguments: Set<String> = ["IP", "MAC", "K8S_POD_NAME", "K8S_POD_NAMESPACE", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"]

    func attachmentID() throws -> AttachmentID {
        guard let containerID, let interface, let network = config.name else {
            throw CNIError(.invalidEnvironment, "required env variables [CNI_CONTAINERID,CNI_IFNAME] missing")
        }
        return AttachmentID(network: network, containerID: containerID, interface: interface)
    }

    /// The container MAC: `runtimeConfig.mac`, then `args.cni.mac`, then `CNI_ARGS MAC`.
    func requestedMAC(configKey: String? = nil) throws -> MACAddress? {
        let candidates: [(String, String?)] = [
            ("runtimeConfig.mac", config.runtimeConfig["mac"]?.stringValue),
            ("args.cni.mac", config.raw["args"]?["cni"]?["mac"]?.stringValue),
            ("CNI_ARGS MAC", arguments["MAC"]),
        ] + (configKey.map { [($0, config.raw[$0]?.stringValue)] } ?? [])
        guard let (field, text) = candidates.first(where: { $0.1 != nil }), let text else { return nil }
        do {
            return try MACAddress(parsing: text, field: field)
        } catch let error as NetworkError {
            throw CNIError(.invalidConfig, error.message)
        }
    }

    /// An optional MTU key, checked to be a sane value.
    func mtu(_ key: String = "mtu") throws -> UInt32? {
        guard let value = try config.int(key), value != 0 else { return nil }
        guard (68...65535).contains(value) else {
            throw CNIError(.invalidConfig, "invalid \"\(key)\": \(value)", details: "must be 68-65535")
        }
        return UInt32(value)
    }

    /// The config's well-known `dns` key when it sets anything; the result's DNS then comes
    /// from it rather than from IPAM, as the reference plugins do.
    ///
    /// - Throws: ``CNIError`` code 7 naming a member of the wrong type.
    func configuredDNS() throws -> CNIResult.DNS? {
        guard let object = try config.object("dns") else { return nil }
        func strings(_ key: String) throws -> [String] {
            guard let value = object[key], !value.isNull else { return [] }
            guard let values = value.arrayValue, case let texts = values.compactMap(\.stringValue), texts.count == values.count else {
                throw CNIError(.invalidConfig, "invalid \"dns.\(key)\": \(value.serialized())", details: "expected an array of strings")
            }
            return texts
        }
        var dns = CNIResult.DNS()
        dns.nameservers = try strings("nameservers")
        dns.search = try strings("search")
        dns.options = try strings("options")
        if let value = object["domain"], !value.isNull {
            guard let domain = value.stringValue else {
                throw CNIError(.invalidConfig, "invalid \"dns.domain\": \(value.serialized())", details: "expected a string")
            }
            dns.domain = domain.isEmpty ? nil : domain
        }
        return dns.isEmpty ? nil : dns
    }

    /// The container's MAC in a previous result (the interface `CNI_IFNAME` in the sandbox).
    func previousMAC(_ result: CNIResult) throws -> MACAddress? {
        let id = try attachmentID()
        return result.interfaces.first { $0.name == id.interface.rawValue && $0.sandbox != nil }?.mac.flatMap(MACAddress.init)
    }

}

extension CNIResult {
    /// The result of an interface plugin: `interfaces` as given, IPAM's addresses pointing at
    /// the container interface (the last one), its routes and DNS.
    init(interfaces: [Interface], addresses: CNIResult?, extraRoutes: [Route] = [], dns configured: DNS? = nil) {
        self.init()
        self.interfaces = interfaces
        let containerIndex = interfaces.count - 1
        ips = (addresses?.ips ?? []).map { ip in
            var ip = ip
            ip.interface = containerIndex
            return ip
        }
        routes = (addresses?.routes ?? []) + extraRoutes.filter { route in !(addresses?.routes ?? []).contains(route) }
        dns = configured ?? addresses?.dns ?? DNS()
    }

    /// The addresses of `prevResult` that belong to the container interface `name`, and the
    /// result's routes (which name no interface; an interface plugin put them on its own).
    func containerConfiguration(interface name: String) -> IPConfiguration {
        let index = interfaces.firstIndex { $0.name == name && $0.sandbox != nil }
        let own = ips.filter { $0.interface == nil || $0.interface == index }
        return IPConfiguration(assignments: own.map { IPConfiguration.Assignment(address: $0.address, gateway: $0.gateway) },
                               routes: ipConfiguration.routes)
    }
}

extension CNIResult.Interface {
    /// A link the driver made; the MTU only for the container's (as the reference plugins).
    init(name: String, mac: MACAddress?, mtu: UInt32, sandbox: String? = nil) {
        self.init(name: name, mac: mac?.description, mtu: sandbox == nil ? nil : Int(mtu), sandbox: sandbox)
    }
}

/// An `AddressLeasing` over the config's IPAM plugin; keeps the plugin's result, whose
/// addresses, routes and DNS the interface plugin's result carries.
///
/// The plugin is looked up by each step, not up front, so a DEL whose `ipam` section cannot be
/// resolved still runs its other steps and reports that one with them.
final class CNILeasing: AddressLeasing {
    let request: CNIRequest
    private(set) var result: CNIResult?

    init(_ request: CNIRequest) { self.request = request }

    func lease() throws -> IPConfiguration {
        result = try request.ipamBackend()?.add(request)
        PhaseTrace.mark("store closed")
        return result?.ipConfiguration ?? IPConfiguration()
    }

    func release() throws {
        try request.ipamBackend()?.delete(request)
        PhaseTrace.mark("store closed")
    }
}

/// Nothing when `failures` is empty, the error itself when there is one, and otherwise one
/// error with the first one's code that lists them all (teardown reports every failure).
func throwAll(_ failures: [any Error], _ what: String) throws {
    guard let first = failures.first else { return }
    guard failures.count > 1 else { throw first }
    let errors = failures.map(cniError)
    throw CNIError(errors[0].code, "\(what) failed \(errors.count) times: \(errors[0].message)",
                   details: errors.map(\.description).joined(separator: "; "))
}
