#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI
import IPAM
import NetCore
import Store

/// `host-local`: addresses from range sets, leased in netctl's SQLite store. Used as a
/// plugin of its own and in-process by `bridge` and `macvlan` when their `ipam` names it.
struct HostLocalIPAM: IPAMBackend, CNIPlugin {
    /// The `ipam` section, parsed.
    struct Config {
        var rangeSets: [RangeSet]
        var routes: [CNIResult.Route]
        var dataDirectory: String?
        var resolvConf: String?
    }

    func add(_ request: CNIRequest) throws -> CNIResult {
        let config = try Self.config(request)
        PhaseTrace.mark("ipam config parsed")
        let allocator = try Self.allocator(config)
        let leases = try allocator.allocate(key: try Self.key(request), rangeSets: config.rangeSets, requested: try Self.requestedAddresses(request))
        PhaseTrace.mark("lease committed")
        var result = CNIResult()
        result.ips = leases.map { CNIResult.IPConfig(address: $0.address, gateway: $0.gateway) }
        result.routes = config.routes
        if let resolvConf = config.resolvConf { result.dns = try Self.readResolvConf(resolvConf) }
        return result
    }

    func delete(_ request: CNIRequest) throws {
        let config = try Self.config(request, forTeardown: true)
        PhaseTrace.mark("ipam config parsed")
        _ = try Self.allocator(config).release(key: try Self.key(request))
        PhaseTrace.mark("lease released")
    }

    /// Every address of `prevResult` must still be leased to this attachment.
    func check(_ request: CNIRequest) throws {
        let config = try Self.config(request)
        let held = Set(try Self.allocator(config).leases(for: try Self.key(request)).map(\.address.address))
        guard let previous = request.config.prevResult else {
            if held.isEmpty { throw CNIError(.internal, "no addresses are leased to \(try Self.key(request))") }
            return
        }
        for ip in try CNIResult(json: previous).ips where !held.contains(ip.address.address) {
            throw CNIError(.internal, "address \(ip.address) of the previous result is not leased to \(try Self.key(request))")
        }
    }

    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws {
        let config = try Self.config(request, forTeardown: true)
        guard let network = request.config.name else { return }
        let valid = Set(validAttachments.compactMap { attachment -> LeaseKey? in
            guard let interface = try? InterfaceName(attachment.interface) else { return nil }
            return try? LeaseKey(network: network, containerID: attachment.containerID, interface: interface)
        })
        _ = try Self.allocator(config).gc(network: network, valid: valid)
    }

    /// Ready when the store opens and answers.
    func status(_ request: CNIRequest) throws {
        do {
            let config = try Self.config(request, forTeardown: true)
            _ = try Self.allocator(config).leases(network: request.config.name ?? "")
        } catch {
            throw CNIError(.notAvailable, "the address store is not usable", details: "\(error)")
        }
    }

    // MARK: Parsing

    private static func key(_ request: CNIRequest) throws -> LeaseKey {
        guard let containerID = request.containerID, let interface = request.interface, let network = request.config.name else {
            throw CNIError(.invalidEnvironment, "required env variables [CNI_CONTAINERID,CNI_IFNAME] missing")
        }
        return try LeaseKey(network: network, containerID: containerID, interface: interface)
    }

    private static func allocator(_ config: Config) throws -> AddressAllocator {
        do {
            return try AddressAllocator(store: StateStore(directory: config.dataDirectory, schema: [AddressAllocator.schema]))
        } catch let error as NetworkError {
            throw error
        } catch let error as SQLiteError where error.isBusy {
            throw storeBusy(error)
        } catch {
            throw CNIError(.ioFailure, "cannot open the address store in \(config.dataDirectory ?? StateStore.configuredDirectory)", details: "\(error)")
        }
    }

    /// Reads `ipam`: `ranges` (or the legacy single-range keys), `routes`, `dataDir`,
    /// `resolvConf`, with `runtimeConfig.ipRanges` taking the place of `ranges`.
    /// Teardown needs only `dataDir`, so a config broken elsewhere can still be cleaned up.
    static func config(_ request: CNIRequest, forTeardown: Bool = false) throws -> Config {
        guard let ipam = try request.config.object("ipam") else {
            throw CNIError(.invalidConfig, "missing \"ipam\" section")
        }
        let dataDirectory = ipam["dataDir"]?.stringValue
        if forTeardown { return Config(rangeSets: [], routes: [], dataDirectory: dataDirectory, resolvConf: nil) }

        var rangeJSON = ipam["ranges"]?.arrayValue
        if let runtime = request.config.runtimeConfig["ipRanges"]?.arrayValue, !runtime.isEmpty { rangeJSON = runtime }
        if rangeJSON == nil, ipam["subnet"] != nil {
            rangeJSON = [.array([.object(ipam)])] // the pre-0.3 single range
        }
        guard let sets = rangeJSON, !sets.isEmpty else {
            throw CNIError(.invalidConfig, "invalid \"ipam\": no \"ranges\" given")
        }
        let rangeSets = try sets.enumerated().map { index, set -> RangeSet in
            guard let ranges = set.arrayValue, !ranges.isEmpty else {
                throw CNIError(.invalidConfig, "invalid \"ranges[\(index)]\": \(set.serialized())", details: "expected a non-empty array of ranges")
            }
            return try RangeSet(ranges.map(parseRange))
        }
        let routes = try (ipam["routes"]?.arrayValue ?? []).map { entry -> CNIResult.Route in
            guard let text = entry["dst"]?.stringValue, let destination = CIDR(text) else {
                throw CNIError(.invalidConfig, "invalid \"ipam.routes\" entry: \(entry.serialized())", details: "\"dst\" must be a CIDR")
            }
            var route = CNIResult.Route(destination: destination.network)
            if let text = entry["gw"]?.stringValue {
                guard let gateway = IPAddress(text) else {
                    throw CNIError(.invalidConfig, "invalid \"ipam.routes\" gateway \"\(text)\"")
                }
                route.gateway = gateway
            }
            return route
        }
        return Config(rangeSets: rangeSets, routes: routes, dataDirectory: dataDirectory, resolvConf: ipam["resolvConf"]?.stringValue)
    }

    private static func parseRange(_ entry: JSON) throws -> AddressRange {
        func address(_ key: String) throws -> IPAddress? {
            guard let text = entry[key]?.stringValue else { return nil }
            guard let address = IPAddress(text) else { throw NetworkError.invalid(key, text, "not an IP address") }
            return address
        }
        guard let subnetText = entry["subnet"]?.stringValue else {
            throw CNIError(.invalidConfig, "invalid range \(entry.serialized())", details: "\"subnet\" is required")
        }
        let subnet = try CIDR(parsing: subnetText, field: "subnet")
        return try AddressRange(subnet: subnet.network, start: address("rangeStart"), end: address("rangeEnd"), gateway: address("gateway"),
                                  fields: ("rangeStart", "rangeEnd"))
    }

    /// Requested addresses from all three places a runtime may put them, merged as the
    /// reference host-local does: `CNI_ARGS IP=` (comma-separated), `args.cni.ips` and
    /// `runtimeConfig.ips`, each address once. The allocator takes at most one per range set,
    /// so an IPv4 from one source and an IPv6 from another combine; two for one set are refused.
    static func requestedAddresses(_ request: CNIRequest) throws -> [IPAddress] {
        var texts: [(source: String, text: String)] = []
        if let ip = request.arguments["IP"] {
            texts += ip.split(separator: ",").map { ("CNI_ARGS IP", String($0)) }
        }
        for (source, value) in [("args.cni.ips", request.config.raw["args"]?["cni"]?["ips"]), ("runtimeConfig.ips", request.config.runtimeConfig["ips"])] {
            guard let value, !value.isNull else { continue }
            guard let entries = value.arrayValue else {
                throw CNIError(.invalidConfig, "invalid \"\(source)\": \(value.serialized())", details: "expected an array of addresses")
            }
            for entry in entries {
                guard let text = entry.stringValue else {
                    throw CNIError(.invalidConfig, "invalid \"\(source)\" entry: \(entry.serialized())", details: "expected an address")
                }
                texts.append((source, text))
            }
        }
        var seen = Set<IPAddress>()
        return try texts.compactMap { source, text in
            let trimmed = text.trimmingWhitespace
            let bare = trimmed.split(separator: "/").first.map(String.init) ?? trimmed
            guard let address = IPAddress(bare) else {
                throw CNIError(.invalidConfig, "invalid requested IP \"\(text)\" in \(source)")
            }
            return seen.insert(address).inserted ? address : nil
        }
    }

    /// The `nameserver`, `domain`, `search` and `options` lines of a resolv.conf.
    static func readResolvConf(_ path: String) throws -> CNIResult.DNS {
        guard let file = fopen(path, "r") else {
            throw CNIError(.ioFailure, "cannot read resolvConf \"\(path)\"", details: Errno.current.description)
        }
        defer { fclose(file) }
        var dns = CNIResult.DNS()
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let fields = String(cString: line).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
            guard let keyword = fields.first, !keyword.hasPrefix("#"), !keyword.hasPrefix(";") else { continue }
            let values = Array(fields.dropFirst())
            switch keyword {
            case "nameserver": dns.nameservers += values.prefix(1)
            case "domain": dns.domain = values.first
            case "search": dns.search = values
            case "options": dns.options += values
            default: continue
            }
        }
        return dns
    }
}

extension String {
    /// Without leading and trailing white space.
    fileprivate var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
