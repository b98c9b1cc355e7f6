import NetCore

extension Nftables {
    /// A chain; a base chain also names the netfilter hook it is attached to.
    public struct Chain: Sendable, Hashable {
        public var name: String
        public var hook: Hook?

        public init(name: String, hook: Hook? = nil) {
            self.name = name
            self.hook = hook
        }

        /// Where and when a base chain sees packets. Its policy is always `accept`: this
        /// project only adds the drops it means, and never decides for the rest of the host.
        public struct Hook: Sendable, Hashable {
            public enum Kind: String, Sendable { case filter, nat }
            public enum Point: String, Sendable { case prerouting, input, forward, output, postrouting }

            public var kind: Kind
            public var point: Point
            /// Lower runs first: raw -300, mangle -150, dstnat -100, filter 0, srcnat 100.
            public var priority: Int

            /// The standard priorities, after the kernel's `enum nf_ip_hook_priorities`.
            public enum Priority {
                /// `NF_IP_PRI_RAW` (-300): before connection tracking.
                public static let raw = -300
                /// `NF_IP_PRI_NAT_DST` (-100): destination NAT.
                public static let destinationNAT = -100
                /// `NF_IP_PRI_FILTER` (0).
                public static let filter = 0
                /// `NF_IP_PRI_NAT_SRC` (100): source NAT.
                public static let sourceNAT = 100
            }

            public init(_ kind: Kind, _ point: Point, priority: Int) {
                self.kind = kind
                self.point = point
                self.priority = priority
            }
        }

        func json(in table: Table) -> JSON {
            var body: JSONObject = ["name": .string(name)]
            if let hook {
                body["type"] = .string(hook.kind.rawValue)
                body["hook"] = .string(hook.point.rawValue)
                body["prio"] = .int(Int64(hook.priority))
                body["policy"] = "accept"
            }
            return table.members(body)
        }
    }
}
