import Foundation
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOSharePublish
@testable import EOShareState

/// The claims of CONTRACT §7 against a real PostgreSQL: disjoint batches under SKIP LOCKED,
/// leases that return work, fencing by attempt number, one lister per source, live workers.
@Suite(.enabled(if: TestPostgres.enabled)) struct WorkQueueTests {
    static func database() async throws -> PostgresDatabase {
        try await PostgresDatabase.open(
            try await TestPostgres.freshDatabase("work"),
            environment: TestPostgres.passwordEnvironment
        )
    }

    @Test func workersClaimingAtOnceGetDisjointBatchesCoveringAllWork() async throws {
        let db = try await Self.database()
        let urls = (0..<200).map { "http://feed/\($0)" }
        let first = try await WorkQueue.join(db, host: "a", pid: 1)
        #expect(try await first.enqueue(source: "s", urls: urls) == 200)
        let workers =
            [first] + [
                try await WorkQueue.join(db, host: "b", pid: 2), try await WorkQueue.join(db, host: "c", pid: 3),
            ]
        let claimed = try await withThrowingTaskGroup(of: [WorkQueue.Claim].self) { group in
            for w in workers {
                group.addTask {
                    var mine: [WorkQueue.Claim] = []
                    while true {
                        let batch = try await w.claim(limit: 7)
                        if batch.isEmpty { return mine }
                        for c in batch { #expect(try await w.complete(c)) }
                        mine += batch
                    }
                }
            }
            return try await group.reduce(into: [[WorkQueue.Claim]]()) { $0.append($1) }
        }
        let all = claimed.flatMap { $0 }
        #expect(all.count == 200)
        #expect(Set(all.map(\.url)) == Set(urls))
        #expect(all.allSatisfy { $0.attempt == 1 })
        #expect(try await first.claim(limit: 10).isEmpty)
        // A later listing reopens what it finds again.
        #expect(try await first.enqueue(source: "s", urls: Array(urls.prefix(3))) == 3)
    }

    /// A worker whose lease ran out (paused, partitioned) finds its object claimed by another
    /// at a higher attempt: its completion is refused; the other's goes through.
    @Test func aLateWorkerIsFencedOut() async throws {
        let db = try await Self.database()
        // A lease of zero: out as soon as it is taken (no waiting in the test).
        let late = try await WorkQueue.join(db, host: "a", pid: 1, lease: .zero)
        let other = try await WorkQueue.join(db, host: "b", pid: 2)
        try await late.enqueue(source: "s", urls: ["http://feed/x"])
        let lost = try #require(try await late.claim(limit: 1).first)
        let taken = try #require(try await other.claim(limit: 1).first)
        #expect(taken.url == lost.url && taken.attempt == lost.attempt + 1)
        #expect(try await late.complete(lost) == false)
        #expect(try await other.claim(limit: 1).isEmpty)  // held under a live lease
        #expect(try await other.complete(taken))
        #expect(try await other.complete(taken) == false)  // once
    }

    @Test func aLeavingWorkersClaimsReturnAtOnceAndHeartbeatsRenewThem() async throws {
        let db = try await Self.database()
        let a = try await WorkQueue.join(db, host: "a", pid: 1)
        let b = try await WorkQueue.join(db, host: "b", pid: 2)
        try await a.enqueue(source: "s", urls: ["u1", "u2", "u3"])
        #expect(try await a.claim(limit: 2).count == 2)
        #expect(try await a.heartbeat() == 2)
        let live = try await b.liveWorkers()
        #expect(live.map(\.host) == ["a", "b"] && live.map(\.claims) == [2, 0])
        #expect(try await b.claim(limit: 5).map(\.url) == ["u3"])
        try await a.leave()
        #expect(try await b.claim(limit: 5).map(\.url) == ["u1", "u2"])
        #expect(try await b.liveWorkers().map(\.host) == ["b"])
    }

    /// One lister per source: while one worker lists, another is turned away; once listed in
    /// this slot, it is not listed again.
    @Test func oneWorkerListsASourceAtATime() async throws {
        let db = try await Self.database()
        let db2 = try await PostgresDatabase.open(db.url, environment: TestPostgres.passwordEnvironment)
        let a = try await WorkQueue.join(db, host: "a", pid: 1)
        let b = try await WorkQueue.join(db2, host: "b", pid: 2)
        let slot = Date().addingTimeInterval(-60)
        let inside: Int? = try await a.listing(source: "s", listedSince: slot) {
            // B, meanwhile, on its own connections: turned away, its body never runs.
            let turnedAway: Int? = try await b.listing(source: "s", listedSince: slot) {
                Issue.record("two workers listed one source at once")
                return 2
            }
            #expect(turnedAway == nil)
            // Another source is free.
            #expect(try await b.listing(source: "t") { 3 } == 3)
            return 1
        }
        #expect(inside == 1)
        // Listed in this slot already: nobody lists it again; a later slot does.
        #expect(try await b.listing(source: "s", listedSince: slot) { 4 } == nil)
        #expect(try await b.listing(source: "s", listedSince: Date().addingTimeInterval(3600)) { 5 } == 5)
    }

    /// `status` on a PostgreSQL state lists the live workers: host, pid, heartbeat, claims.
    @Test func statusShowsTheLiveWorkersWithTheirClaims() async throws {
        let url = try await TestPostgres.freshDatabase("status")
        let store = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        let worker = try await WorkQueue.join(store.database, host: "ingest-7.example", pid: 4242)
        try await worker.enqueue(source: "s", urls: ["u1", "u2", "u3"])
        #expect(try await worker.claim(limit: 2).count == 2)
        let folder = RepoPaths.temporaryFolder()
        let file = folder.appendingPathComponent("p.yml")
        try Data(
            """
            version: 1
            state: \(url)
            spool: spool/
            shared: shared/
            members: [{id: NASA}]
            collections: [{id: c}]
            sources: [{id: s, owner: NASA, collection: c, format: landsat-mtl, url: feed/}]
            embargo: {rules: [{match: {owner: NASA}, clock: acquired, period: P1D}]}
            """.utf8
        ).write(to: file)
        let report = try await StatusReport.build(pipeline: try Pipeline.load(from: file), state: store, now: Date())
        #expect(report.workers?.map(\.pid) == [4242])
        #expect(report.workers?.first?.claims == 2)
        #expect(report.text.contains("ingest-7.example pid 4242: last heartbeat "))
        #expect(report.text.contains(", 2 claims"))
        #expect(report.json["workers"]?.arrayValue?.first?["host"]?.stringValue == "ingest-7.example")
        try await worker.leave()
        let after = try await StatusReport.build(pipeline: try Pipeline.load(from: file), state: store, now: Date())
        #expect(after.workers?.isEmpty == true)
        // A SQLite state has no workers to show.
        #expect(StatusReport(now: Date()).json["workers"] == nil)
        await store.close()
    }
}
