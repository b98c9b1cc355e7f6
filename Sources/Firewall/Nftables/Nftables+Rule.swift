import NetCore

extension Nftables {
    /// A rule appended to a chain.
    public struct Rule: Sendable, Hashable {
        public var chain: String
        public var statements: [Statement]

        public init(chain: String, _ statements: [Statement]) {
            self.chain = chain
            self.statements = statements
        }

        func json(in table: Table) -> JSON {
            table.members(["chain": .string(chain), "expr": .array(statements.map(\.json))])
        }
    }
}
