/// The undo steps of a multi-step setup, run in reverse if the setup fails part-way, so a
/// failure leaves nothing behind.
///
///     var undo = UndoStack()
///     try createBridge(); undo.push("delete bridge") { try deleteBridge() }
///     try createVeth();   undo.push("delete veth") { try deleteVeth() }
///     undo.commit()   // success: keep everything
///
/// Dropping a stack that was not committed is a bug; call ``unwind()`` in the failure path.
public struct UndoStack {
    private var steps: [(name: String, action: () throws -> Void)] = []

    public init() {}

    /// Registers how to undo the step that just succeeded.
    public mutating func push(_ name: String, _ action: @escaping () throws -> Void) {
        steps.append((name, action))
    }

    /// Keeps everything: the setup succeeded.
    public mutating func commit() {
        steps.removeAll()
    }

    /// Undoes every registered step, newest first, continuing past failures.
    ///
    /// - Returns: the steps that failed, with their errors.
    @discardableResult
    public mutating func unwind() -> [(name: String, error: any Error)] {
        var failures: [(name: String, error: any Error)] = []
        while let step = steps.popLast() {
            do {
                try step.action()
            } catch {
                failures.append((step.name, error))
            }
        }
        return failures
    }

    /// Runs `body` with a fresh stack; if it throws, unwinds and rethrows.
    public static func transaction<T>(_ body: (inout UndoStack) throws -> T) throws -> T {
        var undo = UndoStack()
        do {
            let result = try body(&undo)
            undo.commit()
            return result
        } catch {
            undo.unwind()
            throw error
        }
    }
}
