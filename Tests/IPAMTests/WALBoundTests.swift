import Foundation
import IPAM
import NetCore
import Store
import Testing

/// The store's WAL under exec-per-call use: many short-lived processes, each alone on the file,
/// as CNI plugins and `netctl` commands are.
@Suite(.serialized) struct WALBoundTests {
    @Test(.timeLimit(.minutes(2)))
    func fourThousandTransactionsFromShortLivedProcessesKeepTheWALUnderItsBound() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try StateStore(directory: directory.path, schema: [AddressAllocator.schema])
        let wal = store.path + "-wal"
        let pool = ["10.7.0.0/16", "10.7.0.1", "10.7.255.254"]
        // 400 processes × 5 cycles × 2 commits: 4 000 transactions. Before the bound the WAL
        // grew by every commit (to 55 MiB here) and each process read all of it on open.
        var largest = 0
        for worker in 0..<400 {
            let status = try runStress(["cycles", directory.path, "net"] + pool + ["\(worker)", "5"])
            #expect(status == 0, "worker \(worker) exited with status \(status)")
            largest = max(largest, fileSize(wal))
        }
        // The bound: the checkpoint threshold (64 frames of 4 KiB and a header each) plus one
        // transaction's frames.
        let bound = 512 * 1024
        #expect(largest > 0, "the processes never wrote to the WAL")
        #expect(largest <= bound, "the WAL reached \(largest) bytes")
        let allocator = try AddressAllocator(store: store)
        #expect(try allocator.leases(network: "net").isEmpty)
        #expect(try store.database.integrityCheck() == ["ok"])
    }

    @Test(.timeLimit(.minutes(2)))
    func aProcessKilledDuringACheckpointLosesNoCommittedTransaction() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/checkpoint.db"
        let rowsPerRound = 1_000  // about 4 MiB of WAL: a checkpoint of some 20 ms on disk
        // The first round runs to its end and says how long its checkpoint took.
        let first = try StressProcess(["checkpoint", directory.path, "\(rowsPerRound)"])
        let output = try first.finish()
        let duration = output.split(separator: "\n").first { $0.hasPrefix("DONE ") }
            .flatMap { Int($0.dropFirst(5)) } ?? 0
        #expect(duration > 0, "no checkpoint time in \(output)")
        #expect(fileSize(path + "-wal") == 0, "a finished checkpoint leaves an empty WAL")

        // Kills at random moments of the checkpoint (syncing the WAL, copying pages, syncing the
        // file), every other one in its second half, where the copying is. The window follows
        // what the kills find, so a machine slower or faster than in the first round still has
        // its checkpoints cut at every stage: earlier after a kill that came too late, later
        // after one that came before any page was copied.
        var generator = SystemRandomNumberGenerator()
        var killedBeforeTheCut = 0, killedWhileCopying = 0
        var window = max(duration, 2)
        var round = 0
        while round < 20 || (round < 60 && (killedBeforeTheCut < 8 || killedWhileCopying < 2)) {
            round += 1
            let fileBefore = fileSize(path)
            let writer = try StressProcess(["checkpoint", directory.path, "\(rowsPerRound)"])
            try writer.waitForLine("CHECKPOINT")
            let from = round.isMultiple(of: 2) ? window / 2 : 0
            usleep(UInt32.random(in: UInt32(from)...UInt32(window), using: &generator))
            writer.kill()
            writer.waitForExit()
            if fileSize(path + "-wal") == 0 {
                window = max(window * 3 / 4, 2)
            } else {
                killedBeforeTheCut += 1
                if fileSize(path) > fileBefore {
                    killedWhileCopying += 1
                } else if round.isMultiple(of: 2) {
                    window = window * 5 / 4
                }
            }

            let database = try Database(path: path)
            #expect(try database.integrityCheck() == ["ok"], "round \(round)")
            let rows = try database.statement("SELECT count(*), sum(length(body)) FROM rows")
                .firstRow { [$0.int64(0), $0.int64(1)] }
            let expected = Int64((round + 1) * rowsPerRound)
            #expect(rows == [expected, expected * 4_000], "round \(round)")
        }
        // The kills landed inside the checkpoint, before it cut the WAL, and some of them after
        // it had begun to copy pages into the database file.
        #expect(killedBeforeTheCut >= 8, "only \(killedBeforeTheCut) of \(round) kills came before the WAL was cut")
        #expect(killedWhileCopying >= 2, "only \(killedWhileCopying) of \(round) kills came after pages were copied")
    }
}
