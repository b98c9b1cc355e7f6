import NetCore
import Testing

private struct StepFailed: Error, Equatable {
    let step: String
}

private enum SetupFailed: Error, Equatable {
    case atStep(Int)
}

/// What the undo steps did, in order.
private final class Journal {
    var entries: [String] = []
}

@Suite struct UndoStackTests {
    @Test func unwindRunsStepsNewestFirst() {
        let journal = Journal()
        var undo = UndoStack()
        for name in ["bridge", "veth", "address"] {
            undo.push("delete \(name)") { journal.entries.append(name) }
        }
        let failures = undo.unwind()
        #expect(failures.isEmpty)
        #expect(journal.entries == ["address", "veth", "bridge"])
    }

    @Test func unwindContinuesPastFailuresAndReportsThem() {
        let journal = Journal()
        var undo = UndoStack()
        undo.push("first") { journal.entries.append("first") }
        undo.push("second") {
            journal.entries.append("second")
            throw StepFailed(step: "second")
        }
        undo.push("third") { journal.entries.append("third") }
        undo.push("fourth") {
            journal.entries.append("fourth")
            throw StepFailed(step: "fourth")
        }
        let failures = undo.unwind()
        #expect(journal.entries == ["fourth", "third", "second", "first"])
        #expect(failures.map(\.name) == ["fourth", "second"])
        #expect(failures.map { $0.error as? StepFailed } == [StepFailed(step: "fourth"), StepFailed(step: "second")])
    }

    @Test func unwindRunsEachStepOnce() {
        let journal = Journal()
        var undo = UndoStack()
        undo.push("only") { journal.entries.append("only") }
        undo.unwind()
        #expect(undo.unwind().isEmpty)
        #expect(journal.entries == ["only"])
    }

    @Test func commitKeepsEverything() {
        let journal = Journal()
        var undo = UndoStack()
        undo.push("a") { journal.entries.append("a") }
        undo.push("b") { journal.entries.append("b") }
        undo.commit()
        #expect(undo.unwind().isEmpty)
        #expect(journal.entries.isEmpty)
    }

    @Test func stepsPushedAfterACommitStillUnwind() {
        let journal = Journal()
        var undo = UndoStack()
        undo.push("old") { journal.entries.append("old") }
        undo.commit()
        undo.push("new") { journal.entries.append("new") }
        undo.unwind()
        #expect(journal.entries == ["new"])
    }

    @Test func emptyStackUnwindsToNothing() {
        var undo = UndoStack()
        #expect(undo.unwind().isEmpty)
    }

    @Test func transactionThatSucceedsReturnsItsValueAndUndoesNothing() throws {
        let journal = Journal()
        let value = try UndoStack.transaction { undo in
            undo.push("a") { journal.entries.append("a") }
            undo.push("b") { journal.entries.append("b") }
            return "done"
        }
        #expect(value == "done")
        #expect(journal.entries.isEmpty)
    }

    @Test func transactionThatThrowsUnwindsInReverseAndRethrows() {
        let journal = Journal()
        #expect(throws: SetupFailed.atStep(3)) {
            try UndoStack.transaction { undo -> Int in
                undo.push("a") { journal.entries.append("a") }
                undo.push("b") { journal.entries.append("b") }
                throw SetupFailed.atStep(3)
            }
        }
        #expect(journal.entries == ["b", "a"])
    }

    @Test func transactionRethrowsTheOriginalErrorEvenWhenAnUndoStepFails() {
        let journal = Journal()
        #expect(throws: SetupFailed.atStep(2)) {
            try UndoStack.transaction { undo -> Void in
                undo.push("a") { journal.entries.append("a") }
                undo.push("b") {
                    journal.entries.append("b")
                    throw StepFailed(step: "b")
                }
                undo.push("c") { journal.entries.append("c") }
                throw SetupFailed.atStep(2)
            }
        }
        #expect(journal.entries == ["c", "b", "a"])
    }
}
