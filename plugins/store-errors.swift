import CNI
import NetCore
import Store

// What wraps every plugin: errors as the runtime sees them, a busy state store as code 11.

/// SQLite still busy after the store's timeout: another process held the lock that long.
/// The spec's "try again later" (code 11), not an internal error.
func storeBusy(_ error: SQLiteError) -> CNIError {
    CNIError(.tryAgainLater, "the state store is busy: another process holds its lock", details: error.description)
}

/// `error` as the CNI error the runtime sees, with a busy store (also as the cause of a
/// ``NetworkError``) as code 11.
func cniError(_ error: any Error) -> CNIError {
    if let busy = error as? SQLiteError ?? (error as? NetworkError)?.cause as? SQLiteError, busy.isBusy {
        return storeBusy(busy)
    }
    return CNIError(error)
}

/// A plugin whose errors go through ``cniError(_:)`` before ``PluginMain`` prints them.
struct StoreAwarePlugin: CNIPlugin {
    let plugin: any CNIPlugin

    func add(_ request: CNIRequest) throws -> CNIResult { try mapped { try plugin.add(request) } }
    func delete(_ request: CNIRequest) throws { try mapped { try plugin.delete(request) } }
    func check(_ request: CNIRequest) throws { try mapped { try plugin.check(request) } }
    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws {
        try mapped { try plugin.gc(request, validAttachments: validAttachments) }
    }
    func status(_ request: CNIRequest) throws { try mapped { try plugin.status(request) } }

    private func mapped<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw cniError(error)
        }
    }
}
