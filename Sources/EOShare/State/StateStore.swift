import Foundation
import GRDB
import GRDBSQLite

/// The pipeline's memory in SQLite (through GRDB): fetched objects, records with their
/// normalized items, publications (record × viewer), runs and quarantined objects.
public final class StateStore: Sendable {
    let db: DatabaseQueue

    public init(path: URL) throws {
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        var config = Configuration()
        config.journalMode = .wal
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        db = try DatabaseQueue(path: path.path, configuration: config)
        try Self.migrator.migrate(db)
    }

    static var migrator: DatabaseMigrator {
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
                    """)
        }
        // The index-page entry (time to the minute and size, as shown) of an object fetched
        // at least a minute after it last changed: while the page shows the same entry, the
        // object has not changed (see Fetcher).
        m.registerMigration("v2-objects-listed") { db in
            try db.execute(sql: "ALTER TABLE objects ADD COLUMN listed TEXT")
        }
        return m
    }

    // MARK: Objects

    public struct StoredObject: Sendable, Equatable {
        public var url: String
        public var source: String
        public var etag: String?
        public var lastModified: String?
        public var size: Int64?
        public var sha256: String?
        /// `record`; `quarantined` (arrived whole, its content refused: the same bytes stay
        /// refused); `refused` (refused while fetching, by a verdict that may rest on more than
        /// the bytes: a sidecar, an index's digest, a listing's size; the same bytes are judged
        /// again).
        public var outcome: String
        public var reason: String?
        public var recordCollection: String?
        public var recordId: String?
        /// The index-page entry that proves the object unchanged while it stays the same.
        public var listed: String? = nil
    }

    public func object(url: String) throws -> StoredObject? {
        try db.inDatabase { db in try Self.object(db, url: url) }
    }

    /// The remembered objects among `urls`, read in one go: the fetch stage asks for the
    /// objects of a source as soon as it has listed them, so fetching each one costs no
    /// query (a query from a fetch worker is a hop to the database's queue and two file
    /// locks).
    public func objects(urls: [String]) throws -> [String: StoredObject] {
        try db.read { db in
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
                """)
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
            url: text(0) ?? url, source: text(1) ?? "", etag: text(2), lastModified: text(3),
            size: sqlite3_column_type(s, 4) == SQLITE_NULL ? nil : sqlite3_column_int64(s, 4), sha256: text(5),
            outcome: text(6) ?? "", reason: text(7), recordCollection: text(8), recordId: text(9),
            listed: text(10))
    }

    public func saveObject(_ o: StoredObject, at: Date) throws {
        try db.write { db in try Self.saveObject(db, o, at: at) }
    }

    /// A row without a record keeps the record the object published before: a refusal or a
    /// rejection leaves that record published, so it still comes from this object (which is
    /// what catches a later owner change of the object).
    static func saveObject(_ db: Database, _ o: StoredObject, at: Date) throws {
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
                    o.url, o.source, o.etag, o.lastModified, o.size, o.sha256, o.outcome, o.reason,
                    o.recordCollection, o.recordId, at.timeIntervalSince1970, o.listed,
                ])
        }
    }

    // MARK: Records

    /// A record as the state keeps it: the policy's facts plus the item to publish.
    public struct StoredRecord: Sendable {
        public var subject: EmbargoSubject
        public var source: String
        public var objectURL: String
        public var startTime: Date?
        public var endTime: Date?
        /// Compact JSON of the STAC item without links.
        public var item: [UInt8]
        public var assets: [StoredAsset]
        public var nextChange: Date?
    }

    public struct StoredAsset: Sendable, Hashable {
        public var file: String
        public var sha256: String
        public var size: Int64
    }

    public func record(collection: String, id: String) throws -> StoredRecord? {
        try db.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM records WHERE collection = ? AND id = ?", arguments: [collection, id]
            ).map(Self.storedRecord)
        }
    }

    /// Every record with this id, in any collection (ids are unique per collection).
    public func records(id: String) throws -> [StoredRecord] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM records WHERE id = ? ORDER BY collection", arguments: [id])
                .map(Self.storedRecord)
        }
    }

    /// Visits records page by page (keyset pagination), so memory stays flat however many
    /// there are: all of them, or only those due at `dueAt`.
    public func forEachRecord(dueAt: Date? = nil, pageSize: Int = 500, _ body: (StoredRecord) throws -> Void) throws {
        var after = ("", "")
        while true {
            let page = try db.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT * FROM records WHERE (collection, id) > (?, ?)
                        \(dueAt == nil ? "" : "AND next_change IS NOT NULL AND next_change <= ?")
                        ORDER BY collection, id LIMIT ?
                        """,
                    arguments: StatementArguments(
                        [after.0, after.1] + (dueAt.map { [$0.timeIntervalSince1970] } ?? []) + [pageSize])
                ).map(Self.storedRecord)
            }
            for record in page { try body(record) }
            guard let last = page.last, page.count == pageSize else { return }
            after = (last.subject.collection, last.subject.id)
        }
    }

    /// Visits every record's policy facts only (no item, no assets), in one read: what the
    /// audit and the status report need, without loading 100,000 item blobs.
    public func forEachSubject(_ body: (EmbargoSubject) throws -> Void) throws {
        try db.read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, collection, owner, west, south, east, north, acquired, processed, ingested
                    FROM records ORDER BY collection, id
                    """)
            func date(_ v: Double?) -> Date? { v.map(Date.init(timeIntervalSince1970:)) }
            while let row = try rows.next() {
                var bbox: [Double]?
                if let w: Double = row[3], let s: Double = row[4], let e: Double = row[5], let n: Double = row[6] {
                    bbox = [w, s, e, n]
                }
                try body(
                    EmbargoSubject(
                        id: row[0], collection: row[1], owner: row[2], bbox: bbox, acquired: date(row[7]),
                        processed: date(row[8]), ingested: date(row[9])))
            }
        }
    }

    static func storedRecord(_ row: Row) -> StoredRecord {
        func date(_ key: String) -> Date? { (row[key] as Double?).map(Date.init(timeIntervalSince1970:)) }
        var bbox: [Double]?
        if let w: Double = row["west"], let s: Double = row["south"], let e: Double = row["east"],
            let n: Double = row["north"]
        {
            bbox = [w, s, e, n]
        }
        let assetsJSON: String = row["assets"]
        let assets: [StoredAsset] =
            ((try? JSONValue.parse(Array(assetsJSON.utf8)))?.arrayValue ?? []).compactMap { a in
                guard let f = a["file"]?.stringValue, let h = a["sha256"]?.stringValue, let s = a["size"]?.doubleValue
                else { return nil }
                return StoredAsset(file: f, sha256: h, size: Int64(s))
            }
        let item: Data = row["item"]
        return StoredRecord(
            subject: EmbargoSubject(
                id: row["id"], collection: row["collection"], owner: row["owner"], bbox: bbox,
                acquired: date("acquired"), processed: date("processed"), ingested: date("ingested")),
            source: row["source"], objectURL: row["object_url"], startTime: date("start_time"),
            endTime: date("end_time"), item: [UInt8](item), assets: assets, nextChange: date("next_change"))
    }

    static func saveRecord(_ db: Database, _ r: StoredRecord, at: Date) throws {
        let assets = JSONValue.array(
            r.assets.map { .object(["file": .string($0.file), "sha256": .string($0.sha256), "size": .int($0.size)]) }
        ).serializedString()
        let s = r.subject
        do {
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO records
                    (collection, id, owner, source, object_url, start_time, end_time, acquired, processed, ingested,
                     west, south, east, north, item, assets, next_change, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    s.collection, s.id, s.owner, r.source, r.objectURL, r.startTime?.timeIntervalSince1970,
                    r.endTime?.timeIntervalSince1970, s.acquired?.timeIntervalSince1970,
                    s.processed?.timeIntervalSince1970, s.ingested?.timeIntervalSince1970, s.bbox?[0], s.bbox?[1],
                    s.bbox?[2], s.bbox?[3], Data(r.item), assets, r.nextChange?.timeIntervalSince1970,
                    at.timeIntervalSince1970,
                ])
        }
    }

    public func setNextChange(collection: String, id: String, _ next: Date?) throws {
        try db.write { db in
            try db.execute(
                sql: "UPDATE records SET next_change = ? WHERE collection = ? AND id = ?",
                arguments: [next?.timeIntervalSince1970, collection, id])
        }
    }

    // MARK: Publications

    /// Every viewer whose tree may hold the item (published or with an unfinished intent).
    public func viewers(collection: String, id: String) throws -> Set<String> {
        try db.read { db in
            Set(
                try String.fetchAll(
                    db, sql: "SELECT viewer FROM publications WHERE collection = ? AND record_id = ?",
                    arguments: [collection, id]))
        }
    }

    /// Records the intent before any file moves: the record as it will be published, the
    /// viewers about to receive it ('publishing') and those about to lose it ('retracting').
    public func begin(record: StoredRecord, publishing: [String], retracting: [String], at: Date) throws {
        let (c, id) = (record.subject.collection, record.subject.id)
        try db.write { db in
            try Self.saveRecord(db, record, at: at)
            for viewer in publishing {
                try db.execute(
                    sql: """
                        INSERT INTO publications (collection, record_id, viewer, status, published_at)
                        VALUES (?, ?, ?, 'publishing', ?)
                        ON CONFLICT (collection, record_id, viewer) DO UPDATE SET status = 'publishing'
                        """, arguments: [c, id, viewer, at.timeIntervalSince1970])
            }
            for viewer in retracting {
                try db.execute(
                    sql: "UPDATE publications SET status = 'retracting' WHERE collection = ? AND record_id = ? AND viewer = ?",
                    arguments: [c, id, viewer])
            }
            for viewer in publishing + retracting {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO dirty_collections (viewer, collection) VALUES (?, ?)",
                    arguments: [viewer, c])
            }
        }
    }

    /// (viewer, collection) pairs whose collection.json must be rewritten.
    public func dirtyCollections() throws -> [(viewer: String, collection: String)] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT viewer, collection FROM dirty_collections ORDER BY viewer, collection")
                .map { ($0["viewer"], $0["collection"]) }
        }
    }

    public func clearDirtyCollections(_ pairs: [(viewer: String, collection: String)]) throws {
        try db.write { db in
            for (viewer, collection) in pairs {
                try db.execute(
                    sql: "DELETE FROM dirty_collections WHERE viewer = ? AND collection = ?", arguments: [viewer, collection])
            }
        }
    }

    /// Confirms what the files now show: publications visible, retractions gone, and the
    /// object that brought the record (so an unchanged object is not fetched again).
    public func confirm(
        collection: String, id: String, published: [String], retracted: [String], object: StoredObject?, at: Date
    ) throws {
        try db.write { db in
            for viewer in published {
                try db.execute(
                    sql: """
                        UPDATE publications SET status = 'published', published_at = ?
                        WHERE collection = ? AND record_id = ? AND viewer = ?
                        """, arguments: [at.timeIntervalSince1970, collection, id, viewer])
            }
            for viewer in retracted {
                try db.execute(
                    sql: "DELETE FROM publications WHERE collection = ? AND record_id = ? AND viewer = ?",
                    arguments: [collection, id, viewer])
            }
            if let object { try Self.saveObject(db, object, at: at) }
        }
    }

    /// Intents a crashed run left: (collection, record id, viewer, status).
    public func unfinishedPublications() throws -> [(collection: String, id: String, viewer: String, status: String)] {
        try db.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM publications WHERE status != 'published' ORDER BY collection, record_id, viewer"
            ).map { ($0["collection"], $0["record_id"], $0["viewer"], $0["status"]) }
        }
    }

    /// What the publisher needs to know before publishing a record, read at once.
    public func lookup(collection: String, id: String, objectURL: String) throws -> (
        existing: StoredRecord?, viewers: Set<String>, objectOwner: String?
    ) {
        try db.read { db in
            let existing = try Row.fetchOne(
                db, sql: "SELECT * FROM records WHERE collection = ? AND id = ?", arguments: [collection, id]
            ).map(Self.storedRecord)
            let viewers = Set(
                try String.fetchAll(
                    db, sql: "SELECT viewer FROM publications WHERE collection = ? AND record_id = ?",
                    arguments: [collection, id]))
            let objectOwner = try String.fetchOne(
                db,
                sql: """
                    SELECT r.owner FROM objects o JOIN records r ON r.collection = o.record_collection AND r.id = o.record_id
                    WHERE o.url = ?
                    """, arguments: [objectURL])
            return (existing, viewers, objectOwner)
        }
    }

    /// Items published to a viewer in a collection, with what a collection's extent needs.
    public struct PublishedItem: Sendable {
        public var id: String
        public var bbox: [Double]?
        public var start: Date?
        public var end: Date?
    }

    public func publishedItems(viewer: String, collection: String) throws -> [PublishedItem] {
        try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.west, r.south, r.east, r.north, r.start_time, r.end_time
                    FROM publications p JOIN records r ON r.collection = p.collection AND r.id = p.record_id
                    WHERE p.viewer = ? AND p.collection = ? AND p.status = 'published' ORDER BY r.id
                    """, arguments: [viewer, collection]
            ).map { row in
                var bbox: [Double]?
                if let w: Double = row["west"], let s: Double = row["south"], let e: Double = row["east"],
                    let n: Double = row["north"]
                {
                    bbox = [w, s, e, n]
                }
                return PublishedItem(
                    id: row["id"], bbox: bbox, start: (row["start_time"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    end: (row["end_time"] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    /// Collections that hold at least one item for the viewer.
    public func publishedCollections(viewer: String) throws -> [String] {
        try db.read { db in
            try String.fetchAll(
                db, sql: "SELECT DISTINCT collection FROM publications WHERE viewer = ? AND status = 'published' ORDER BY collection",
                arguments: [viewer])
        }
    }

    // MARK: Runs, quarantine, meta

    public func startRun(at: Date, startedAt: Date) throws -> Int64 {
        try db.write { db in
            try db.execute(
                sql: "INSERT INTO runs (started_at, at, status) VALUES (?, ?, 'running')",
                arguments: [startedAt.timeIntervalSince1970, at.timeIntervalSince1970])
            return db.lastInsertedRowID
        }
    }

    public func finishRun(_ id: Int64, status: String, summary: String, finishedAt: Date) throws {
        try db.write { db in
            try db.execute(
                sql: "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                arguments: [finishedAt.timeIntervalSince1970, status, summary, id])
        }
    }

    public func addQuarantine(runId: Int64?, source: String, object: String, reason: String, at: Date) throws {
        try db.write { db in
            try db.execute(
                sql: "INSERT INTO quarantine (run_id, source, object, reason, at) VALUES (?, ?, ?, ?, ?)",
                arguments: [runId, source, object, reason, at.timeIntervalSince1970])
        }
    }

    public func meta(_ key: String) throws -> String? {
        try db.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    public func setMeta(_ key: String, _ value: String) throws {
        try db.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [key, value])
        }
    }
}

extension StateStore {
    /// How many runs finished, and when the last one without quarantine finished.
    public func runTotals() throws -> (finished: Int, lastSuccess: Date?) {
        try db.read { db in
            let n = try Int.fetchOne(db, sql: "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL") ?? 0
            let last = try Double.fetchOne(db, sql: "SELECT max(finished_at) FROM runs WHERE status = 'ok'")
            return (n, last.map(Date.init(timeIntervalSince1970:)))
        }
    }
}
