import EOShareCore
import Foundation
import NIOCore
import PostgresNIO

/// A batch's rows in one statement each (`INSERT … VALUES (…), (…)`, `UPDATE … FROM (VALUES …)`)
/// instead of one statement per row: every statement is a round trip to the database, and a
/// batch of 128 records to six viewers was some 4,800 of them. The bindings are the same as
/// the one-row statements' (NULLs included); a row appears once per statement (PostgreSQL
/// refuses `ON CONFLICT DO UPDATE` touching a row twice), the last one of a key winning as it
/// would have row by row.
struct BatchStatement {
    private var query = PostgresQuery.StringInterpolation(literalCapacity: 256, interpolationCount: 0)
    private(set) var count = 0

    init(_ head: String) { query.appendLiteral(head) }

    /// Starts the next row: `(` after a comma when one came before.
    mutating func row(_ body: (inout Row) -> Void) {
        query.appendLiteral(count == 0 ? "(" : ", (")
        var row = Row(query: query)
        body(&row)
        query = row.query
        query.appendLiteral(")")
        count += 1
    }

    mutating func tail(_ sql: String) { query.appendLiteral(sql) }

    var statement: PostgresQuery { PostgresQuery(stringInterpolation: query) }

    /// One row's values, comma-separated, bound as the one-row statements bind them.
    struct Row {
        fileprivate var query: PostgresQuery.StringInterpolation
        private var first = true

        fileprivate init(query: PostgresQuery.StringInterpolation) { self.query = query }

        private mutating func comma() {
            if !first { query.appendLiteral(", ") }
            first = false
        }

        mutating func add<V: PostgresDynamicTypeEncodable>(_ value: V) {
            comma()
            query.appendInterpolation(value)
        }

        mutating func add<V: PostgresDynamicTypeEncodable>(_ value: V?) {
            comma()
            query.appendInterpolation(value)
        }
    }

    /// The last of each key, in the order of their first appearance.
    static func lastOfEach<T, K: Hashable>(_ items: [T], key: (T) -> K) -> [T] {
        var index: [K: Int] = [:]
        var kept: [T] = []
        for item in items {
            let k = key(item)
            if let i = index[k] {
                kept[i] = item
            } else {
                index[k] = kept.count
                kept.append(item)
            }
        }
        return kept
    }
}

extension PostgresStateStore {
    /// Every record's row, one statement.
    static func saveRecords(_ s: PostgresSession, _ records: [StoredRecord], at: Date) async throws {
        let records = BatchStatement.lastOfEach(records) { [$0.subject.collection, $0.subject.id] }
        guard !records.isEmpty else { return }
        var rows = BatchStatement(
            """
            INSERT INTO records
            (collection, id, owner, source, object_url, start_time, end_time, acquired, processed, ingested,
             west, south, east, north, item, assets, next_change, updated_at, day, folder)
            VALUES
            """
        )
        for r in records {
            let sub = r.subject
            rows.row { v in
                v.add(sub.collection)
                v.add(sub.id)
                v.add(sub.owner)
                v.add(r.source)
                v.add(r.objectURL)
                for time in [r.startTime, r.endTime, sub.acquired, sub.processed, sub.ingested] {
                    v.add(time?.timeIntervalSince1970)
                }
                for n in 0..<4 { v.add(sub.bbox?[n]) }
                v.add(ByteBuffer(bytes: r.item))
                v.add(StoredAsset.columnText(r.assets))
                v.add(r.nextChange?.timeIntervalSince1970)
                v.add(at.timeIntervalSince1970)
                v.add(r.place.day)
                v.add(r.place.folder)
            }
        }
        rows.tail(
            """

            ON CONFLICT (collection, id) DO UPDATE SET
                owner = excluded.owner, source = excluded.source, object_url = excluded.object_url,
                start_time = excluded.start_time, end_time = excluded.end_time,
                acquired = excluded.acquired, processed = excluded.processed, ingested = excluded.ingested,
                west = excluded.west, south = excluded.south, east = excluded.east, north = excluded.north,
                item = excluded.item, assets = excluded.assets, next_change = excluded.next_change,
                updated_at = excluded.updated_at, day = excluded.day, folder = excluded.folder
            """
        )
        try await s.execute(rows.statement)
    }

    /// Publications set to `status` in `place`, one statement.
    static func setPublications(
        _ s: PostgresSession,
        _ copies: [(collection: String, id: String, viewer: String, place: ItemPlace)],
        status: PublicationStatus,
        at: Date
    ) async throws {
        let copies = BatchStatement.lastOfEach(copies) { [$0.collection, $0.id, $0.viewer] }
        guard !copies.isEmpty else { return }
        var rows = BatchStatement(
            "INSERT INTO publications (collection, record_id, viewer, status, published_at, day, folder) VALUES "
        )
        for c in copies {
            rows.row { v in
                v.add(c.collection)
                v.add(c.id)
                v.add(c.viewer)
                v.add(status.rawValue)
                v.add(at.timeIntervalSince1970)
                v.add(c.place.day)
                v.add(c.place.folder)
            }
        }
        rows.tail(
            """

            ON CONFLICT (collection, record_id, viewer) DO UPDATE SET status = excluded.status,
                day = excluded.day, folder = excluded.folder
            """
        )
        try await s.execute(rows.statement)
    }

    /// Catalogs to rewrite, one statement. A mark already there is set again (a new `xmin`,
    /// its version); rows are taken in one order, so two transactions marking the same days
    /// never wait on each other crosswise.
    static func markDirty(_ s: PostgresSession, _ catalogs: [CatalogKey]) async throws {
        let catalogs = Set(catalogs).sorted {
            ($0.viewer, $0.collection, $0.day) < ($1.viewer, $1.collection, $1.day)
        }
        guard !catalogs.isEmpty else { return }
        var rows = BatchStatement("INSERT INTO dirty_catalogs (viewer, collection, day) VALUES ")
        for c in catalogs {
            rows.row { v in
                v.add(c.viewer)
                v.add(c.collection)
                v.add(c.day)
            }
        }
        rows.tail(" ON CONFLICT (viewer, collection, day) DO UPDATE SET day = EXCLUDED.day")
        try await s.execute(rows.statement)
    }

    /// Copies confirmed published, one statement; and the kept extents widened by their
    /// records, one more (`growExtent`, over many records at once).
    static func confirmPublished(
        _ s: PostgresSession,
        _ copies: [(collection: String, id: String, viewer: String)],
        at: Date
    ) async throws {
        let copies = BatchStatement.lastOfEach(copies) { [$0.collection, $0.id, $0.viewer] }
        guard !copies.isEmpty else { return }
        var update = BatchStatement(
            """
            UPDATE publications SET status = 'published', published_at = p.at, failures = 0, error = NULL
            FROM (VALUES
            """
        )
        for c in copies {
            update.row { v in
                v.add(c.collection)
                v.add(c.id)
                v.add(c.viewer)
                v.add(at.timeIntervalSince1970)
            }
        }
        update.tail(
            """
            ) AS p(collection, record_id, viewer, at)
            WHERE publications.collection = p.collection AND publications.record_id = p.record_id
                AND publications.viewer = p.viewer
            """
        )
        try await s.execute(update.statement)

        var extents = BatchStatement(
            """
            UPDATE extents SET
                west = least(coalesce(extents.west, g.w), coalesce(g.w, extents.west)),
                south = least(coalesce(extents.south, g.s), coalesce(g.s, extents.south)),
                east = greatest(coalesce(extents.east, g.e), coalesce(g.e, extents.east)),
                north = greatest(coalesce(extents.north, g.n), coalesce(g.n, extents.north)),
                start_time = least(coalesce(extents.start_time, g.t0), coalesce(g.t0, extents.start_time)),
                end_time = greatest(coalesce(extents.end_time, g.t1), coalesce(g.t1, extents.end_time))
            FROM (
                SELECT c.viewer, r.collection, min(r.west) AS w, min(r.south) AS s, max(r.east) AS e,
                       max(r.north) AS n, min(r.start_time) AS t0, max(coalesce(r.end_time, r.start_time)) AS t1
                FROM (VALUES
            """
        )
        for c in copies {
            extents.row { v in
                v.add(c.viewer)
                v.add(c.collection)
                v.add(c.id)
            }
        }
        extents.tail(
            """
            ) AS c(viewer, collection, id)
                JOIN records r ON r.collection = c.collection AND r.id = c.id
                GROUP BY c.viewer, r.collection
            ) AS g
            WHERE extents.viewer = g.viewer AND extents.collection = g.collection
            """
        )
        try await s.execute(extents.statement)
    }

    /// Objects' rows, one statement (as `saveObject`'s, row by row).
    static func saveObjects(_ s: PostgresSession, _ objects: [StoredObject], at: Date) async throws {
        let objects = BatchStatement.lastOfEach(objects) { $0.url }
        guard !objects.isEmpty else { return }
        var rows = BatchStatement(
            """
            INSERT INTO objects
            (url, source, etag, last_modified, size, sha256, outcome, reason, record_collection, record_id,
             fetched_at, listed)
            VALUES
            """
        )
        for o in objects {
            rows.row { v in
                v.add(o.url)
                v.add(o.source)
                v.add(o.etag)
                v.add(o.lastModified)
                v.add(o.size)
                v.add(o.sha256)
                v.add(o.outcome.rawValue)
                v.add(o.reason)
                v.add(o.recordCollection)
                v.add(o.recordId)
                v.add(at.timeIntervalSince1970)
                v.add(o.listed)
            }
        }
        rows.tail(
            """

            ON CONFLICT (url) DO UPDATE SET
                source = excluded.source, etag = excluded.etag, last_modified = excluded.last_modified,
                size = excluded.size, sha256 = excluded.sha256, outcome = excluded.outcome,
                reason = excluded.reason, fetched_at = excluded.fetched_at, listed = excluded.listed,
                record_collection = COALESCE(excluded.record_collection, objects.record_collection),
                record_id = CASE WHEN excluded.record_collection IS NULL THEN objects.record_id
                                 ELSE excluded.record_id END
            """
        )
        try await s.execute(rows.statement)
    }
}
