import Foundation
import Logging
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOSharePublish
@testable import EOShareState

/// CONTRACT §7: publishing a record (its intents, its folders, its confirmation) is one
/// worker's at a time, whichever of its objects or which due release brings it. Two workers
/// over a real PostgreSQL, through what the publish stage calls.
@Suite(.enabled(if: TestPostgres.enabled)) struct RecordClaimTests {
    /// Two workers over one database, as the publish stage sees them.
    static func workers() async throws -> (SharedWork, SharedWork, close: () async -> Void, url: PostgresStateURL) {
        let url = try await TestPostgres.freshDatabase("claim")
        let folder = RepoPaths.temporaryFolder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("p.yml")
        try Data(
            """
            version: 1
            state: \(url)
            spool: spool/
            shared: shared/
            members: [{id: NASA}, {id: ESA}]
            collections: [{id: c}]
            sources: [{id: s, owner: NASA, collection: c, format: landsat-mtl, url: feed/}]
            """.utf8
        ).write(to: file)
        let pipeline = try Pipeline.load(from: file)
        let environment = TestPostgres.passwordEnvironment
        let (stateA, stateB) = (
            try await PostgresStateStore.open(url, environment: environment),
            try await PostgresStateStore.open(url, environment: environment)
        )
        let logger = Logger(label: "test")
        let a = try await SharedWork.join(pipeline: pipeline, state: stateA, logger: logger, environment: environment)
        let b = try await SharedWork.join(pipeline: pipeline, state: stateB, logger: logger, environment: environment)
        return (
            a, b,
            {
                await a.leave()
                await b.leave()
                await stateA.close()
                await stateB.close()
            },
            url
        )
    }

    @Test func aRecordAndItsFolderAreOneWorkersAtATime() async throws {
        let (a, b, close, url) = try await Self.workers()
        let r1 = RecordClaim.keys(collection: "c", id: "r1", folder: "2026/01/01/r1")
        #expect(try await a.claimRecords(r1, wait: false))
        #expect(try await a.claimRecords(r1, wait: false), "a worker's own claim is its own")
        #expect(try await !b.claimRecords(r1, wait: false))
        // All or nothing: another record whose folder meets r1's is refused whole, and the
        // part that was free is let go at once.
        let r2 = RecordClaim.keys(collection: "c", id: "r2", folder: "2026/01/01/r1")
        #expect(try await !b.claimRecords(r2, wait: false))
        #expect(try await a.claimRecords([r2[0]], wait: false))

        // A waiting worker gets the record once the holder lets it go, and not before.
        async let waited = b.claimRecords(r1, wait: true)
        var waiting = 0
        for _ in 0..<200 where waiting == 0 {
            try await Task.sleep(for: .milliseconds(10))
            waiting = try await TestPostgres.query(
                url,
                """
                SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()
                """
            )[0].decode(Int.self)
        }
        #expect(waiting == 1)
        await a.releaseRecords(keeping: [r2[0]])
        #expect(try await waited)
        #expect(try await !a.claimRecords(r1, wait: false))
        #expect(try await a.claimRecords([r2[0]], wait: false), "kept")

        // A worker that leaves (or dies: its session ends) lets go of everything it held.
        await b.leave()
        #expect(try await a.claimRecords(r1, wait: false))
        await close()
    }

    /// Claims go with the connection that held them (a cut, or a pause past the lease that
    /// the server ends): the worker finds out before its next files, and never takes a lost
    /// claim for one it holds.
    @Test func claimsLostWithTheirConnectionAreNeverTakenForHeld() async throws {
        let (a, b, close, url) = try await Self.workers()
        let r1 = RecordClaim.keys(collection: "c", id: "r1", folder: "f1")
        #expect(try await a.claimRecords(r1, wait: false))
        try await a.verifyClaims()
        _ = try await TestPostgres.query(
            url,
            """
            SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
            WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()
            """
        )
        var taken = false
        for _ in 0..<500 where !taken {
            taken = try await b.claimRecords(r1, wait: false)
            if !taken { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(taken, "b never got r1 after a's session ended")
        // Once a's side saw its connection close, r1 is no longer counted as a's.
        for _ in 0..<500 where await a.locks.openGeneration != nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await !a.claimRecords(r1, wait: false), "b holds r1 now")
        await #expect(throws: PostgresStateError.self) { try await a.verifyClaims() }
        // Once a lets go of all it held, it claims anew on a new connection.
        await a.releaseRecords(keeping: [])
        try await a.verifyClaims()
        await b.releaseRecords(keeping: [])
        #expect(try await a.claimRecords(r1, wait: false))
        try await a.verifyClaims()
        await close()
    }

    /// The due records' claims, a page at once: each record whose keys are all free is
    /// claimed, the others are not (and what of them was free is let go at once).
    @Test func aPageOfRecordsIsClaimedRecordByRecord() async throws {
        let (a, b, close, _) = try await Self.workers()
        let r1 = RecordClaim.keys(collection: "c", id: "r1", folder: "f1")
        let r2 = RecordClaim.keys(collection: "c", id: "r2", folder: "f2")
        let r3 = RecordClaim.keys(collection: "c", id: "r3", folder: "f2")  // r2's folder
        let r4 = RecordClaim.keys(collection: "c", id: "r4", folder: "f4")
        #expect(try await a.claimRecords(r1, wait: false))
        // r1 is a's; r3 meets r2, asked for before it in the same page.
        #expect(try await b.claimEach([r1, r2, r3, r4]) == [false, true, false, true])
        #expect(try await a.claimEach([r2, r4, r1]) == [false, false, false], "b's, and a's own")
        // r1's folder was free when b asked for r1: b let go of it at once, with r1.
        await a.releaseRecords(keeping: [])
        #expect(try await a.claimRecords(RecordClaim.keys(collection: "c", id: "r5", folder: "f1"), wait: false))
        await b.releaseRecords(keeping: r4)
        #expect(try await a.claimEach([r3, r4]) == [true, false])
        await close()
    }
}
