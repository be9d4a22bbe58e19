import EOShareCore
import EOShareEmbargo
import Foundation
import PostgresNIO

/// The pipeline's memory in PostgreSQL (CONTRACT §7): the same tables, rows and meanings as
/// the SQLite state (`StateStore`), method for method, each a statement or a transaction on
/// the shared database, so that many workers on many hosts can keep one state.
///
/// Where SQLite's writer is alone (one transaction at a time per file), PostgreSQL's are
/// not: each method is one transaction, and what must stay ordered across workers (the
/// ledger's chain) is ordered by an advisory lock taken inside the transaction.
public final class PostgresStateStore: StateStore {
    public let database: PostgresDatabase
    /// The ingest worker writing through this store, when one joined (`PostgresStateWorker.swift`).
    public let workerIdentity = PostgresWorkerIdentity()

    public init(database: PostgresDatabase) {
        self.database = database
    }

    /// Connects (password from `PGPASSWORD` or `~/.pgpass`), migrates the schema, opens the pool.
    public static func open(
        _ url: PostgresStateURL,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        relativeTo folder: URL? = nil
    ) async throws -> PostgresStateStore {
        PostgresStateStore(database: try await .open(url, environment: environment, relativeTo: folder))
    }

    /// The state of a read-only command: nil when the database holds no eoshare schema yet
    /// (reading must not create it).
    public static func existing(
        _ url: PostgresStateURL,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        relativeTo folder: URL? = nil
    ) async throws -> PostgresStateStore? {
        let connection = try await PostgresDatabase.connect(url, environment: environment, relativeTo: folder)
        let version: Int?
        do {
            version = try await PostgresSchema.appliedVersion(connection)
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw PostgresStateError(url: url, error)
        }
        guard version != nil else { return nil }
        return try await open(url, environment: environment, relativeTo: folder)
    }

    public func close() async { await database.close() }

    // MARK: Objects

    static let objectColumns =
        "url, source, etag, last_modified, size, sha256, outcome, reason, record_collection, record_id, listed"

    static func storedObject(_ r: PostgresColumns) throws -> StoredObject {
        StoredObject(
            url: try r.string("url"),
            source: try r.string("source"),
            etag: try r.optionalString("etag"),
            lastModified: try r.optionalString("last_modified"),
            size: try r.optionalInt64("size"),
            sha256: try r.optionalString("sha256"),
            outcome: ObjectOutcome(rawValue: try r.string("outcome")) ?? .refused,
            reason: try r.optionalString("reason"),
            recordCollection: try r.optionalString("record_collection"),
            recordId: try r.optionalString("record_id"),
            listed: try r.optionalString("listed")
        )
    }

    public func object(url: String) async throws -> StoredObject? {
        try await database.read { s in
            try await s.one("SELECT \(unescaped: Self.objectColumns) FROM objects WHERE url = \(url)")
                .map(Self.storedObject)
        }
    }

    /// The remembered objects among `urls`, in one statement.
    public func objects(urls: [String]) async throws -> [String: StoredObject] {
        try await database.read { s in
            var found: [String: StoredObject] = [:]
            for row in try await s.execute(
                "SELECT \(unescaped: Self.objectColumns) FROM objects WHERE url = ANY(\(urls))"
            ) {
                let object = try Self.storedObject(row)
                found[object.url] = object
            }
            return found
        }
    }

    public func saveObject(_ o: StoredObject, at: Date) async throws {
        try await database.write { s in try await Self.saveObject(s, o, at: at) }
    }

    /// As SQLite's: a row without a record keeps the record the object published before.
    static func saveObject(_ s: PostgresSession, _ o: StoredObject, at: Date) async throws {
        try await saveObjects(s, [o], at: at)
    }

    public func forgetObject(url: String) async throws {
        try await database.write { s in try await s.execute("DELETE FROM objects WHERE url = \(url)") }
    }

    // MARK: Records

    static func storedRecord(_ r: PostgresColumns) throws -> StoredRecord {
        let assets = StoredAsset.list(fromColumn: try r.string("assets"))
        return StoredRecord(
            subject: try recordSubject(r),
            source: try r.string("source"),
            objectURL: try r.string("object_url"),
            startTime: try r.date("start_time"),
            endTime: try r.date("end_time"),
            item: try r.bytes("item"),
            assets: assets,
            nextChange: try r.date("next_change"),
            place: ItemPlace(day: try r.string("day"), folder: try r.string("folder"))
        )
    }

    public func record(collection: String, id: String) async throws -> StoredRecord? {
        try await database.read { s in
            try await s.one("SELECT * FROM records WHERE collection = \(collection) AND id = \(id)")
                .map(Self.storedRecord)
        }
    }

    public func records(id: String) async throws -> [StoredRecord] {
        try await database.read { s in
            try await s.execute("SELECT * FROM records WHERE id = \(id) ORDER BY collection").map(Self.storedRecord)
        }
    }

    /// Records page by page (keyset pagination): all of them, or those due at `dueAt`.
    public func recordPage(dueAt: Date?, after: RecordKey?, limit: Int) async throws -> [StoredRecord] {
        let (c, i) = (after?.collection ?? "", after?.id ?? "")
        return try await database.read { s in
            if let dueAt {
                return try await s.execute(
                    """
                    SELECT * FROM records WHERE (collection, id) > (\(c), \(i))
                    AND next_change IS NOT NULL AND next_change <= \(dueAt.timeIntervalSince1970)
                    ORDER BY collection, id LIMIT \(limit)
                    """
                ).map(Self.storedRecord)
            }
            return try await s.execute(
                "SELECT * FROM records WHERE (collection, id) > (\(c), \(i)) ORDER BY collection, id LIMIT \(limit)"
            ).map(Self.storedRecord)
        }
    }

    /// The policy facts of records page by page (no item, no assets).
    public func subjectPage(after: RecordKey?, limit: Int) async throws -> [EmbargoSubject] {
        let (c, i) = (after?.collection ?? "", after?.id ?? "")
        return try await database.read { s in
            try await s.execute(
                """
                SELECT id, collection, owner, west, south, east, north, acquired, processed, ingested
                FROM records WHERE (collection, id) > (\(c), \(i)) ORDER BY collection, id LIMIT \(limit)
                """
            ).map { try Self.recordSubject($0) }
        }
    }

    static func saveRecord(_ s: PostgresSession, _ r: StoredRecord, at: Date) async throws {
        try await saveRecords(s, [r], at: at)
    }

    public func setNextChange(collection: String, id: String, _ next: Date?) async throws {
        try await database.write { s in
            try await s.execute(
                """
                UPDATE records SET next_change = \(next?.timeIntervalSince1970)
                WHERE collection = \(collection) AND id = \(id)
                """
            )
        }
    }

    public func markAllDue() async throws {
        try await database.write { s in try await s.execute("UPDATE records SET next_change = 0") }
    }

    // MARK: Publications

    static func publication(_ r: PostgresColumns) throws -> Publication {
        Publication(
            viewer: try r.string("viewer"),
            place: ItemPlace(day: try r.string("day"), folder: try r.string("folder")),
            status: PublicationStatus(rawValue: try r.string("status")) ?? .retracting,
            failures: try r.int("failures")
        )
    }

    public func publications(collection: String, id: String) async throws -> [Publication] {
        try await database.read { s in
            try await s.execute(
                "SELECT * FROM publications WHERE collection = \(collection) AND record_id = \(id) ORDER BY viewer"
            ).map(Self.publication)
        }
    }

    /// Records intents before any file moves, many records in one transaction, a statement
    /// per kind of row (`PostgresBatches.swift`).
    public func begin(_ intents: [Intent], at: Date) async throws {
        let worker = workerIdentity.id
        try await database.write { s in
            try await Self.saveRecords(s, intents.map(\.record), at: at)
            try await Self.setPublications(
                s,
                intents.flatMap { intent in
                    let r = intent.record
                    return intent.publishing.map { (r.subject.collection, r.subject.id, $0, r.place) }
                },
                status: .publishing,
                at: at
            )
            var marks: [CatalogKey] = []
            for intent in intents {
                let (c, id) = (intent.record.subject.collection, intent.record.subject.id)
                for p in intent.retracting {
                    try await s.execute(
                        """
                        UPDATE publications SET status = 'retracting'
                        WHERE collection = \(c) AND record_id = \(id) AND viewer = \(p.viewer)
                        """
                    )
                    marks.append(CatalogKey(viewer: p.viewer, collection: c, day: p.place.day))
                    try await Self.staleExtent(s, viewer: p.viewer, collection: c)
                }
            }
            try await Self.markDirty(s, marks)
            try await Self.ownIntents(
                s,
                intents.map { ($0.record.subject.collection, $0.record.subject.id) },
                worker: worker
            )
        }
    }

    static func setPublication(
        _ s: PostgresSession,
        _ collection: String,
        _ id: String,
        viewer: String,
        status: PublicationStatus,
        place: ItemPlace,
        at: Date
    ) async throws {
        try await setPublications(s, [(collection, id, viewer, place)], status: status, at: at)
    }

    static func markDirty(_ s: PostgresSession, viewer: String, collection: String, day: String) async throws {
        try await markDirty(s, [CatalogKey(viewer: viewer, collection: collection, day: day)])
    }

    /// Confirms what the files now show, many records in one transaction, with their ledger
    /// lines: a statement per kind of row, whatever the batch's size.
    public func confirm(_ confirmations: [Confirmation], at: Date) async throws {
        try await database.write { s in
            var ledger = PostgresLedgerAppender()
            // The ledger's lock first: workers' confirmations then take row locks one after
            // the other, never in crossing orders (a deadlock).
            if confirmations.contains(where: { !$0.ledger.isEmpty }) { try await ledger.lock(s) }
            try await Self.confirmPublished(
                s,
                confirmations.flatMap { c in c.published.map { (c.collection, c.id, $0) } },
                at: at
            )
            try await Self.markDirty(
                s,
                confirmations.flatMap { c in
                    c.published.map { CatalogKey(viewer: $0, collection: c.collection, day: c.day) }
                }
            )
            for c in confirmations {
                for viewer in c.retracted {
                    try await s.execute(
                        """
                        DELETE FROM publications
                        WHERE collection = \(c.collection) AND record_id = \(c.id) AND viewer = \(viewer)
                        """
                    )
                    try await Self.staleExtent(s, viewer: viewer, collection: c.collection)
                }
            }
            try await Self.saveObjects(s, confirmations.compactMap(\.object), at: at)
            try await ledger.append(s, confirmations.flatMap(\.ledger))
            try await ledger.finish(s)
        }
    }

    public func recordFailure(collection: String, id: String, viewers: [String], error: String) async throws {
        try await database.write { s in
            try await s.execute(
                """
                UPDATE publications SET failures = failures + 1, error = \(error)
                WHERE collection = \(collection) AND record_id = \(id) AND viewer = ANY(\(viewers))
                    AND status != 'published'
                """
            )
        }
    }

    public func markDirty(_ catalog: CatalogKey) async throws {
        try await database.write { s in
            try await Self.markDirty(s, viewer: catalog.viewer, collection: catalog.collection, day: catalog.day)
        }
    }

    /// Records with an unfinished intent, those that failed least often first.
    public func unfinishedRecords() async throws -> [RecordKey] {
        let (me, lease) = (workerIdentity.id, workerIdentity.lease)
        return try await database.read { s in
            try await s.execute(
                """
                SELECT collection, record_id, max(failures) AS f FROM publications WHERE status != 'published'
                AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = publications.worker AND w.id != \(me)
                    AND w.heartbeat_at > now() - make_interval(secs => \(lease)))
                GROUP BY collection, record_id ORDER BY f, collection, record_id
                """
            ).map { RecordKey(collection: try $0.string("collection"), id: try $0.string("record_id")) }
        }
    }

    /// What the publisher needs to know before publishing a record, in one read.
    /// What publishing a record must know of it, in one statement: its row (if any), its
    /// copies, the owner of the record its object published before, and any other record
    /// in its folder.
    public func lookup(collection: String, id: String, folder: String, objectURL: String) async throws -> PublishLookup
    {
        try await database.read { s in
            let row = try await s.one(
                """
                SELECT r.*, c.viewers, c.statuses, c.days, c.folders, c.failures,
                    (SELECT o_r.owner FROM objects o
                     JOIN records o_r ON o_r.collection = o.record_collection AND o_r.id = o.record_id
                     WHERE o.url = \(objectURL)) AS object_owner,
                    (SELECT t.id FROM records t WHERE t.collection = \(collection) AND t.folder = \(folder)
                        AND t.id != \(id) LIMIT 1) AS folder_taken_by
                FROM (SELECT 1) AS one
                LEFT JOIN records r ON r.collection = \(collection) AND r.id = \(id)
                LEFT JOIN LATERAL (
                    SELECT array_agg(p.viewer ORDER BY p.viewer) AS viewers,
                           array_agg(p.status ORDER BY p.viewer) AS statuses,
                           array_agg(p.day ORDER BY p.viewer) AS days,
                           array_agg(p.folder ORDER BY p.viewer) AS folders,
                           array_agg(p.failures::bigint ORDER BY p.viewer) AS failures
                    FROM publications p WHERE p.collection = \(collection) AND p.record_id = \(id)
                ) AS c ON true
                """
            )
            guard let row else {
                return PublishLookup(existing: nil, publications: [], objectOwner: nil, folderTakenBy: nil)
            }
            // The copies, one array per column, in viewer order.
            let viewers = try row.row["viewers"].decode([String]?.self) ?? []
            let (statuses, days, folders) = (
                try row.row["statuses"].decode([String]?.self) ?? [],
                try row.row["days"].decode([String]?.self) ?? [],
                try row.row["folders"].decode([String]?.self) ?? []
            )
            let failures = try row.row["failures"].decode([Int64]?.self) ?? []
            return PublishLookup(
                existing: try row.optionalString("id") == nil ? nil : Self.storedRecord(row),
                publications: viewers.indices.map { n in
                    Publication(
                        viewer: viewers[n],
                        place: ItemPlace(day: days[n], folder: folders[n]),
                        status: PublicationStatus(rawValue: statuses[n]) ?? .retracting,
                        failures: Int(failures[n])
                    )
                },
                objectOwner: try row.optionalString("object_owner"),
                folderTakenBy: try row.optionalString("folder_taken_by")
            )
        }
    }

    // MARK: Catalogs

    /// A mark's version is the transaction that last set it (`xmin`): marking again rewrites
    /// the row (`markDirty`'s `DO UPDATE`), so a mark set while a worker wrote the catalog
    /// outlives that writer's clear.
    public func dirtyCatalogs() async throws -> [CatalogMark] {
        try await database.read { s in
            try await s.execute(
                """
                SELECT viewer, collection, day, xmin::text::bigint AS version FROM dirty_catalogs
                ORDER BY viewer, collection, day
                """
            )
            .map {
                CatalogMark(
                    CatalogKey(
                        viewer: try $0.string("viewer"),
                        collection: try $0.string("collection"),
                        day: try $0.string("day")
                    ),
                    version: try $0.int64("version")
                )
            }
        }
    }

    public func clearDirtyCatalogs(_ marks: [CatalogMark]) async throws {
        guard !marks.isEmpty else { return }
        let keys = marks.map(\.key)
        let (viewers, collections, days) = (keys.map(\.viewer), keys.map(\.collection), keys.map(\.day))
        let versions = marks.map(\.version)
        try await database.write { s in
            // A mark being set again meanwhile is waited for, then compared by its new version.
            try await s.execute(
                """
                DELETE FROM dirty_catalogs d
                USING unnest(\(viewers)::text[], \(collections)::text[], \(days)::text[], \(versions)::int8[])
                    AS e(viewer, collection, day, version)
                WHERE d.viewer = e.viewer AND d.collection = e.collection AND d.day = e.day
                    AND d.xmin::text::bigint = e.version
                """
            )
        }
    }

    /// One statement for every day (a worker writes the days of many records at once).
    public func catalogItems(
        viewer: String,
        collection: String,
        days: [String]
    ) async throws -> [String: [CatalogEntry]] {
        try await database.read { s in
            var items: [String: [CatalogEntry]] = [:]
            for row in try await s.execute(
                """
                SELECT day, folder, record_id FROM publications
                WHERE viewer = \(viewer) AND collection = \(collection) AND day = ANY(\(days)::text[])
                    AND status = 'published'
                ORDER BY day, folder
                """
            ) {
                items[try row.string("day"), default: []].append(
                    CatalogEntry(folder: try row.string("folder"), id: try row.string("record_id"))
                )
            }
            return items
        }
    }

    public func catalogDays(viewer: String, collection: String) async throws -> [String] {
        try await database.read { s in
            try await s.execute(
                """
                SELECT DISTINCT day FROM publications
                WHERE viewer = \(viewer) AND collection = \(collection) AND status = 'published' ORDER BY day
                """
            ).map { try $0.string("day") }
        }
    }

    /// The extent the state keeps, recomputed from the published copies when stale or absent.
    public func extent(viewer: String, collection: String) async throws -> Extent {
        // With workers sharing the run, a kept extent may have been computed beside another
        // worker's confirmation it could not see: it is computed again (`sharedRun`).
        let sharedRun = workerIdentity.id != nil
        return try await database.write { s in
            var row =
                sharedRun
                ? nil
                : try await s.one(
                    "SELECT * FROM extents WHERE viewer = \(viewer) AND collection = \(collection) AND stale = 0"
                )
            if row == nil {
                row = try await s.one(
                    """
                    INSERT INTO extents (viewer, collection, west, south, east, north, start_time, end_time, stale)
                    SELECT \(viewer), \(collection), min(r.west), min(r.south), max(r.east), max(r.north),
                           min(r.start_time), max(coalesce(r.end_time, r.start_time)), 0
                    FROM publications p JOIN records r ON r.collection = p.collection AND r.id = p.record_id
                    WHERE p.viewer = \(viewer) AND p.collection = \(collection) AND p.status = 'published'
                    ON CONFLICT (viewer, collection) DO UPDATE SET
                        west = excluded.west, south = excluded.south, east = excluded.east, north = excluded.north,
                        start_time = excluded.start_time, end_time = excluded.end_time, stale = 0
                    RETURNING *
                    """
                )
            }
            var extent = Extent()
            if let row, let w = try row.double("west"), let so = try row.double("south"),
                let e = try row.double("east"),
                let n = try row.double("north")
            {
                extent.bbox = [w, so, e, n]
            }
            extent.start = try row?.date("start_time")
            extent.end = try row?.date("end_time")
            return extent
        }
    }

    static func staleExtent(_ s: PostgresSession, viewer: String, collection: String) async throws {
        try await s.execute("UPDATE extents SET stale = 1 WHERE viewer = \(viewer) AND collection = \(collection)")
    }

    public func publishedCollections(viewer: String) async throws -> [String] {
        try await database.read { s in
            try await s.execute(
                """
                SELECT DISTINCT collection FROM publications WHERE viewer = \(viewer) AND status = 'published'
                ORDER BY collection
                """
            ).map { try $0.string("collection") }
        }
    }

    public func publicationViewers() async throws -> [String] {
        try await database.read { s in
            try await s.execute("SELECT DISTINCT viewer FROM publications ORDER BY viewer").map {
                try $0.string("viewer")
            }
        }
    }

    /// A viewer's copies page by page, in (collection, id) order.
    public func publicationPage(
        viewer: String,
        after: RecordKey?,
        limit: Int
    ) async throws -> [(RecordKey, Publication)] {
        struct Row: Sendable {
            var key: RecordKey
            var publication: Publication
        }
        let (c, i) = (after?.collection ?? "", after?.id ?? "")
        return try await database.read { s in
            try await s.execute(
                """
                SELECT * FROM publications WHERE viewer = \(viewer) AND (collection, record_id) > (\(c), \(i))
                ORDER BY collection, record_id LIMIT \(limit)
                """
            ).map {
                Row(
                    key: RecordKey(collection: try $0.string("collection"), id: try $0.string("record_id")),
                    publication: try Self.publication($0)
                )
            }
        }.map { ($0.key, $0.publication) }
    }

    /// Takes a copy found in a tree into the state as published.
    public func adopt(
        record: StoredRecord?,
        collection: String,
        id: String,
        viewer: String,
        place: ItemPlace,
        at: Date
    ) async throws {
        try await database.write { s in
            if let record { try await Self.saveRecord(s, record, at: at) }
            try await Self.setPublication(s, collection, id, viewer: viewer, status: .published, place: place, at: at)
            try await Self.staleExtent(s, viewer: viewer, collection: collection)
            try await Self.markDirty(s, viewer: viewer, collection: collection, day: place.day)
        }
    }

    public func markAllDirty() async throws {
        try await database.write { s in
            try await s.execute(
                """
                INSERT INTO dirty_catalogs (viewer, collection, day)
                SELECT DISTINCT viewer, collection, day FROM publications
                ORDER BY viewer, collection, day
                ON CONFLICT (viewer, collection, day) DO UPDATE SET day = EXCLUDED.day
                """
            )
        }
    }

    public func reopen(collection: String, id: String, viewer: String) async throws {
        try await database.write { s in
            try await s.execute(
                """
                UPDATE publications SET status = 'publishing'
                WHERE collection = \(collection) AND record_id = \(id) AND viewer = \(viewer)
                """
            )
        }
    }

    public func beginRemovingViewer(_ viewer: String) async throws -> [LeavingCopy] {
        try await database.write { s in
            try await s.execute("UPDATE publications SET status = 'retracting' WHERE viewer = \(viewer)")
            return try await s.execute(
                """
                SELECT p.collection, p.record_id, coalesce(r.owner, '') AS owner FROM publications p
                LEFT JOIN records r ON r.collection = p.collection AND r.id = p.record_id
                WHERE p.viewer = \(viewer) ORDER BY p.collection, p.record_id
                """
            ).map {
                LeavingCopy(
                    collection: try $0.string("collection"),
                    id: try $0.string("record_id"),
                    owner: try $0.string("owner")
                )
            }
        }
    }

    public func confirmViewerRemoved(_ viewer: String, ledger events: [LedgerEvent]) async throws {
        try await database.write { s in
            try await s.execute("DELETE FROM publications WHERE viewer = \(viewer)")
            try await s.execute("DELETE FROM dirty_catalogs WHERE viewer = \(viewer)")
            try await s.execute("DELETE FROM extents WHERE viewer = \(viewer)")
            var ledger = PostgresLedgerAppender()
            for event in events { try await ledger.append(s, event) }
            try await ledger.finish(s)
        }
    }

    // MARK: Ledger

    /// The anchor: with the ledger a table, every committed line is "in the file".
    public func ledgerAnchor() async throws -> LedgerAnchor {
        try await database.read { s in
            let (lines, head) = try await PostgresLedgerAppender.anchor(s)
            return LedgerAnchor(lines: lines, head: head, fileLines: lines, fileBytes: 0)
        }
    }

    public func appendLedger(_ events: [LedgerEvent]) async throws {
        try await database.write { s in
            var ledger = PostgresLedgerAppender()
            for event in events { try await ledger.append(s, event) }
            try await ledger.finish(s)
        }
    }

    /// None: with the ledger a table, a line is in the ledger once its transaction commits.
    public func pendingLedgerLines() async throws -> [LedgerLine] { [] }

    /// Nothing to record: there is no file behind a table.
    public func ledgerAppended(through seq: Int64, fileBytes: Int64) async throws {}

    /// The ledger's lines from `seq` on (1-based), a page at a time, in order.
    public func ledgerLines(from seq: Int64, limit: Int = 10_000) async throws -> [LedgerLine] {
        try await database.read { s in
            try await s.execute("SELECT seq, line FROM ledger WHERE seq >= \(seq) ORDER BY seq LIMIT \(limit)")
                .map { LedgerLine(seq: try $0.int64("seq"), line: try $0.bytes("line")) }
        }
    }

    /// Every line, in order, page by page.
    public func forEachLedgerLine(_ body: (Int64, [UInt8]) async throws -> Void) async throws {
        var next: Int64 = 1
        while true {
            let page = try await ledgerLines(from: next)
            for line in page { try await body(line.seq, line.line) }
            guard let last = page.last, page.count == 10_000 else { return }
            next = last.seq + 1
        }
    }

    // MARK: Runs, quarantine, meta

    public func startRun(at: Date, startedAt: Date) async throws -> Int64 {
        let worker = workerIdentity.id
        return try await database.write { s in
            try await s.one(
                """
                INSERT INTO runs (started_at, at, status, worker)
                VALUES (\(startedAt.timeIntervalSince1970), \(at.timeIntervalSince1970), 'running', \(worker))
                RETURNING id
                """
            )!.int64("id")
        }
    }

    public func finishRun(_ id: Int64, status: RunStatus, summary: String, finishedAt: Date) async throws {
        try await database.write { s in
            try await s.execute(
                """
                UPDATE runs SET finished_at = \(finishedAt.timeIntervalSince1970), status = \(status.rawValue),
                    summary = \(summary) WHERE id = \(id)
                """
            )
        }
    }

    /// Runs still marked `running` that no live worker owns (its heartbeat is older than a
    /// lease): other workers' runs going at the same time are theirs, not dead.
    @discardableResult
    public func markDiedRuns(foundBy run: Int64?) async throws -> [Int64] {
        let error =
            "ended without finishing (killed or crashed)"
            + (run.map { "; run #\($0) found its lock released" } ?? "; its lock was found released")
        let summary = JSONValue.object(["error": .string(error)]).serializedString()
        let (me, lease) = (workerIdentity.id, workerIdentity.lease)
        return try await database.write { s in
            try await s.execute(
                """
                UPDATE runs SET status = 'died', summary = \(summary)
                WHERE status = 'running' AND id IS DISTINCT FROM \(run)
                AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = runs.worker AND w.id != \(me)
                    AND w.heartbeat_at > now() - make_interval(secs => \(lease)))
                RETURNING id
                """
            ).map { try $0.int64("id") }.sorted()
        }
    }

    public func addQuarantine(
        runId: Int64?,
        source: String,
        object: String,
        reason: String,
        at: Date,
        ledger event: LedgerEvent
    ) async throws {
        try await database.write { s in
            try await s.execute(
                """
                INSERT INTO quarantine (run_id, source, object, reason, at)
                VALUES (\(runId), \(source), \(object), \(reason), \(at.timeIntervalSince1970))
                """
            )
            var ledger = PostgresLedgerAppender()
            try await ledger.append(s, event)
            try await ledger.finish(s)
        }
    }

    public func meta(_ key: String) async throws -> String? {
        try await database.read { s in try await s.one("SELECT value FROM meta WHERE key = \(key)")?.string("value") }
    }

    public func deleteMeta(_ key: String) async throws {
        try await database.write { s in try await s.execute("DELETE FROM meta WHERE key = \(key)") }
    }

    public func setMeta(_ key: String, _ value: String) async throws {
        try await database.write { s in
            try await s.execute(
                """
                INSERT INTO meta (key, value) VALUES (\(key), \(value))
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """
            )
        }
    }

    public func runTotals() async throws -> RunTotals {
        let (n, last) = try await database.read { s in
            let row = try await s.one(
                """
                SELECT (SELECT count(*) FROM runs WHERE finished_at IS NOT NULL) AS n,
                       (SELECT max(finished_at) FROM runs WHERE status = 'ok') AS last
                """
            )
            return (try row?.int64("n") ?? 0, try row?.date("last"))
        }
        return RunTotals(finished: Int(n), lastSuccess: last)
    }

    public func recentRuns(limit: Int) async throws -> [StatusReport.Run] {
        try await database.read { s in
            try await s.execute("SELECT * FROM runs ORDER BY id DESC LIMIT \(limit)").map {
                StatusReport.Run(
                    id: try $0.int64("id"),
                    started: try $0.date("started_at") ?? Date(timeIntervalSince1970: 0),
                    finished: try $0.date("finished_at"),
                    at: try $0.date("at") ?? Date(timeIntervalSince1970: 0),
                    status: try $0.string("status"),
                    summary: try $0.optionalString("summary")
                )
            }
        }
    }

    public func recentQuarantine(limit: Int) async throws -> [StatusReport.Quarantined] {
        try await database.read { s in
            try await s.execute("SELECT * FROM quarantine ORDER BY id DESC LIMIT \(limit)").map {
                StatusReport.Quarantined(
                    source: try $0.string("source"),
                    object: try $0.string("object"),
                    reason: try $0.string("reason"),
                    at: try $0.date("at") ?? Date(timeIntervalSince1970: 0)
                )
            }
        }
    }

    public func collectionCounts() async throws -> [StatusReport.CollectionCount] {
        struct Count: Sendable {
            var collection: String
            var viewer: String?
            var n: Int64
        }
        let rows = try await database.read { s in
            try await s.execute(
                """
                SELECT collection, NULL::text AS viewer, count(*) AS n FROM records GROUP BY collection
                UNION ALL
                SELECT collection, viewer, count(*) AS n FROM publications WHERE status = 'published'
                GROUP BY collection, viewer
                ORDER BY 1, 2 NULLS FIRST
                """
            ).map {
                Count(
                    collection: try $0.string("collection"),
                    viewer: try $0.optionalString("viewer"),
                    n: try $0.int64("n")
                )
            }
        }
        var counts: [StatusReport.CollectionCount] = []
        for row in rows {
            if let viewer = row.viewer {
                if counts.last?.collection == row.collection {
                    counts[counts.count - 1].perViewer.append((viewer: viewer, items: Int(row.n)))
                }
            } else {
                counts.append(
                    StatusReport.CollectionCount(collection: row.collection, records: Int(row.n), perViewer: [])
                )
            }
        }
        return counts
    }
}

/// Chains ledger lines onto the table inside the caller's transaction. The first line takes
/// a transaction-scoped advisory lock and reads the head; the lock orders every writer's
/// lines into one chain and is released by their commit or rollback, so a line exists
/// exactly when the change it records does.
struct PostgresLedgerAppender {
    static let lock: Int64 = 0x656F_7368_6172_6502  // "eoshare" 02

    private var head: (lines: Int64, hash: String)?

    static func anchor(_ s: PostgresSession) async throws -> (Int64, String) {
        let row = try await s.one(
            """
            SELECT (SELECT value FROM meta WHERE key = 'ledger_lines') AS lines,
                   (SELECT value FROM meta WHERE key = 'ledger_head') AS head
            """
        )
        let lines = Int64(try row?.optionalString("lines") ?? "0") ?? 0
        return (lines, try row?.optionalString("head") ?? LedgerAnchor.genesis)
    }

    /// Takes the ledger's lock (until the transaction ends) and reads its head.
    mutating func lock(_ s: PostgresSession) async throws {
        guard head == nil else { return }
        try await s.execute("SELECT pg_advisory_xact_lock(\(Self.lock))")
        head = try await Self.anchor(s)
    }

    mutating func append(_ s: PostgresSession, _ e: LedgerEvent) async throws { try await append(s, [e]) }

    /// Chains the lines here, and inserts them in one statement.
    mutating func append(_ s: PostgresSession, _ events: [LedgerEvent]) async throws {
        guard !events.isEmpty else { return }
        try await lock(s)
        var rows = BatchStatement("INSERT INTO ledger (seq, line, hash) VALUES ")
        for e in events {
            var o = JSONObject()
            o["at"] = .string(Timestamp.format(e.at))
            o["event"] = .string(e.event)
            for (k, v) in e.fields { o[k] = v }
            o["prev"] = .string(head!.hash)
            let line = JSONValue.object(o).serialized(pretty: false)
            let seq = head!.lines + 1
            let hash = Digest.sha256Hex(line)
            rows.row { v in
                v.add(seq)
                v.add(ByteBuffer(bytes: line))
                v.add(hash)
            }
            head = (seq, hash)
        }
        try await s.execute(rows.statement)
    }

    /// Moves the anchor to the last line appended (nothing when none was).
    func finish(_ s: PostgresSession) async throws {
        guard let head else { return }
        try await s.execute(
            """
            INSERT INTO meta (key, value) VALUES ('ledger_lines', \(String(head.lines))), ('ledger_head', \(head.hash))
            ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """
        )
    }
}
