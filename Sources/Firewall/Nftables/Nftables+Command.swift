import NetCore

extension Nftables {
    /// One command of a batch.
    ///
    /// `add` is idempotent for tables, chains and sets and for an element that is present
    /// with the same value; `create` fails with `EEXIST` when the object is already there,
    /// which is how a port that is already published is refused atomically by the kernel.
    public enum Command: Sendable, Hashable {
        case add(Object)
        case create(Object)
        case delete(Object)
        /// Removes every rule of a chain (the chain stays).
        case flush(Object)

        /// Something a command acts on.
        public enum Object: Sendable, Hashable {
            case table
            case chain(Chain)
            case set(NamedSet)
            case rule(Rule)
            /// Elements of the named set or map.
            case elements(String, [Element])
        }

        func json(in table: Table) -> JSON {
            let (verb, object): (String, Object) = switch self {
            case .add(let object): ("add", object)
            case .create(let object): ("create", object)
            case .delete(let object): ("delete", object)
            case .flush(let object): ("flush", object)
            }
            let body: JSON = switch object {
            case .table: ["table": ["family": .string(table.family.rawValue), "name": .string(table.name)]]
            case .chain(let chain): ["chain": chain.json(in: table)]
            case .set(let set): [set.kind: set.json(in: table)]
            case .rule(let rule): ["rule": rule.json(in: table)]
            case .elements(let set, let elements):
                ["element": table.members(["name": .string(set), "elem": .array(elements.map(\.json))])]
            }
            return [verb: body]
        }
    }

    /// Commands that libnftables applies as one netlink transaction: all of them or none.
    public struct Batch: Sendable, Hashable {
        public var table: Table
        public var commands: [Command]

        public init(table: Table, commands: [Command] = []) {
            self.table = table
            self.commands = commands
        }

        public var isEmpty: Bool { commands.isEmpty }

        public mutating func append(_ command: Command) { commands.append(command) }
        public mutating func append(contentsOf commands: [Command]) { self.commands.append(contentsOf: commands) }

        /// `{"nftables": [...]}`.
        public var json: JSON { ["nftables": .array(commands.map { $0.json(in: table) })] }

        /// The compact JSON text handed to libnftables.
        public var text: String { json.serialized() }
    }
}
