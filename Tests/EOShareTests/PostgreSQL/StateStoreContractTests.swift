import Foundation
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOSharePublish
@testable import EOShareState

/// Both states by one test body: the StateStore protocol's meaning, method by method, as
/// SQLite (the embedded default) and PostgreSQL (the test cluster) keep it.
@Suite struct StateStoreContractTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sqlite, postgresql
        var testDescription: String { rawValue }
    }

    /// SQLite always; PostgreSQL wherever the cluster is (always under CI, where its absence fails).
    static let kinds: [Kind] = TestPostgres.enabled ? [.sqlite, .postgresql] : [.sqlite]

    static func store(_ kind: Kind) async throws -> any StateStore {
        switch kind {
        case .sqlite:
            return try SQLiteStateStore(path: RepoPaths.temporaryFolder().appendingPathComponent("state.sqlite"))
        case .postgresql:
            return try await PostgresStateStore.open(
                try await TestPostgres.freshDatabase("contract"),
                environment: TestPostgres.passwordEnvironment
            )
        }
    }

    /// The committed ledger lines, in order: the pending lines of SQLite (no file is written
    /// here), the table of PostgreSQL.
    static func ledger(_ store: any StateStore) async throws -> [[UInt8]] {
        if let table = store as? PostgresStateStore {
            var lines: [[UInt8]] = []
            try await table.forEachLedgerLine { _, line in lines.append(line) }
            return lines
        }
        return try await store.pendingLedgerLines().map(\.line)
    }

    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    static func record(
        _ id: String,
        collection: String = "c1",
        owner: String = "NASA",
        start: Date? = t0,
        bbox: [Double]? = [0, 0, 1, 1],
        next: Date? = nil,
        day: String = "2023/11/14"
    ) -> StoredRecord {
        StoredRecord(
            subject: EmbargoSubject(
                id: id,
                collection: collection,
                owner: owner,
                bbox: bbox,
                acquired: start,
                processed: nil,
                ingested: t0
            ),
            source: "s",
            objectURL: "http://h/\(id)",
            startTime: start,
            endTime: nil,
            item: Array("{\"id\":\"\(id)\"}".utf8),
            assets: [StoredAsset(file: "\(id).txt", sha256: String(repeating: "a", count: 64), size: 12)],
            nextChange: next,
            place: ItemPlace(day: day, folder: id)
        )
    }

    static func event(_ n: Int) -> LedgerEvent {
        LedgerEvent(event: "publish", at: t0, fields: [("record", .string("r\(n)"))])
    }

    static func object(_ url: String, outcome: ObjectOutcome = .record, record: String? = "r1") -> StoredObject {
        StoredObject(
            url: url,
            source: "s",
            etag: "\"e\"",
            lastModified: nil,
            size: 10,
            sha256: "ab",
            outcome: outcome,
            reason: outcome == .record ? nil : "bad",
            recordCollection: record == nil ? nil : "c1",
            recordId: record
        )
    }

    @Test(arguments: kinds) func objectsKeepTheRecordTheyPublishedThroughARefusal(_ kind: Kind) async throws {
        let store = try await Self.store(kind)
        try await store.saveObject(Self.object("http://h/a"), at: Self.t0)
        try await store.saveObject(Self.object("http://h/b", record: "r2"), at: Self.t0)
        #expect(try await store.object(url: "http://h/a") == Self.object("http://h/a"))
        #expect(try await store.object(url: "http://h/none") == nil)
        // A refusal without a record keeps the record the object brought before.
        try await store.saveObject(Self.object("http://h/a", outcome: .refused, record: nil), at: Self.t0)
        let refused = try #require(try await store.object(url: "http://h/a"))
        #expect(refused.outcome == .refused && refused.reason == "bad")
        #expect(refused.recordCollection == "c1" && refused.recordId == "r1")
        let both = try await store.objects(urls: ["http://h/a", "http://h/b", "http://h/none"])
        #expect(Set(both.keys) == ["http://h/a", "http://h/b"])
        try await store.forgetObject(url: "http://h/a")
        #expect(try await store.object(url: "http://h/a") == nil)
    }

    @Test(arguments: kinds) func recordsComeInByteOrderPageByPageAndWhenDue(_ kind: Kind) async throws {
        let store = try await Self.store(kind)
        let ids = ["b", "B", "a_1", "Z", "a", "é", "a-2"]
        try await store.begin(
            ids.enumerated().map { i, id in
                Intent(
                    record: Self.record(id, next: i.isMultiple(of: 2) ? Self.t0.addingTimeInterval(Double(i)) : nil),
                    publishing: [],
                    retracting: []
                )
            } + [Intent(record: Self.record("a", collection: "c0"), publishing: [], retracting: [])],
            at: Self.t0
        )
        var seen: [String] = []
        try await store.forEachRecord(pageSize: 3) { seen.append("\($0.subject.collection)/\($0.subject.id)") }
        // Bytes order, as SQLite compares: capitals before small letters, UTF-8 last.
        #expect(seen == ["c0/a", "c1/B", "c1/Z", "c1/a", "c1/a-2", "c1/a_1", "c1/b", "c1/é"])
        var due: [String] = []
        try await store.forEachRecord(dueAt: Self.t0.addingTimeInterval(4), pageSize: 2) { due.append($0.subject.id) }
        #expect(due == ["a", "a_1", "b"])  // indices 4, 2, 0 of `ids` (6 is due later)
        var subjects: [String] = []
        try await store.forEachSubject(pageSize: 5) { subjects.append($0.id) }
        #expect(subjects.count == 8)
        let r = try #require(try await store.record(collection: "c1", id: "é"))
        #expect(
            r.item == Array("{\"id\":\"é\"}".utf8) && r.subject.bbox == [0, 0, 1, 1] && r.subject.ingested == Self.t0
        )
        #expect(r.assets == [StoredAsset(file: "é.txt", sha256: String(repeating: "a", count: 64), size: 12)])
        #expect(try await store.records(id: "a").map(\.subject.collection) == ["c0", "c1"])
        try await store.setNextChange(collection: "c1", id: "Z", nil)
        #expect(try await store.record(collection: "c1", id: "Z")?.nextChange == nil)
    }

    @Test(arguments: kinds) func publishingConfirmsWithLedgerLinesChainedInTheSameTransaction(_ kind: Kind) async throws
    {
        let store = try await Self.store(kind)
        let r = Self.record("r1", bbox: [10, 20, 30, 40])
        try await store.begin([Intent(record: r, publishing: ["NASA", "ESA"], retracting: [])], at: Self.t0)
        #expect(try await store.publications(collection: "c1", id: "r1").map(\.status) == [.publishing, .publishing])
        #expect(try await store.unfinishedRecords() == [RecordKey(collection: "c1", id: "r1")])
        #expect(try await store.catalogItems(CatalogKey(viewer: "NASA", collection: "c1", day: "2023/11/14")).isEmpty)
        let initial = try await store.extent(viewer: "NASA", collection: "c1")
        #expect(initial.bbox == nil)
        try await store.confirm(
            [
                Confirmation(
                    collection: "c1",
                    id: "r1",
                    day: "2023/11/14",
                    published: ["NASA", "ESA"],
                    retracted: [],
                    object: Self.object("http://h/r1"),
                    ledger: [Self.event(1), Self.event(2)]
                )
            ],
            at: Self.t0
        )
        #expect(try await store.publications(collection: "c1", id: "r1").map(\.status) == [.published, .published])
        #expect(try await store.unfinishedRecords().isEmpty)
        #expect(try await store.object(url: "http://h/r1") != nil)
        #expect(
            try await store.dirtyCatalogs().map(\.key) == [
                CatalogKey(viewer: "ESA", collection: "c1", day: "2023/11/14"),
                CatalogKey(viewer: "NASA", collection: "c1", day: "2023/11/14"),
            ]
        )
        #expect(
            try await store.catalogItems(CatalogKey(viewer: "NASA", collection: "c1", day: "2023/11/14"))
                == [CatalogEntry(folder: "r1", id: "r1")]
        )
        #expect(try await store.catalogDays(viewer: "ESA", collection: "c1") == ["2023/11/14"])
        #expect(try await store.publishedCollections(viewer: "ESA") == ["c1"])
        #expect(try await store.publicationViewers() == ["ESA", "NASA"])
        // The kept extent grows by a second confirmed copy.
        #expect(try await store.extent(viewer: "NASA", collection: "c1").bbox == [10, 20, 30, 40])
        try await store.begin(
            [Intent(record: Self.record("r2", bbox: [-5, 25, 12, 50]), publishing: ["NASA"], retracting: [])],
            at: Self.t0
        )
        try await store.confirm(
            [
                Confirmation(
                    collection: "c1",
                    id: "r2",
                    day: "2023/11/14",
                    published: ["NASA"],
                    retracted: [],
                    object: nil,
                    ledger: [Self.event(3)]
                )
            ],
            at: Self.t0
        )
        #expect(try await store.extent(viewer: "NASA", collection: "c1").bbox == [-5, 20, 30, 50])
        try await store.clearDirtyCatalogs(try await store.dirtyCatalogs())
        #expect(try await store.dirtyCatalogs().isEmpty)

        // A retraction: the intent, then the copy gone and the extent recomputed from what stays.
        let copy = try #require(try await store.publications(collection: "c1", id: "r2").first)
        try await store.begin(
            [Intent(record: Self.record("r2", bbox: [-5, 25, 12, 50]), publishing: [], retracting: [copy])],
            at: Self.t0
        )
        #expect(
            try await store.dirtyCatalogs().map(\.key) == [
                CatalogKey(viewer: "NASA", collection: "c1", day: "2023/11/14")
            ]
        )
        try await store.confirm(
            [
                Confirmation(
                    collection: "c1",
                    id: "r2",
                    day: "2023/11/14",
                    published: [],
                    retracted: ["NASA"],
                    object: nil,
                    ledger: [Self.event(4)]
                )
            ],
            at: Self.t0
        )
        #expect(try await store.publications(collection: "c1", id: "r2").isEmpty)
        #expect(try await store.extent(viewer: "NASA", collection: "c1").bbox == [10, 20, 30, 40])

        // Four lines, each holding the hash of the one before; the anchor at the last.
        let lines = try await Self.ledger(store)
        #expect(lines.count == 4)
        var previous = Ledger.genesis
        for line in lines {
            #expect(try JSONValue.parse(line)["prev"]?.stringValue == previous)
            previous = Digest.sha256Hex(line)
        }
        let anchor = try await store.ledgerAnchor()
        #expect(anchor.lines == 4 && anchor.head == previous)
    }

    /// Many workers (CONTRACT §7): a catalog mark set again after a writer read it (another
    /// worker's change, committed while the first wrote) is not taken off by that writer.
    @Test func aCatalogMarkSetAgainOutlivesTheClearOfAnOlderRead() async throws {
        guard TestPostgres.enabled else { return }
        let store = try await Self.store(.postgresql)
        let key = CatalogKey(viewer: "NASA", collection: "c1", day: "2023/11/14")
        try await store.markDirty(key)
        let read = try await store.dirtyCatalogs()
        try await store.markDirty(key)
        try await store.clearDirtyCatalogs(read)
        #expect(try await store.dirtyCatalogs().map(\.key) == [key])
        try await store.clearDirtyCatalogs(try await store.dirtyCatalogs())
        #expect(try await store.dirtyCatalogs().isEmpty)
    }

    @Test(arguments: kinds) func lookupFailuresReopeningAndAdoption(_ kind: Kind) async throws {
        let store = try await Self.store(kind)
        try await store.begin(
            [
                Intent(record: Self.record("r1"), publishing: ["NASA", "ESA"], retracting: []),
                Intent(record: Self.record("r2"), publishing: ["NASA"], retracting: []),
            ],
            at: Self.t0
        )
        try await store.saveObject(Self.object("http://h/r1"), at: Self.t0)
        let found = try await store.lookup(collection: "c1", id: "r1", folder: "r2", objectURL: "http://h/r1")
        #expect(found.existing?.subject.id == "r1" && found.publications.map(\.viewer) == ["ESA", "NASA"])
        #expect(found.objectOwner == "NASA" && found.folderTakenBy == "r2")
        // The record that failed more often comes after.
        try await store.recordFailure(collection: "c1", id: "r1", viewers: ["NASA", "ESA"], error: "disk full")
        #expect(try await store.unfinishedRecords().map(\.id) == ["r2", "r1"])
        #expect(try await store.publications(collection: "c1", id: "r1").map(\.failures) == [1, 1])
        try await store.confirm(
            [
                Confirmation(
                    collection: "c1",
                    id: "r2",
                    day: "2023/11/14",
                    published: ["NASA"],
                    retracted: [],
                    object: nil,
                    ledger: []
                )
            ],
            at: Self.t0
        )
        try await store.reopen(collection: "c1", id: "r2", viewer: "NASA")
        #expect(try await store.publications(collection: "c1", id: "r2").first?.status == .publishing)
        // A copy found in a tree the state did not know.
        try await store.adopt(
            record: Self.record("r3"),
            collection: "c1",
            id: "r3",
            viewer: "JAXA",
            place: ItemPlace(day: "undated", folder: "r3"),
            at: Self.t0
        )
        #expect(try await store.publications(collection: "c1", id: "r3").map(\.status) == [.published])
        #expect(
            try await store.dirtyCatalogs().map(\.key).contains(
                CatalogKey(viewer: "JAXA", collection: "c1", day: "undated")
            )
        )
        try await store.clearDirtyCatalogs(try await store.dirtyCatalogs())
        try await store.markAllDirty()
        #expect(try await store.dirtyCatalogs().count == 3)  // (ESA|JAXA|NASA) × c1 at their days
        var pages: [String] = []
        try await store.forEachPublication(viewer: "NASA") { key, p in pages.append("\(key.id):\(p.status.rawValue)") }
        #expect(pages == ["r1:publishing", "r2:publishing"])
    }

    @Test(arguments: kinds) func aViewerThatLeftIsForgottenWithItsLedgerLines(_ kind: Kind) async throws {
        let store = try await Self.store(kind)
        try await store.begin(
            [Intent(record: Self.record("r1", owner: "ESA"), publishing: ["GONE", "NASA"], retracting: [])],
            at: Self.t0
        )
        try await store.confirm(
            [
                Confirmation(
                    collection: "c1",
                    id: "r1",
                    day: "2023/11/14",
                    published: ["GONE", "NASA"],
                    retracted: [],
                    object: nil,
                    ledger: []
                )
            ],
            at: Self.t0
        )
        let leaving = try await store.beginRemovingViewer("GONE")
        #expect(leaving == [LeavingCopy(collection: "c1", id: "r1", owner: "ESA")])
        #expect(try await store.publications(collection: "c1", id: "r1").map(\.status) == [.retracting, .published])
        try await store.confirmViewerRemoved("GONE", ledger: [Self.event(1)])
        #expect(try await store.publicationViewers() == ["NASA"])
        #expect(try await store.dirtyCatalogs().allSatisfy { $0.key.viewer != "GONE" })
        #expect(try await store.ledgerAnchor().lines == 1)
    }

    @Test(arguments: kinds) func runsQuarantineCountsAndMeta(_ kind: Kind) async throws {
        let store = try await Self.store(kind)
        let first = try await store.startRun(at: Self.t0, startedAt: Self.t0)
        let second = try await store.startRun(at: Self.t0, startedAt: Self.t0.addingTimeInterval(1))
        #expect(second == first + 1)
        #expect(try await store.markDiedRuns(foundBy: second) == [first])
        try await store.addQuarantine(
            runId: second,
            source: "s",
            object: "http://h/x",
            reason: "truncated gzip",
            at: Self.t0,
            ledger: Self.event(9)
        )
        try await store.finishRun(
            second,
            status: .quarantined,
            summary: "{}",
            finishedAt: Self.t0.addingTimeInterval(2)
        )
        let runs = try await store.recentRuns(limit: 10)
        #expect(runs.map(\.status) == ["quarantined", "died"])
        #expect(runs.last?.error?.contains("killed or crashed") == true)
        let totals = try await store.runTotals()
        #expect(totals.finished == 1 && totals.lastSuccess == nil)
        let third = try await store.startRun(at: Self.t0, startedAt: Self.t0)
        try await store.finishRun(third, status: .ok, summary: "{}", finishedAt: Self.t0.addingTimeInterval(5))
        #expect(try await store.runTotals().lastSuccess == Self.t0.addingTimeInterval(5))
        #expect(try await store.recentQuarantine(limit: 5).map(\.reason) == ["truncated gzip"])
        #expect(try await store.ledgerAnchor().lines == 1)

        try await store.begin(
            [Intent(record: Self.record("r1"), publishing: ["NASA", "ESA"], retracting: [])],
            at: Self.t0
        )
        try await store.begin(
            [Intent(record: Self.record("r2", collection: "c2"), publishing: ["NASA"], retracting: [])],
            at: Self.t0
        )
        try await store.confirm(
            [
                Confirmation(
                    collection: "c1",
                    id: "r1",
                    day: "2023/11/14",
                    published: ["NASA", "ESA"],
                    retracted: [],
                    object: nil,
                    ledger: []
                )
            ],
            at: Self.t0
        )
        let counts = try await store.collectionCounts()
        #expect(counts.map(\.collection) == ["c1", "c2"] && counts.map(\.records) == [1, 1])
        #expect(counts[0].perViewer.map { "\($0.viewer)=\($0.items)" } == ["ESA=1", "NASA=1"])
        #expect(counts[1].perViewer.isEmpty)

        #expect(try await store.meta("policy") == nil)
        try await store.setMeta("policy", "a")
        try await store.setMeta("policy", "b")
        #expect(try await store.meta("policy") == "b")
        try await store.deleteMeta("policy")
        #expect(try await store.meta("policy") == nil)
    }

    /// Writers at once (the workers of many hosts, on PostgreSQL): one chain, no line lost,
    /// none twice.
    @Test(arguments: kinds) func concurrentWritersKeepOneChain(_ kind: Kind) async throws {
        let store = try await Self.store(kind)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<6 {
                group.addTask {
                    for n in 0..<15 { try await store.appendLedger([Self.event(worker * 100 + n)]) }
                }
            }
            try await group.waitForAll()
        }
        let lines = try await Self.ledger(store)
        #expect(lines.count == 90)
        var previous = Ledger.genesis
        var records = Set<String>()
        for line in lines {
            let entry = try JSONValue.parse(line)
            #expect(entry["prev"]?.stringValue == previous)
            records.insert(entry["record"]?.stringValue ?? "")
            previous = Digest.sha256Hex(line)
        }
        #expect(records.count == 90)
        #expect(try await store.ledgerAnchor().head == previous)
    }
}
