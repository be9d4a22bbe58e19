import EOShareCore
import EOShareEmbargo
import Foundation
import PostgresNIO

/// The STAC API's reads on a PostgreSQL state, with the meaning and the order of the SQLite
/// ones (`SQLiteStateStore.searchRecords`): the box through the GiST index on `search_box`
/// and the times through their B-tree indexes (schema version 3, `PostgresSearchIndex`), keys
/// compared as SQLite compares them (NULL lowest, then numbers, then text in byte order), so a
/// page token means the same on either store.
extension PostgresStateStore {
    public func searchRecords(_ q: RecordSearch) async throws -> [SearchCandidate] {
        var builder = PostgresSearchQuery(q)
        let query = builder.postgresQuery()
        let keys = builder.keys
        return try await database.read { s in
            try await s.execute(query).map { row in
                let subject = try Self.recordSubject(row)
                return SearchCandidate(
                    subject: subject,
                    startTime: try row.date("start_time"),
                    endTime: try row.date("end_time"),
                    item: try row.bytes("item"),
                    assets: StoredAsset.list(fromColumn: try row.string("assets")),
                    place: ItemPlace(day: try row.string("day"), folder: try row.string("folder")),
                    key: try keys.indices.map { try PostgresSearchQuery.keyValue(row, keys[$0], index: $0) }
                )
            }
        }
    }

    public func timedSubjectPage(after: RecordKey?, limit: Int) async throws -> [TimedSubject] {
        let (c, i) = (after?.collection ?? "", after?.id ?? "")
        return try await database.read { s in
            try await s.execute(
                """
                SELECT id, collection, owner, west, south, east, north, acquired, processed, ingested,
                       start_time, end_time
                FROM records WHERE (collection, id) > (\(c), \(i)) ORDER BY collection, id LIMIT \(limit)
                """
            ).map {
                TimedSubject(
                    subject: try Self.recordSubject($0),
                    start: try $0.date("start_time"),
                    end: try $0.date("end_time")
                )
            }
        }
    }

    /// A record's policy facts from a row of `records`.
    static func recordSubject(_ r: PostgresColumns) throws -> EmbargoSubject {
        var bbox: [Double]?
        if let w = try r.double("west"), let s = try r.double("south"), let e = try r.double("east"),
            let n = try r.double("north")
        {
            bbox = [w, s, e, n]
        }
        return EmbargoSubject(
            id: try r.string("id"),
            collection: try r.string("collection"),
            owner: try r.string("owner"),
            bbox: bbox,
            acquired: try r.date("acquired"),
            processed: try r.date("processed"),
            ingested: try r.date("ingested")
        )
    }
}

/// The search index of a PostgreSQL state (schema version 3): each record's box as a plain
/// PostgreSQL `box` (no PostGIS needed) in a column the database computes itself, so every
/// writer of `records` (ingest, adopt, migrate) keeps it right without knowing it exists, with
/// a GiST index; and B-tree indexes on the two instants a datetime search compares. A box
/// across the antimeridian (west > east) is kept as the whole band of longitudes, and a box
/// that is not one (south > north, a missing side) is not kept, as in SQLite's R*Tree: the
/// server checks every candidate's box exactly.
enum PostgresSearchIndex {
    static let boxExpression = """
        CASE WHEN west IS NULL OR south IS NULL OR east IS NULL OR north IS NULL OR south > north THEN NULL
             WHEN west <= east THEN box(point(west, south), point(east, north))
             ELSE box(point(-180, south), point(180, north)) END
        """

    static let migration = PostgresSchema.Migration(
        version: 3,
        name: "search-index",
        statements: [
            "ALTER TABLE records ADD COLUMN search_box box GENERATED ALWAYS AS (\(boxExpression)) STORED",
            "CREATE INDEX records_search_box ON records USING gist (search_box)",
            // DESC NULLS LAST read forwards is the newest-first order (NULL lowest, as in SQLite);
            // read backwards, the oldest-first order.
            "CREATE INDEX records_start_time ON records (start_time DESC NULLS LAST)",
            "CREATE INDEX records_end_time ON records ((coalesce(end_time, start_time)) DESC NULLS LAST)",
            "ANALYZE records",
        ]
    )
}

/// One search as SQL with its bindings. Keys are compared the SQLite way: NULL lowest, then
/// numbers, then text; a property of the item's JSON is a key of three parts (its kind, its
/// number, its text) so that a property holding numbers for some items and text for others
/// still has one total order.
struct PostgresSearchQuery {
    let search: RecordSearch
    let keys: [RecordSearch.SortKey]
    private(set) var binds = PostgresBindings()

    init(_ search: RecordSearch) {
        self.search = search
        keys = search.keys
    }

    /// A bound parameter's placeholder.
    private mutating func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// What a key is made of in SQL.
    enum KeySQL {
        /// A column of numbers (instants as seconds).
        case number(String)
        /// A column of text in byte order.
        case text(String)
        /// A property of the item: kind (NULL missing, 1 number, 2 text), number, text.
        case property(kind: String, number: String, text: String)
    }

    private mutating func sql(_ field: RecordSearch.Field) -> KeySQL {
        switch field {
        case .datetime: return .number("r.start_time")
        case .endDatetime: return .number("coalesce(r.end_time, r.start_time)")
        case .id: return .text("r.id")
        case .collection: return .text("r.collection")
        case .property(let name):
            // SQLite's json_extract: JSON null is NULL, true/false are 1/0, objects and arrays their text.
            let v = "(convert_from(r.item, 'UTF8')::jsonb -> 'properties' -> \(bind(name)))"
            return .property(
                kind: """
                    (CASE jsonb_typeof(\(v)) WHEN 'number' THEN 1 WHEN 'boolean' THEN 1
                     WHEN 'string' THEN 2 WHEN 'object' THEN 2 WHEN 'array' THEN 2 END)
                    """,
                number: """
                    (CASE jsonb_typeof(\(v)) WHEN 'number' THEN (\(v))::double precision
                     WHEN 'boolean' THEN CASE WHEN (\(v))::boolean THEN 1.0 ELSE 0.0 END END)
                    """,
                text: """
                    (CASE jsonb_typeof(\(v)) WHEN 'string' THEN (\(v)) #>> '{}'
                     WHEN 'object' THEN (\(v))::text WHEN 'array' THEN (\(v))::text END) COLLATE "C"
                    """
            )
        }
    }

    /// SQL true when the key equals `value`.
    private mutating func equals(_ k: KeySQL, _ value: RecordSearch.KeyValue) -> String {
        switch (k, value) {
        case (.number(let e), .null), (.text(let e), .null): return "\(e) IS NULL"
        case (.number(let e), .number(let d)): return "\(e) = \(bind(d))"
        case (.text(let e), .text(let s)): return "\(e) = \(bind(s))"
        case (.number, .text), (.text, .number): return "FALSE"
        case (.property(let kind, _, _), .null): return "\(kind) IS NULL"
        case (.property(let kind, let number, _), .number(let d)): return "(\(kind) = 1 AND \(number) = \(bind(d)))"
        case (.property(let kind, _, let text), .text(let s)): return "(\(kind) = 2 AND \(text) = \(bind(s)))"
        }
    }

    /// SQL true when the key comes strictly after `value` in the key's direction.
    private mutating func after(_ k: KeySQL, _ value: RecordSearch.KeyValue, descending: Bool) -> String {
        switch (k, value, descending) {
        case (.number(let e), .null, false), (.text(let e), .null, false): return "\(e) IS NOT NULL"
        case (.number, .null, true), (.text, .null, true): return "FALSE"
        case (.number(let e), .number(let d), false): return "\(e) > \(bind(d))"
        case (.number(let e), .number(let d), true): return "(\(e) < \(bind(d)) OR \(e) IS NULL)"
        case (.text(let e), .text(let s), false): return "\(e) > \(bind(s))"
        case (.text(let e), .text(let s), true): return "(\(e) < \(bind(s)) OR \(e) IS NULL)"
        // Numbers sort before text.
        case (.number, .text, false): return "FALSE"
        case (.number, .text, true): return "TRUE"
        case (.text(let e), .number, false): return "\(e) IS NOT NULL"
        case (.text(let e), .number, true): return "\(e) IS NULL"
        case (.property(let kind, _, _), .null, false): return "\(kind) IS NOT NULL"
        case (.property, .null, true): return "FALSE"
        case (.property(let kind, let number, _), .number(let d), false):
            return "(\(kind) = 2 OR (\(kind) = 1 AND \(number) > \(bind(d))))"
        case (.property(let kind, let number, _), .number(let d), true):
            return "(\(kind) IS NULL OR (\(kind) = 1 AND \(number) < \(bind(d))))"
        case (.property(let kind, _, let text), .text(let s), false):
            return "(\(kind) = 2 AND \(text) > \(bind(s)))"
        case (.property(let kind, _, let text), .text(let s), true):
            return "(\(kind) IS NULL OR \(kind) = 1 OR (\(kind) = 2 AND \(text) < \(bind(s))))"
        }
    }

    /// The ORDER BY terms of a key (NULL lowest in both directions, as in SQLite).
    private func order(_ k: KeySQL, descending: Bool) -> [String] {
        let direction = descending ? "DESC NULLS LAST" : "ASC NULLS FIRST"
        switch k {
        case .number(let e), .text(let e): return ["\(e) \(direction)"]
        case .property(let kind, let number, let text):
            return ["\(kind) \(direction)", "\(number) \(direction)", "\(text) \(direction)"]
        }
    }

    /// The SELECT terms that give a key's value back.
    private func selected(_ k: KeySQL, index: Int) -> [String] {
        switch k {
        case .number(let e), .text(let e): return ["\(e) AS k\(index)"]
        case .property(let kind, let number, let text):
            return ["\(kind) AS k\(index)_kind", "\(number) AS k\(index)_number", "\(text) AS k\(index)_text"]
        }
    }

    static func keyValue(
        _ row: PostgresColumns,
        _ key: RecordSearch.SortKey,
        index: Int
    ) throws
        -> RecordSearch.KeyValue
    {
        switch key.field {
        case .datetime, .endDatetime:
            return try row.double("k\(index)").map { .number($0) } ?? .null
        case .id, .collection:
            return try row.optionalString("k\(index)").map { .text($0) } ?? .null
        case .property:
            switch try row.row["k\(index)_kind"].decode(Int32?.self) {
            case 1: return try row.double("k\(index)_number").map { .number($0) } ?? .null
            case 2: return try row.optionalString("k\(index)_text").map { .text($0) } ?? .null
            default: return .null
            }
        }
    }

    /// The statement, its placeholders numbered in the order they appear.
    mutating func postgresQuery() -> PostgresQuery {
        var conditions: [String] = []
        if let collections = search.collections {
            conditions.append("r.collection = ANY(\(bind(collections))::text[])")
        }
        if let ids = search.ids {
            conditions.append("r.id = ANY(\(bind(ids))::text[])")
        }
        if let b = search.bbox, b.count == 4 {
            // A box across the antimeridian asks for both of its sides.
            let spans: [(Double, Double)] = b[0] <= b[2] ? [(b[0], b[2])] : [(b[0], 180), (-180, b[2])]
            let parts = spans.map { (w, e) in
                "r.search_box && box(point(\(bind(w)), \(bind(b[1]))), point(\(bind(e)), \(bind(b[3]))))"
            }
            conditions.append("(" + parts.joined(separator: " OR ") + ")")
        }
        if let end = search.end {
            conditions.append("r.start_time <= \(bind(end.timeIntervalSince1970))")
        }
        if let start = search.start {
            conditions.append("coalesce(r.end_time, r.start_time) >= \(bind(start.timeIntervalSince1970))")
        }
        var keySQL: [KeySQL] = []
        for key in keys { keySQL.append(sql(key.field)) }
        if let after = search.after, after.count == keys.count {
            // Strictly after the key: (k1 > v1) OR (k1 = v1 AND k2 > v2) OR …, each in its direction.
            var alternatives: [String] = []
            for i in keys.indices {
                var parts: [String] = []
                for j in 0..<i { parts.append(equals(keySQL[j], after[j])) }
                parts.append(self.after(keySQL[i], after[i], descending: keys[i].descending))
                alternatives.append("(" + parts.joined(separator: " AND ") + ")")
            }
            conditions.append("(" + alternatives.joined(separator: " OR ") + ")")
        }
        let selectedKeys = keySQL.enumerated().flatMap { selected($0.element, index: $0.offset) }
        let orderBy = zip(keys, keySQL).flatMap { order($1, descending: $0.descending) }
        let sql = """
            SELECT r.id, r.collection, r.owner, r.west, r.south, r.east, r.north, r.acquired, r.processed,
                   r.ingested, r.start_time, r.end_time,
                   \(search.withItems ? "r.item, r.assets" : "''::bytea AS item, '[]' AS assets"), r.day, r.folder,
                   \(selectedKeys.joined(separator: ", "))
            FROM records r
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY \(orderBy.joined(separator: ", "))
            LIMIT \(bind(Int64(max(search.limit, 0))))
            """
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }
}
