import NetCore

/// A CNI spec version, `MAJOR.MINOR.PATCH`.
public struct CNIVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `1.1.0`; `nil` for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        let numbers = parts.compactMap { part in part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber) ? Int(part) : nil }
        guard numbers.count == 3 else { return nil }
        self.init(numbers[0], numbers[1], numbers[2])
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (lhs: CNIVersion, rhs: CNIVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    /// Every version our plugins speak; results are converted to the one a config asks for.
    public static let supported = [CNIVersion(0, 3, 0), CNIVersion(0, 3, 1), CNIVersion(0, 4, 0), CNIVersion(1, 0, 0), CNIVersion(1, 1, 0)]
    /// The newest version: what VERSION reports and what a config without `cniVersion` gets.
    public static let current = CNIVersion(1, 1, 0)

    /// Results before 1.0.0 carry `ips[].version`.
    var hasIPVersionField: Bool { major == 0 }
    /// `interfaces[].mtu`, `socketPath` and `pciID` arrived with 1.0.0's result types.
    var hasInterfaceDetails: Bool { major >= 1 }
    /// CHECK arrived with 0.4.0.
    var supportsCheck: Bool { self >= CNIVersion(0, 4, 0) }
    /// GC and STATUS arrived with 1.1.0.
    var supportsGCAndStatus: Bool { self >= CNIVersion(1, 1, 0) }

    /// The version a config names, checked against ``supported``.
    ///
    /// - Throws: ``CNIError`` code 1 for a version we do not speak, 7 for text that is no version.
    static func negotiate(_ text: String?) throws -> CNIVersion {
        guard let text else { return current }
        guard let version = CNIVersion(text) else {
            throw CNIError(.invalidConfig, "invalid cniVersion \"\(text)\"", details: "expected MAJOR.MINOR.PATCH")
        }
        guard supported.contains(version) else {
            throw CNIError(.incompatibleVersion, "incompatible CNI versions",
                           details: "config is \"\(text)\", plugin supports \(supported.map(\.description))")
        }
        return version
    }
}
