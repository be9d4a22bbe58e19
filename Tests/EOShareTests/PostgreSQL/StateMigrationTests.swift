import Foundation
import GRDB
import Logging
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOSharePublish
@testable import EOShareState

/// `eoshare migrate`: a SQLite state after real ingests, copied into an empty PostgreSQL
/// database; the ledger's chain carried whole (same lines, same head, verified), every row
/// there, a non-empty database refused.
@Suite(.enabled(if: TestPostgres.enabled)) struct StateMigrationTests {
    @Test func copiesASQLiteStateWithItsLedgerChainIntoAnEmptyDatabase() async throws {
        let folder = RepoPaths.temporaryFolder()
        let server = try TestHTTPServer(root: try IngestEndToEndTests.makeFeed(folder))
        defer { server.stop() }
        let p = try IngestEndToEndTests.pipeline(folder, url: server.baseURL.absoluteString + "landsat/")
        let t1 = Timestamp.parse("2022-02-15T00:00:00Z")!
        let t2 = Timestamp.parse("2022-05-01T00:00:00Z")!
        _ = try await IngestRun(pipeline: p, at: t1, logger: IngestEndToEndTests.logger).run()
        _ = try await IngestRun(pipeline: p, at: t2, logger: IngestEndToEndTests.logger).run()
        let before = try await Auditor(pipeline: p, rehash: true).audit(at: t2)
        #expect(before.compliant, "\(before.findings)")

        let sqlite = try SQLiteStateStore(path: p.statePath)
        let anchor = try await sqlite.ledgerAnchor()
        #expect(anchor.lines == 17 + 2)  // 17 publications, 2 releases
        let url = try await TestPostgres.freshDatabase("migrate")
        let store = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        let copied = try await StateMigration.copy(from: sqlite, ledgerFile: p.ledgerPath, to: store) {
            try await Ledger.flush(state: sqlite, to: p.ledgerPath)
        }

        #expect(copied.ledgerLines == anchor.lines)
        #expect(copied.ledgerHead == anchor.head)
        let pgAnchor = try await store.ledgerAnchor()
        #expect(pgAnchor.lines == anchor.lines && pgAnchor.head == anchor.head)
        // The same lines, byte for byte, and a chain that verifies against the new anchor.
        var lines: [UInt8] = []
        try await store.forEachLedgerLine { _, line in lines += line + [0x0A] }
        #expect(lines == (try FileBytes.read(p.ledgerPath)))
        #expect(LedgerVerifier.verify(bytes: lines, anchor: .init(lines: pgAnchor.lines, hash: pgAnchor.head)).isEmpty)

        // Every row, with the same content.
        for table in ["objects", "records", "publications", "runs", "quarantine", "extents", "dirty_catalogs"] {
            let n = try { try sqlite.db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM \(table)") } }() ?? -1
            let m = try await TestPostgres.query(url, "SELECT count(*) FROM \(table)")[0].decode(Int.self)
            #expect(n == m, "\(table): \(n) rows in SQLite, \(m) in PostgreSQL")
        }
        #expect(copied.tables["records"] == 4)
        var records: [String] = []
        try await sqlite.forEachRecord { records.append($0.subject.id + String(decoding: $0.item, as: UTF8.self)) }
        var copiedRecords: [String] = []
        try await store.forEachRecord { copiedRecords.append($0.subject.id + String(decoding: $0.item, as: UTF8.self)) }
        #expect(records == copiedRecords)
        #expect(
            try await store.publications(collection: "landsat-c2-l2", id: "LC09_L2SP_010065_20220129_02_T1")
                == (try await sqlite.publications(collection: "landsat-c2-l2", id: "LC09_L2SP_010065_20220129_02_T1"))
        )
        // A run started after the copy takes the next id.
        let next = try await store.startRun(at: t2, startedAt: Date())
        #expect(next == Int64(copied.tables["runs"]! + 1))

        // Once is enough: a database that holds anything is refused, and left as it was.
        await #expect(throws: StateMigration.NotEmpty.self) {
            _ = try await StateMigration.copy(from: sqlite, ledgerFile: p.ledgerPath, to: store) {}
        }
        #expect(try await store.ledgerAnchor().lines == anchor.lines)
        await store.close()
    }

    @Test func aBrokenLedgerIsNotCarriedOver() async throws {
        let folder = RepoPaths.temporaryFolder()
        let server = try TestHTTPServer(root: try IngestEndToEndTests.makeFeed(folder))
        defer { server.stop() }
        let p = try IngestEndToEndTests.pipeline(folder, url: server.baseURL.absoluteString + "landsat/")
        _ = try await IngestRun(
            pipeline: p,
            at: Timestamp.parse("2022-02-15T00:00:00Z")!,
            logger: IngestEndToEndTests.logger
        )
        .run()
        var text = try String(contentsOf: p.ledgerPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"publish\"", with: "\"publisH\"")
        try Data(text.utf8).write(to: p.ledgerPath)
        let url = try await TestPostgres.freshDatabase("broken")
        let store = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        await #expect(throws: StateMigration.BrokenLedger.self) {
            _ = try await StateMigration.copy(
                from: try SQLiteStateStore(path: p.statePath),
                ledgerFile: p.ledgerPath,
                to: store
            ) {}
        }
        #expect(try await store.ledgerAnchor().lines == 0)
        await store.close()
    }
}
