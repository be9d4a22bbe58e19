import EOShareCore
import EOShareEmbargo
import Foundation
import GRDB
import GRDBSQLite

/// The pipeline's memory in SQLite (through GRDB): fetched objects, records with their
/// normalized items, publications (record × viewer), runs and quarantined objects.
public final class SQLiteStateStore: StateStore {
    package let db: DatabaseQueue

    public init(path: URL) throws {
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        var config = Configuration()
        config.journalMode = .wal
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        db = try DatabaseQueue(path: path.path, configuration: config)
        try Self.migrator(ledger: path.deletingLastPathComponent().appendingPathComponent("ledger.jsonl")).migrate(db)
    }

    /// `ledger` is the ledger file beside the state, whose lines an older state did not anchor.
    package static func migrator(ledger: URL) -> DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE objects (
                        url TEXT PRIMARY KEY,
                        source TEXT NOT NULL,
                        etag TEXT,
                        last_modified TEXT,
                        size INTEGER,
                        sha256 TEXT,
                        outcome TEXT NOT NULL,          -- record | quarantined
                        reason TEXT,
                        record_collection TEXT,
                        record_id TEXT,
                        fetched_at REAL NOT NULL
                    );
                    CREATE TABLE records (
                        collection TEXT NOT NULL,
                        id TEXT NOT NULL,
                        owner TEXT NOT NULL,
                        source TEXT NOT NULL,
                        object_url TEXT NOT NULL,
                        start_time REAL,
                        end_time REAL,
                        acquired REAL,
                        processed REAL,
                        ingested REAL,
                        west REAL, south REAL, east REAL, north REAL,
                        item BLOB NOT NULL,             -- the STAC item without links, compact JSON
                        assets TEXT NOT NULL,           -- JSON [{"file","sha256","size"}] of local assets
                        next_change REAL,               -- next instant its visibility may change
                        updated_at REAL NOT NULL,
                        PRIMARY KEY (collection, id)
                    );
                    CREATE INDEX records_next_change ON records(next_change);
                    CREATE INDEX records_id ON records(id);
                    -- A row exists before any file of the item appears in the viewer's tree and
                    -- goes only after the last one is gone: 'publishing' and 'retracting' are
                    -- intents a crashed run leaves for the next one to finish.
                    CREATE TABLE publications (
                        collection TEXT NOT NULL,
                        record_id TEXT NOT NULL,
                        viewer TEXT NOT NULL,
                        status TEXT NOT NULL,           -- publishing | published | retracting
                        published_at REAL NOT NULL,
                        PRIMARY KEY (collection, record_id, viewer)
                    );
                    CREATE INDEX publications_viewer ON publications(viewer, collection);
                    -- Collections whose items changed and whose collection.json is not yet rewritten.
                    CREATE TABLE dirty_collections (
                        viewer TEXT NOT NULL,
                        collection TEXT NOT NULL,
                        PRIMARY KEY (viewer, collection)
                    );
                    CREATE TABLE runs (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        started_at REAL NOT NULL,
                        finished_at REAL,
                        at REAL NOT NULL,
                        status TEXT NOT NULL,
                        summary TEXT
                    );
                    CREATE TABLE quarantine (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        run_id INTEGER,
                        source TEXT NOT NULL,
                        object TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        at REAL NOT NULL
                    );
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    """
            )
        }
        // The index-page entry (time to the minute and size, as shown) of an object fetched
        // at least a minute after it last changed: while the page shows the same entry, the
        // object has not changed (see Fetcher).
        m.registerMigration("v2-objects-listed") { db in
            try db.execute(sql: "ALTER TABLE objects ADD COLUMN listed TEXT")
        }
        // The layout by year, month and day (CONTRACT §6): each record's place, and each
        // publication's own place (where that viewer's copy is, should the record move);
        // catalogs to rewrite per day; the ledger's lines committed with the changes they
        // record, waiting to be appended to ledger.jsonl.
        m.registerMigration("v3-layout-ledger") { db in
            try db.execute(
                sql: """
                    ALTER TABLE records ADD COLUMN day TEXT NOT NULL DEFAULT 'undated';
                    ALTER TABLE records ADD COLUMN folder TEXT NOT NULL DEFAULT '';
                    ALTER TABLE publications ADD COLUMN day TEXT NOT NULL DEFAULT 'undated';
                    ALTER TABLE publications ADD COLUMN folder TEXT NOT NULL DEFAULT '';
                    ALTER TABLE publications ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE publications ADD COLUMN error TEXT;
                    DROP TABLE dirty_collections;
                    CREATE TABLE dirty_catalogs (
                        viewer TEXT NOT NULL,
                        collection TEXT NOT NULL,
                        day TEXT NOT NULL,
                        PRIMARY KEY (viewer, collection, day)
                    );
                    CREATE TABLE ledger_pending (seq INTEGER PRIMARY KEY, line BLOB NOT NULL);
                    -- Each viewer's collection extent, grown as copies are confirmed; recomputed
                    -- from the records only after a copy left (stale), so a run that adds ten
                    -- records to a million does not read the million.
                    CREATE TABLE extents (
                        viewer TEXT NOT NULL,
                        collection TEXT NOT NULL,
                        west REAL, south REAL, east REAL, north REAL, start_time REAL, end_time REAL,
                        stale INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (viewer, collection)
                    );
                    CREATE INDEX publications_day ON publications(viewer, collection, day, status);
                    """
            )
            let rows = try Row.fetchAll(db, sql: "SELECT collection, id, start_time FROM records")
            for row in rows {
                let id: String = row["id"]
                let start = (row["start_time"] as Double?).map(Date.init(timeIntervalSince1970:))
                let place = ItemPlace(day: ItemPlace.day(of: start), folder: (try? ItemFolderName.encode(id)) ?? id)
                try db.execute(
                    sql: "UPDATE records SET day = ?, folder = ? WHERE collection = ? AND id = ?",
                    arguments: [place.day, place.folder, row["collection"], id]
                )
                try db.execute(
                    sql: "UPDATE publications SET day = ?, folder = ? WHERE collection = ? AND record_id = ?",
                    arguments: [place.day, place.folder, row["collection"], id]
                )
            }
            // The ledger so far becomes the anchor the next lines chain onto.
            if let bytes = try? FileBytes.read(ledger), !bytes.isEmpty {
                var end = bytes.count
                if bytes.last != 0x0A, let nl = bytes.lastIndex(of: 0x0A) { end = nl + 1 }  // a torn last line is cut
                let lines = bytes[..<end].split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
                if let last = lines.last {
                    try db.execute(
                        sql: """
                            INSERT OR REPLACE INTO meta (key, value) VALUES ('ledger_lines', ?), ('ledger_head', ?),
                            ('ledger_file_lines', ?), ('ledger_file_bytes', ?)
                            """,
                        arguments: [
                            String(lines.count), Digest.sha256Hex(Array(last)), String(lines.count), String(end),
                        ]
                    )
                }
            }
            // The trees are still in the old layout: the next run reconciles them.
            if !rows.isEmpty {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('reconcile', 'the layout changed')"
                )
            }
            try db.execute(sql: "CREATE UNIQUE INDEX records_folder ON records(collection, folder)")
        }
        SearchIndex.register(&m)
        return m
    }

    // MARK: Objects

    public func object(url: String) async throws -> StoredObject? {
        try await db.read { db in try Self.object(db, url: url) }
    }

    /// The remembered objects among `urls`, read in one go: the fetch stage asks for the
    /// objects of a source as soon as it has listed them, so fetching each one costs no
    /// query (a query from a fetch worker is a hop to the database's queue and two file
    /// locks).
    public func objects(urls: [String]) async throws -> [String: StoredObject] {
        try await db.read { db in
            var found: [String: StoredObject] = [:]
            for url in urls {
                if let object = try Self.object(db, url: url) { found[url] = object }
            }
            return found
        }
    }

    /// One statement, parsed once, its row read with the SQLite calls themselves (GRDB's row
    /// objects were most of the cost of this lookup).
    private static func object(_ db: Database, url: String) throws -> StoredObject? {
        let statement = try db.cachedStatement(
            sql: """
                SELECT url, source, etag, last_modified, size, sha256, outcome, reason, record_collection,
                record_id, listed FROM objects WHERE url = ?
                """
        )
        statement.setUncheckedArguments([url])
        let s = statement.sqliteStatement
        defer { sqlite3_reset(s) }
        let code = sqlite3_step(s)
        if code == SQLITE_DONE { return nil }
        guard code == SQLITE_ROW else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage)
        }
        func text(_ column: Int32) -> String? {
            sqlite3_column_text(s, column).map { String(cString: $0) }
        }
        return StoredObject(
            url: text(0) ?? url,
            source: text(1) ?? "",
            etag: text(2),
            lastModified: text(3),
            size: sqlite3_column_type(s, 4) == SQLITE_NULL ? nil : sqlite3_column_int64(s, 4),
            sha256: text(5),
            outcome: ObjectOutcome(rawValue: text(6) ?? "") ?? .refused,
            reason: text(7),
            recordCollection: text(8),
            recordId: text(9),
            listed: text(10)
        )
    }

    public func saveObject(_ o: StoredObject, at: Date) async throws {
        try await db.write { db in try Self.saveObject(db, o, at: at) }
    }

    /// A row without a record keeps the record the object published before: a refusal or a
    /// rejection leaves that record published, so it still comes from this object (which is
    /// what catches a later owner change of the object).
    package static func saveObject(_ db: Database, _ o: StoredObject, at: Date) throws {
        do {
            try db.execute(
                sql: """
                    INSERT INTO objects
                    (url, source, etag, last_modified, size, sha256, outcome, reason, record_collection, record_id,
                     fetched_at, listed)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(url) DO UPDATE SET
                        source = excluded.source, etag = excluded.etag, last_modified = excluded.last_modified,
                        size = excluded.size, sha256 = excluded.sha256, outcome = excluded.outcome,
                        reason = excluded.reason, fetched_at = excluded.fetched_at, listed = excluded.listed,
                        record_collection = COALESCE(excluded.record_collection, objects.record_collection),
                        record_id = CASE WHEN excluded.record_collection IS NULL THEN objects.record_id
                                         ELSE excluded.record_id END
                    """,
                arguments: [
                    o.url, o.source, o.etag, o.lastModified, o.size, o.sha256, o.outcome.rawValue, o.reason,
                    o.recordCollection, o.recordId, at.timeIntervalSince1970, o.listed,
                ]
            )
        }
    }

    // MARK: Records

    public func record(collection: String, id: String) async throws -> StoredRecord? {
        try await db.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT * FROM records WHERE collection = ? AND id = ?",
                arguments: [collection, id]
            ).map(Self.storedRecord)
        }
    }

    /// Every record with this id, in any collection (ids are unique per collection).
    public func records(id: String) async throws -> [StoredRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM records WHERE id = ? ORDER BY collection", arguments: [id])
                .map(Self.storedRecord)
        }
    }

    public func recordPage(dueAt: Date?, after: RecordKey?, limit: Int) async throws -> [StoredRecord] {
        try await db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM records WHERE (collection, id) > (?, ?)
                    \(dueAt == nil ? "" : "AND next_change IS NOT NULL AND next_change <= ?")
                    ORDER BY collection, id LIMIT ?
                    """,
                arguments: StatementArguments(
                    [after?.collection ?? "", after?.id ?? ""] + (dueAt.map { [$0.timeIntervalSince1970] } ?? [])
                        + [limit]
                )
            ).map(Self.storedRecord)
        }
    }

    public func subjectPage(after: RecordKey?, limit: Int) async throws -> [EmbargoSubject] {
        try await db.read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, collection, owner, west, south, east, north, acquired, processed, ingested
                    FROM records WHERE (collection, id) > (?, ?) ORDER BY collection, id LIMIT ?
                    """,
                arguments: [after?.collection ?? "", after?.id ?? "", limit]
            )
            func date(_ v: Double?) -> Date? { v.map(Date.init(timeIntervalSince1970:)) }
            var page: [EmbargoSubject] = []
            while let row = try rows.next() {
                var bbox: [Double]?
                if let w: Double = row[3], let s: Double = row[4], let e: Double = row[5], let n: Double = row[6] {
                    bbox = [w, s, e, n]
                }
                page.append(
                    EmbargoSubject(
                        id: row[0],
                        collection: row[1],
                        owner: row[2],
                        bbox: bbox,
                        acquired: date(row[7]),
                        processed: date(row[8]),
                        ingested: date(row[9])
                    )
                )
            }
            return page
        }
    }

    package static func storedRecord(_ row: Row) -> StoredRecord {
        func date(_ key: String) -> Date? { (row[key] as Double?).map(Date.init(timeIntervalSince1970:)) }
        var bbox: [Double]?
        if let w: Double = row["west"], let s: Double = row["south"], let e: Double = row["east"],
            let n: Double = row["north"]
        {
            bbox = [w, s, e, n]
        }
        let assets = StoredAsset.list(fromColumn: row["assets"])
        let item: Data = row["item"]
        return StoredRecord(
            subject: EmbargoSubject(
                id: row["id"],
                collection: row["collection"],
                owner: row["owner"],
                bbox: bbox,
                acquired: date("acquired"),
                processed: date("processed"),
                ingested: date("ingested")
            ),
            source: row["source"],
            objectURL: row["object_url"],
            startTime: date("start_time"),
            endTime: date("end_time"),
            item: [UInt8](item),
            assets: assets,
            nextChange: date("next_change"),
            place: ItemPlace(day: row["day"], folder: row["folder"])
        )
    }

    package static func saveRecord(_ db: Database, _ r: StoredRecord, at: Date) throws {
        let assets = StoredAsset.columnText(r.assets)
        let s = r.subject
        do {
            try db.execute(
                sql: """
                    INSERT INTO records
                    (collection, id, owner, source, object_url, start_time, end_time, acquired, processed, ingested,
                     west, south, east, north, item, assets, next_change, updated_at, day, folder)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (collection, id) DO UPDATE SET
                        owner = excluded.owner, source = excluded.source, object_url = excluded.object_url,
                        start_time = excluded.start_time, end_time = excluded.end_time,
                        acquired = excluded.acquired, processed = excluded.processed, ingested = excluded.ingested,
                        west = excluded.west, south = excluded.south, east = excluded.east, north = excluded.north,
                        item = excluded.item, assets = excluded.assets, next_change = excluded.next_change,
                        updated_at = excluded.updated_at, day = excluded.day, folder = excluded.folder
                    """,
                arguments: [
                    s.collection, s.id, s.owner, r.source, r.objectURL, r.startTime?.timeIntervalSince1970,
                    r.endTime?.timeIntervalSince1970, s.acquired?.timeIntervalSince1970,
                    s.processed?.timeIntervalSince1970, s.ingested?.timeIntervalSince1970, s.bbox?[0], s.bbox?[1],
                    s.bbox?[2], s.bbox?[3], Data(r.item), assets, r.nextChange?.timeIntervalSince1970,
                    at.timeIntervalSince1970, r.place.day, r.place.folder,
                ]
            )
        }
    }

    public func setNextChange(collection: String, id: String, _ next: Date?) async throws {
        try await db.write { db in
            try db.execute(
                sql: "UPDATE records SET next_change = ? WHERE collection = ? AND id = ?",
                arguments: [next?.timeIntervalSince1970, collection, id]
            )
        }
    }

    public func markAllDue() async throws {
        try await db.write { db in try db.execute(sql: "UPDATE records SET next_change = 0") }
    }

    // MARK: Publications

    package static func publication(_ row: Row) -> Publication {
        Publication(
            viewer: row["viewer"],
            place: ItemPlace(day: row["day"], folder: row["folder"]),
            status: PublicationStatus(rawValue: row["status"]) ?? .retracting,
            failures: row["failures"]
        )
    }

    /// Every copy of the item (published or with an unfinished intent).
    public func publications(collection: String, id: String) async throws -> [Publication] {
        try await db.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM publications WHERE collection = ? AND record_id = ? ORDER BY viewer",
                arguments: [collection, id]
            ).map(Self.publication)
        }
    }

    /// Records intents before any file moves, many records in one transaction. The day
    /// catalogs of leaving copies are marked for rewriting (they must stop naming them).
    public func begin(_ intents: [Intent], at: Date) async throws {
        try await db.write { db in
            for intent in intents {
                let record = intent.record
                let (c, id) = (record.subject.collection, record.subject.id)
                try Self.saveRecord(db, record, at: at)
                for viewer in intent.publishing {
                    try Self.setPublication(db, c, id, viewer: viewer, status: .publishing, place: record.place, at: at)
                }
                for p in intent.retracting {
                    try db.execute(
                        sql:
                            "UPDATE publications SET status = 'retracting' WHERE collection = ? AND record_id = ? AND viewer = ?",
                        arguments: [c, id, p.viewer]
                    )
                    try Self.markDirty(db, viewer: p.viewer, collection: c, day: p.place.day)
                    try Self.staleExtent(db, viewer: p.viewer, collection: c)
                }
            }
        }
    }

    /// A copy's row: where it is and what is known of it.
    package static func setPublication(
        _ db: Database,
        _ collection: String,
        _ id: String,
        viewer: String,
        status: PublicationStatus,
        place: ItemPlace,
        at: Date
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO publications (collection, record_id, viewer, status, published_at, day, folder)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (collection, record_id, viewer) DO UPDATE SET status = excluded.status,
                    day = excluded.day, folder = excluded.folder
                """,
            arguments: [collection, id, viewer, status.rawValue, at.timeIntervalSince1970, place.day, place.folder]
        )
    }

    package static func markDirty(_ db: Database, viewer: String, collection: String, day: String) throws {
        try db.execute(
            sql: "INSERT OR IGNORE INTO dirty_catalogs (viewer, collection, day) VALUES (?, ?, ?)",
            arguments: [viewer, collection, day]
        )
    }

    /// Confirms what the files now show, many records in one transaction: publications
    /// visible (their day catalogs marked for rewriting: a catalog names a copy only once it
    /// is confirmed), retracted copies gone, the object that brought the record (so an
    /// unchanged object is not fetched again), and the ledger's lines for these changes.
    public func confirm(_ confirmations: [Confirmation], at: Date) async throws {
        try await db.write { db in
            for c in confirmations {
                for viewer in c.published {
                    try db.execute(
                        sql: """
                            UPDATE publications SET status = 'published', published_at = ?, failures = 0, error = NULL
                            WHERE collection = ? AND record_id = ? AND viewer = ?
                            """,
                        arguments: [at.timeIntervalSince1970, c.collection, c.id, viewer]
                    )
                    try Self.markDirty(db, viewer: viewer, collection: c.collection, day: c.day)
                    try Self.growExtent(db, viewer: viewer, collection: c.collection, id: c.id)
                }
                for viewer in c.retracted {
                    try db.execute(
                        sql: "DELETE FROM publications WHERE collection = ? AND record_id = ? AND viewer = ?",
                        arguments: [c.collection, c.id, viewer]
                    )
                    try Self.staleExtent(db, viewer: viewer, collection: c.collection)
                }
                if let object = c.object { try Self.saveObject(db, object, at: at) }
                for event in c.ledger { try Self.appendLedger(db, event) }
            }
        }
    }

    /// Remembers that finishing an intent failed, so the next run tries it after the others.
    public func recordFailure(collection: String, id: String, viewers: [String], error: String) async throws {
        try await db.write { db in
            for viewer in viewers {
                try db.execute(
                    sql: """
                        UPDATE publications SET failures = failures + 1, error = ?
                        WHERE collection = ? AND record_id = ? AND viewer = ? AND status != 'published'
                        """,
                    arguments: [error, collection, id, viewer]
                )
            }
        }
    }

    /// Marks the catalogs of a day dirty (for a copy found in a tree the state did not know).
    public func markDirty(_ c: CatalogKey) async throws {
        try await db.write { db in try Self.markDirty(db, viewer: c.viewer, collection: c.collection, day: c.day) }
    }

    /// Records with an unfinished intent, those that failed least often first.
    public func unfinishedRecords() async throws -> [RecordKey] {
        try await db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT collection, record_id, max(failures) AS f FROM publications WHERE status != 'published'
                    GROUP BY collection, record_id ORDER BY f, collection, record_id
                    """
            ).map { RecordKey(collection: $0["collection"], id: $0["record_id"]) }
        }
    }

    /// What the publisher needs to know before publishing a record, read at once: the
    /// record as known, its copies, the owner of what the object published before, and a
    /// record of another id whose folder name would be the same (never, for ids the
    /// encoding tells apart; kept as a guard).
    public func lookup(collection: String, id: String, folder: String, objectURL: String) async throws -> PublishLookup
    {
        try await db.read { db in
            let existing = try Row.fetchOne(
                db,
                sql: "SELECT * FROM records WHERE collection = ? AND id = ?",
                arguments: [collection, id]
            ).map(Self.storedRecord)
            let publications = try Row.fetchAll(
                db,
                sql: "SELECT * FROM publications WHERE collection = ? AND record_id = ? ORDER BY viewer",
                arguments: [collection, id]
            ).map(Self.publication)
            let objectOwner = try String.fetchOne(
                db,
                sql: """
                    SELECT r.owner FROM objects o JOIN records r ON r.collection = o.record_collection AND r.id = o.record_id
                    WHERE o.url = ?
                    """,
                arguments: [objectURL]
            )
            let taken = try String.fetchOne(
                db,
                sql: "SELECT id FROM records WHERE collection = ? AND folder = ? AND id != ?",
                arguments: [collection, folder, id]
            )
            return PublishLookup(
                existing: existing,
                publications: publications,
                objectOwner: objectOwner,
                folderTakenBy: taken
            )
        }
    }

    // MARK: Catalogs

    /// (viewer, collection, day) whose catalogs must be rewritten.
    /// One process writes the state: a mark read is not set again before it is cleared, so
    /// marks carry no version here.
    public func dirtyCatalogs() async throws -> [CatalogMark] {
        try await db.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT viewer, collection, day FROM dirty_catalogs ORDER BY viewer, collection, day"
            )
            .map {
                CatalogMark(CatalogKey(viewer: $0["viewer"], collection: $0["collection"], day: $0["day"]), version: 0)
            }
        }
    }

    public func clearDirtyCatalogs(_ marks: [CatalogMark]) async throws {
        try await db.write { db in
            for c in marks.map(\.key) {
                try db.execute(
                    sql: "DELETE FROM dirty_catalogs WHERE viewer = ? AND collection = ? AND day = ?",
                    arguments: [c.viewer, c.collection, c.day]
                )
            }
        }
    }

    /// The items a day catalog names: the viewer's published copies at that day, by folder.
    public func catalogItems(
        viewer: String,
        collection: String,
        days: [String]
    ) async throws -> [String: [CatalogEntry]] {
        try await db.read { db in
            var items: [String: [CatalogEntry]] = [:]
            for day in days {
                let entries = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT folder, record_id FROM publications
                        WHERE viewer = ? AND collection = ? AND day = ? AND status = 'published' ORDER BY folder
                        """,
                    arguments: [viewer, collection, day]
                ).map { CatalogEntry(folder: $0["folder"], id: $0["record_id"]) }
                if !entries.isEmpty { items[day] = entries }
            }
            return items
        }
    }

    /// The day folders under which the viewer holds published items of a collection
    /// (`YYYY/MM/DD` and `undated`), sorted.
    public func catalogDays(viewer: String, collection: String) async throws -> [String] {
        try await db.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT day FROM publications
                    WHERE viewer = ? AND collection = ? AND status = 'published' ORDER BY day
                    """,
                arguments: [viewer, collection]
            )
        }
    }

    /// The extent the state keeps, recomputed from the published copies when a copy left
    /// since (or none is kept yet).
    public func extent(viewer: String, collection: String) async throws -> Extent {
        try await db.write { db in
            let kept = try Row.fetchOne(
                db,
                sql: "SELECT * FROM extents WHERE viewer = ? AND collection = ? AND stale = 0",
                arguments: [viewer, collection]
            )
            let row: Row?
            if let kept {
                row = kept
            } else {
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO extents (viewer, collection, west, south, east, north, start_time, end_time, stale)
                        SELECT ?, ?, min(r.west), min(r.south), max(r.east), max(r.north), min(r.start_time),
                               max(coalesce(r.end_time, r.start_time)), 0
                        FROM publications p JOIN records r ON r.collection = p.collection AND r.id = p.record_id
                        WHERE p.viewer = ? AND p.collection = ? AND p.status = 'published'
                        """,
                    arguments: [viewer, collection, viewer, collection]
                )
                row = try Row.fetchOne(
                    db,
                    sql: "SELECT * FROM extents WHERE viewer = ? AND collection = ?",
                    arguments: [viewer, collection]
                )
            }
            var extent = Extent()
            if let row, let w: Double = row["west"], let s: Double = row["south"], let e: Double = row["east"],
                let n: Double = row["north"]
            {
                extent.bbox = [w, s, e, n]
            }
            extent.start = (row?["start_time"] as Double?).map(Date.init(timeIntervalSince1970:))
            extent.end = (row?["end_time"] as Double?).map(Date.init(timeIntervalSince1970:))
            return extent
        }
    }

    /// Widens a kept extent by a newly confirmed copy's record (a missing one is computed
    /// whole when asked for).
    package static func growExtent(_ db: Database, viewer: String, collection: String, id: String) throws {
        try db.execute(
            sql: """
                UPDATE extents SET
                    west = min(coalesce(extents.west, r.w), coalesce(r.w, extents.west)),
                    south = min(coalesce(extents.south, r.s), coalesce(r.s, extents.south)),
                    east = max(coalesce(extents.east, r.e), coalesce(r.e, extents.east)),
                    north = max(coalesce(extents.north, r.n), coalesce(r.n, extents.north)),
                    start_time = min(coalesce(extents.start_time, r.t0), coalesce(r.t0, extents.start_time)),
                    end_time = max(coalesce(extents.end_time, r.t1), coalesce(r.t1, extents.end_time))
                FROM (
                    SELECT west AS w, south AS s, east AS e, north AS n, start_time AS t0,
                           coalesce(end_time, start_time) AS t1
                    FROM records WHERE collection = ? AND id = ?) AS r
                WHERE extents.viewer = ? AND extents.collection = ?
                """,
            arguments: [collection, id, viewer, collection]
        )
    }

    package static func staleExtent(_ db: Database, viewer: String, collection: String) throws {
        try db.execute(
            sql: "UPDATE extents SET stale = 1 WHERE viewer = ? AND collection = ?",
            arguments: [viewer, collection]
        )
    }

    /// Collections that hold at least one item for the viewer.
    public func publishedCollections(viewer: String) async throws -> [String] {
        try await db.read { db in
            try String.fetchAll(
                db,
                sql:
                    "SELECT DISTINCT collection FROM publications WHERE viewer = ? AND status = 'published' ORDER BY collection",
                arguments: [viewer]
            )
        }
    }

    /// Viewers the state knows copies for (a removed member's among them until its tree is gone).
    public func publicationViewers() async throws -> [String] {
        try await db.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT viewer FROM publications ORDER BY viewer")
        }
    }

    public func publicationPage(
        viewer: String,
        after: RecordKey?,
        limit: Int
    ) async throws -> [(RecordKey, Publication)] {
        try await db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM publications WHERE viewer = ? AND (collection, record_id) > (?, ?)
                    ORDER BY collection, record_id LIMIT ?
                    """,
                arguments: [viewer, after?.collection ?? "", after?.id ?? "", limit]
            ).map { (RecordKey(collection: $0["collection"], id: $0["record_id"]), Self.publication($0)) }
        }
    }

    /// Takes a copy found in a tree into the state as published (a state lost or restored
    /// from an older copy): the record from the item itself when the state has none.
    public func adopt(
        record: StoredRecord?,
        collection: String,
        id: String,
        viewer: String,
        place: ItemPlace,
        at: Date
    ) async throws {
        try await db.write { db in
            if let record { try Self.saveRecord(db, record, at: at) }
            try Self.setPublication(db, collection, id, viewer: viewer, status: .published, place: place, at: at)
            try Self.staleExtent(db, viewer: viewer, collection: collection)
            try Self.markDirty(db, viewer: viewer, collection: collection, day: place.day)
        }
    }

    /// Marks every day catalog the state knows of for rewriting (a reconciliation).
    public func markAllDirty() async throws {
        try await db.write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO dirty_catalogs (viewer, collection, day)
                    SELECT DISTINCT viewer, collection, day FROM publications
                    """
            )
        }
    }

    /// A published copy the trees were found not to hold becomes an intent again, so the
    /// recovery republishes it (or retracts it, should the viewer no longer see it).
    public func reopen(collection: String, id: String, viewer: String) async throws {
        try await db.write { db in
            try db.execute(
                sql:
                    "UPDATE publications SET status = 'publishing' WHERE collection = ? AND record_id = ? AND viewer = ?",
                arguments: [collection, id, viewer]
            )
        }
    }

    /// Forgets what is known of an object, so the next fetch takes it whole again (its
    /// stored bytes were found gone).
    public func forgetObject(url: String) async throws {
        try await db.write { db in try db.execute(sql: "DELETE FROM objects WHERE url = ?", arguments: [url]) }
    }

    /// The copies of a viewer that left the pipeline, each with its record's owner, all
    /// marked as leaving (their tree goes whole).
    public func beginRemovingViewer(_ viewer: String) async throws -> [LeavingCopy] {
        try await db.write { db in
            try db.execute(sql: "UPDATE publications SET status = 'retracting' WHERE viewer = ?", arguments: [viewer])
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT p.collection, p.record_id, coalesce(r.owner, '') AS owner FROM publications p
                    LEFT JOIN records r ON r.collection = p.collection AND r.id = p.record_id
                    WHERE p.viewer = ? ORDER BY p.collection, p.record_id
                    """,
                arguments: [viewer]
            ).map { LeavingCopy(collection: $0["collection"], id: $0["record_id"], owner: $0["owner"]) }
        }
    }

    /// The viewer's tree is gone: its copies and catalogs are forgotten, with their ledger lines.
    public func confirmViewerRemoved(_ viewer: String, ledger events: [LedgerEvent]) async throws {
        try await db.write { db in
            try db.execute(sql: "DELETE FROM publications WHERE viewer = ?", arguments: [viewer])
            try db.execute(sql: "DELETE FROM dirty_catalogs WHERE viewer = ?", arguments: [viewer])
            try db.execute(sql: "DELETE FROM extents WHERE viewer = ?", arguments: [viewer])
            for event in events { try Self.appendLedger(db, event) }
        }
    }

    // MARK: Ledger

    package static func ledgerAnchor(_ db: Database) throws -> LedgerAnchor {
        func value(_ key: String) throws -> String? {
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
        }
        return LedgerAnchor(
            lines: Int64(try value("ledger_lines") ?? "0") ?? 0,
            head: try value("ledger_head") ?? LedgerAnchor.genesis,
            fileLines: Int64(try value("ledger_file_lines") ?? "0") ?? 0,
            fileBytes: Int64(try value("ledger_file_bytes") ?? "0") ?? 0
        )
    }

    public func ledgerAnchor() async throws -> LedgerAnchor { try await db.read { try Self.ledgerAnchor($0) } }

    /// Chains an event onto the ledger inside the caller's transaction.
    package static func appendLedger(_ db: Database, _ e: LedgerEvent) throws {
        let anchor = try ledgerAnchor(db)
        var o = JSONObject()
        o["at"] = .string(Timestamp.format(e.at))
        o["event"] = .string(e.event)
        for (k, v) in e.fields { o[k] = v }
        o["prev"] = .string(anchor.head)
        let line = JSONValue.object(o).serialized(pretty: false)
        let seq = anchor.lines + 1
        try db.execute(sql: "INSERT INTO ledger_pending (seq, line) VALUES (?, ?)", arguments: [seq, Data(line)])
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('ledger_lines', ?), ('ledger_head', ?)",
            arguments: [String(seq), Digest.sha256Hex(line)]
        )
    }

    /// Commits events that change nothing else (a quarantine, an export).
    public func appendLedger(_ events: [LedgerEvent]) async throws {
        try await db.write { db in for e in events { try Self.appendLedger(db, e) } }
    }

    /// Lines committed but not yet known to be in `ledger.jsonl`, in order.
    public func pendingLedgerLines() async throws -> [LedgerLine] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, line FROM ledger_pending ORDER BY seq").map {
                LedgerLine(seq: $0["seq"], line: [UInt8]($0["line"] as Data))
            }
        }
    }

    /// `ledger.jsonl` now holds every line up to `seq`, in `bytes` bytes.
    public func ledgerAppended(through seq: Int64, fileBytes: Int64) async throws {
        try await db.write { db in
            try db.execute(sql: "DELETE FROM ledger_pending WHERE seq <= ?", arguments: [seq])
            try db.execute(
                sql:
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('ledger_file_lines', ?), ('ledger_file_bytes', ?)",
                arguments: [String(seq), String(fileBytes)]
            )
        }
    }

    // MARK: Runs, quarantine, meta

    public func startRun(at: Date, startedAt: Date) async throws -> Int64 {
        try await db.write { db in
            try db.execute(
                sql: "INSERT INTO runs (started_at, at, status) VALUES (?, ?, 'running')",
                arguments: [startedAt.timeIntervalSince1970, at.timeIntervalSince1970]
            )
            return db.lastInsertedRowID
        }
    }

    public func finishRun(_ id: Int64, status: RunStatus, summary: String, finishedAt: Date) async throws {
        try await db.write { db in
            try db.execute(
                sql: "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                arguments: [finishedAt.timeIntervalSince1970, status.rawValue, summary, id]
            )
        }
    }

    /// A quarantined object, with its ledger line in the same transaction.
    public func addQuarantine(
        runId: Int64?,
        source: String,
        object: String,
        reason: String,
        at: Date,
        ledger event: LedgerEvent
    ) async throws {
        try await db.write { db in
            try db.execute(
                sql: "INSERT INTO quarantine (run_id, source, object, reason, at) VALUES (?, ?, ?, ?, ?)",
                arguments: [runId, source, object, reason, at.timeIntervalSince1970]
            )
            try Self.appendLedger(db, event)
        }
    }

    public func meta(_ key: String) async throws -> String? {
        try await db.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
        }
    }

    public func deleteMeta(_ key: String) async throws {
        try await db.write { db in try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [key]) }
    }

    public func setMeta(_ key: String, _ value: String) async throws {
        try await db.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [key, value])
        }
    }
}

extension SQLiteStateStore {
    public func runTotals() async throws -> RunTotals {
        try await db.read { db in
            let n = try Int.fetchOne(db, sql: "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL") ?? 0
            let last = try Double.fetchOne(db, sql: "SELECT max(finished_at) FROM runs WHERE status = 'ok'")
            return RunTotals(finished: n, lastSuccess: last.map(Date.init(timeIntervalSince1970:)))
        }
    }

    public func recentRuns(limit: Int) async throws -> [StatusReport.Run] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                StatusReport.Run(
                    id: $0["id"],
                    started: Date(timeIntervalSince1970: $0["started_at"]),
                    finished: ($0["finished_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    at: Date(timeIntervalSince1970: $0["at"]),
                    status: $0["status"],
                    summary: $0["summary"]
                )
            }
        }
    }

    public func recentQuarantine(limit: Int) async throws -> [StatusReport.Quarantined] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM quarantine ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                StatusReport.Quarantined(
                    source: $0["source"],
                    object: $0["object"],
                    reason: $0["reason"],
                    at: Date(timeIntervalSince1970: $0["at"])
                )
            }
        }
    }

    public func collectionCounts() async throws -> [StatusReport.CollectionCount] {
        try await db.read { db in
            let totals = try Row.fetchAll(
                db,
                sql: "SELECT collection, count(*) AS n FROM records GROUP BY collection ORDER BY collection"
            )
            return try totals.map { t in
                let c: String = t["collection"]
                let per = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT viewer, count(*) AS n FROM publications WHERE collection = ? AND status = 'published'
                        GROUP BY viewer ORDER BY viewer
                        """,
                    arguments: [c]
                ).map { (viewer: $0["viewer"] as String, items: $0["n"] as Int) }
                return StatusReport.CollectionCount(collection: c, records: t["n"], perViewer: per)
            }
        }
    }
}
