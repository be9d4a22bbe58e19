import EOShareCore
import EOShareEmbargo
import Foundation

/// The pipeline's memory: fetched objects, records with their normalized items, their
/// copies in the viewers' trees (publications), the ledger's committed lines, runs and
/// quarantine. SQLite (`SQLiteStateStore`) is the embedded default; every implementation
/// keeps the same meaning for every method.
///
/// During an ingest run only the publish stage writes (it alone knows what the trees
/// hold); the fetch stage reads what it remembers of objects, and the read-only commands
/// (audit, export, explain, status, ledger, serve) only read.
public protocol StateStore: Sendable {
    // MARK: Objects
    func object(url: String) async throws -> StoredObject?
    /// The remembered objects among `urls`, read in one go.
    func objects(urls: [String]) async throws -> [String: StoredObject]
    func saveObject(_ o: StoredObject, at: Date) async throws
    /// Forgets an object, so the next fetch takes it whole again.
    func forgetObject(url: String) async throws

    // MARK: Records
    func record(collection: String, id: String) async throws -> StoredRecord?
    /// Every record with this id, in any collection.
    func records(id: String) async throws -> [StoredRecord]
    /// Records page by page (flat memory): all of them, or only those due at `dueAt`.
    func recordPage(dueAt: Date?, after: RecordKey?, limit: Int) async throws -> [StoredRecord]
    /// The policy facts of records page by page (no item, no assets).
    func subjectPage(after: RecordKey?, limit: Int) async throws -> [EmbargoSubject]
    func setNextChange(collection: String, id: String, _ next: Date?) async throws
    /// Every record is due (the policy changed, the clock went back, the trees were read
    /// again): each is evaluated again, and gets its next change then.
    func markAllDue() async throws

    // MARK: Publications
    func publications(collection: String, id: String) async throws -> [Publication]
    /// What publishing a record needs to know first, read at once.
    func lookup(collection: String, id: String, folder: String, objectURL: String) async throws -> PublishLookup
    /// Records intents before any file moves, many records in one transaction.
    func begin(_ intents: [Intent], at: Date) async throws
    /// Confirms what the files now show, many records in one transaction, with their ledger lines.
    func confirm(_ confirmations: [Confirmation], at: Date) async throws
    /// Remembers that finishing an intent failed, so the next run tries it after the others.
    func recordFailure(collection: String, id: String, viewers: [String], error: String) async throws
    /// Records with an unfinished intent, those that failed least often first.
    func unfinishedRecords() async throws -> [RecordKey]
    /// Takes a copy found in a tree into the state as published.
    func adopt(
        record: StoredRecord?,
        collection: String,
        id: String,
        viewer: String,
        place: ItemPlace,
        at: Date
    )
        async throws
    /// A published copy the trees were found not to hold becomes an intent again.
    func reopen(collection: String, id: String, viewer: String) async throws
    /// Viewers the state knows copies for.
    func publicationViewers() async throws -> [String]
    /// A viewer's copies page by page, in (collection, id) order.
    func publicationPage(viewer: String, after: RecordKey?, limit: Int) async throws -> [(RecordKey, Publication)]
    /// The copies of a viewer that left the pipeline, all marked as leaving.
    func beginRemovingViewer(_ viewer: String) async throws -> [LeavingCopy]
    /// The viewer's tree is gone: its copies and catalogs are forgotten, with their ledger lines.
    func confirmViewerRemoved(_ viewer: String, ledger events: [LedgerEvent]) async throws

    // MARK: Catalogs
    /// The day catalogs a change marked for rewriting, each with its mark's version.
    func dirtyCatalogs() async throws -> [CatalogMark]
    func markDirty(_ catalog: CatalogKey) async throws
    func markAllDirty() async throws
    /// Takes off marks once their catalogs are written, but not one set again since it was
    /// read: that change may be newer than what the writer read.
    func clearDirtyCatalogs(_ marks: [CatalogMark]) async throws
    /// The items the day catalogs of `days` name: the viewer's published copies at each day,
    /// by folder (a day that names none is absent).
    func catalogItems(viewer: String, collection: String, days: [String]) async throws -> [String: [CatalogEntry]]
    /// The day folders under which the viewer holds published items of a collection, sorted.
    func catalogDays(viewer: String, collection: String) async throws -> [String]
    /// A collection's extent as the viewer sees it.
    func extent(viewer: String, collection: String) async throws -> Extent
    /// Collections that hold at least one item for the viewer.
    func publishedCollections(viewer: String) async throws -> [String]

    // MARK: Ledger
    func ledgerAnchor() async throws -> LedgerAnchor
    /// Commits events that change nothing else (an export).
    func appendLedger(_ events: [LedgerEvent]) async throws
    /// Lines committed but not yet known to be in `ledger.jsonl`, in order.
    func pendingLedgerLines() async throws -> [LedgerLine]
    /// `ledger.jsonl` now holds every line up to `seq`, in `fileBytes` bytes.
    func ledgerAppended(through seq: Int64, fileBytes: Int64) async throws

    // MARK: Runs, quarantine, meta
    func startRun(at: Date, startedAt: Date) async throws -> Int64
    func finishRun(_ id: Int64, status: RunStatus, summary: String, finishedAt: Date) async throws
    /// Runs still marked running when a new run holds the pipeline's lock died; returns their ids.
    func markDiedRuns(foundBy run: Int64?) async throws -> [Int64]
    func runTotals() async throws -> RunTotals
    func recentRuns(limit: Int) async throws -> [StatusReport.Run]
    /// A quarantined object, with its ledger line in the same transaction.
    func addQuarantine(
        runId: Int64?,
        source: String,
        object: String,
        reason: String,
        at: Date,
        ledger event: LedgerEvent
    )
        async throws
    func recentQuarantine(limit: Int) async throws -> [StatusReport.Quarantined]
    func collectionCounts() async throws -> [StatusReport.CollectionCount]
    func meta(_ key: String) async throws -> String?
    func setMeta(_ key: String, _ value: String) async throws
    func deleteMeta(_ key: String) async throws

    // MARK: Search (the STAC API, `eoshare serve`)
    /// The next `search.limit` candidates of a search, in its total order, resumed after
    /// `search.after`; the caller decides each one's visibility (an index answers the box and
    /// the time span, so a search does not scan).
    func searchRecords(_ search: RecordSearch) async throws -> [SearchCandidate]
    /// Policy facts with time spans, page by page in (collection, id) order: a collection's
    /// extent as one viewer sees it now.
    func timedSubjectPage(after: RecordKey?, limit: Int) async throws -> [TimedSubject]
}

extension StateStore {
    /// The items one day catalog names.
    public func catalogItems(_ catalog: CatalogKey) async throws -> [CatalogEntry] {
        try await catalogItems(viewer: catalog.viewer, collection: catalog.collection, days: [catalog.day])[catalog.day]
            ?? []
    }

    /// Visits records page by page (keyset pagination), so memory stays flat however many
    /// there are: all of them, or only those due at `dueAt`.
    public func forEachRecord(
        dueAt: Date? = nil,
        pageSize: Int = 500,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (StoredRecord) async throws -> Void
    ) async throws {
        var after: RecordKey?
        while true {
            let page = try await recordPage(dueAt: dueAt, after: after, limit: pageSize)
            for record in page { try await body(record) }
            guard let last = page.last, page.count == pageSize else { return }
            after = RecordKey(collection: last.subject.collection, id: last.subject.id)
        }
    }

    /// Visits every record's policy facts only: what the audit and the status report need,
    /// without loading the item blobs.
    public func forEachSubject(
        pageSize: Int = 5000,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (EmbargoSubject) async throws -> Void
    ) async throws {
        var after: RecordKey?
        while true {
            let page = try await subjectPage(after: after, limit: pageSize)
            for subject in page { try await body(subject) }
            guard let last = page.last, page.count == pageSize else { return }
            after = RecordKey(collection: last.collection, id: last.id)
        }
    }

    /// Every copy the state believes a viewer's tree holds, page by page.
    public func forEachPublication(
        viewer: String,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RecordKey, Publication) async throws -> Void
    ) async throws {
        var after: RecordKey?
        while true {
            let page = try await publicationPage(viewer: viewer, after: after, limit: 1000)
            for (key, p) in page { try await body(key, p) }
            guard let last = page.last, page.count == 1000 else { return }
            after = last.0
        }
    }

    /// A run that ended with an error: `failed`, with the error and the counts it reached.
    public func failRun(_ id: Int64, error: String, summary: IngestSummary?, finishedAt: Date) async throws {
        var o = summary?.json.objectValue ?? JSONObject()
        o["error"] = .string(error)
        try await finishRun(
            id,
            status: .failed,
            summary: JSONValue.object(o).serializedString(),
            finishedAt: finishedAt
        )
    }
}

/// Opens the pipeline's state, creating it: the store its `state:` names (a SQLite file, or
/// a PostgreSQL database whose schema is created or migrated on the way).
public func openState(_ pipeline: Pipeline) async throws -> any StateStore {
    if let url = pipeline.postgres {
        return try await PostgresStateStore.open(url, relativeTo: pipeline.file.deletingLastPathComponent())
    }
    return try SQLiteStateStore.opening(at: pipeline.statePath)
}

/// Opens the state of a read-only command: nil when there is none (a command that only
/// reads must not create it).
public func existingState(_ pipeline: Pipeline) async throws -> (any StateStore)? {
    if let url = pipeline.postgres {
        return try await PostgresStateStore.existing(url, relativeTo: pipeline.file.deletingLastPathComponent())
    }
    return try SQLiteStateStore.existing(at: pipeline.statePath)
}
