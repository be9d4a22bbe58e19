import EOShareCore
import EOShareEmbargo
import Foundation
import GRDB

/// A search over the state's records, as the STAC API asks it: coarse filters the indexes
/// answer (collections, ids, a box, a time span), an order, and where the previous page
/// stopped. Deciding who may see a candidate is the caller's (the policy at the instant of
/// the request), so the candidates come in a stable order the caller can resume.
public struct RecordSearch: Sendable {
    /// A column or item property to order by.
    public enum Field: Sendable, Hashable {
        /// The item's `datetime` (or `start_datetime`).
        case datetime
        case endDatetime
        case id
        case collection
        /// A property of the item's `properties` (numbers and strings compare as SQLite does).
        case property(String)
    }

    public struct SortKey: Sendable, Hashable {
        public var field: Field
        public var descending: Bool

        public init(_ field: Field, descending: Bool = false) {
            self.field = field
            self.descending = descending
        }
    }

    /// A value of a sort key, as a page token keeps it.
    public enum KeyValue: Sendable, Hashable {
        case null
        case number(Double)
        case text(String)
    }

    public var collections: [String]?
    public var ids: [String]?
    /// [west, south, east, north]; west > east crosses the antimeridian.
    public var bbox: [Double]?
    /// Records whose time span overlaps [start, end] (either end open).
    public var start: Date?
    public var end: Date?
    /// The order; (collection, id) always follow, so the order is total.
    public var order: [SortKey] = [SortKey(.datetime, descending: true)]
    /// Resume strictly after this key (the values of `keys`, in order).
    public var after: [KeyValue]?
    public var limit: Int = 100
    /// Whether candidates carry their item and assets. Without them a search reads only the
    /// policy's facts and the keys, so a viewer who may see few of the candidates does not
    /// pay for reading every item (the API reads the visible ones' items afterwards).
    public var withItems = true

    public init() {}

    /// The order with its tie-breakers.
    public var keys: [SortKey] {
        var keys = order.filter { $0.field != .collection && $0.field != .id }
        let explicit = order.filter { $0.field == .collection || $0.field == .id }
        keys += explicit
        if !explicit.contains(where: { $0.field == .collection }) { keys.append(SortKey(.collection)) }
        if !explicit.contains(where: { $0.field == .id }) { keys.append(SortKey(.id)) }
        // (collection, id) is unique: keys after both decide nothing.
        if let c = keys.firstIndex(where: { $0.field == .collection }),
            let i = keys.firstIndex(where: { $0.field == .id })
        {
            keys = Array(keys[...max(c, i)])
        }
        return keys
    }
}

/// One candidate: the policy's facts, the item to serve and the key it sorts by.
public struct SearchCandidate: Sendable {
    public var subject: EmbargoSubject
    public var startTime: Date?
    public var endTime: Date?
    /// Compact JSON of the STAC item without links.
    public var item: [UInt8]
    public var assets: [StoredAsset]
    public var place: ItemPlace
    public var key: [RecordSearch.KeyValue]
}

/// A record's policy facts and its time span.
public struct TimedSubject: Sendable {
    public var subject: EmbargoSubject
    public var start: Date?
    public var end: Date?
}

extension SQLiteStateStore {
    /// A missing key sorts as the lowest value (SQLite's order of NULL), so a page token can
    /// always name where a page stopped.
    public func searchRecords(_ q: RecordSearch) async throws -> [SearchCandidate] {
        try await db.read { db in try Self.searchRecords(db, q) }
    }

    /// The SQL for a key: plain columns where an index can give the order.
    static func expression(_ field: RecordSearch.Field) -> String {
        switch field {
        case .datetime: return "r.start_time"
        case .endDatetime: return "coalesce(r.end_time, r.start_time)"
        case .id: return "r.id"
        case .collection: return "r.collection"
        case .property(let name):
            let quoted = name.replacingOccurrences(of: "\"", with: "\"\"").replacingOccurrences(of: "'", with: "''")
            return "json_extract(CAST(r.item AS TEXT), '$.properties.\"\(quoted)\"')"
        }
    }

    static func searchRecords(_ db: Database, _ q: RecordSearch) throws -> [SearchCandidate] {
        var conditions: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let collections = q.collections {
            conditions.append("r.collection IN (\(collections.map { _ in "?" }.joined(separator: ",")))")
            arguments += collections
        }
        if let ids = q.ids {
            conditions.append("r.id IN (\(ids.map { _ in "?" }.joined(separator: ",")))")
            arguments += ids
        }
        if let b = q.bbox, b.count == 4 {
            // The R*Tree answers with rowids; a box across the antimeridian asks twice.
            let spans: [(Double, Double)] = b[0] <= b[2] ? [(b[0], b[2])] : [(b[0], 180), (-180, b[2])]
            let parts = spans.map { _ in "(west <= ? AND east >= ? AND south <= ? AND north >= ?)" }
            conditions.append(
                "r.rowid IN (SELECT rid FROM records_rtree WHERE \(parts.joined(separator: " OR ")))"
            )
            for (w, e) in spans { arguments += [e, w, b[3], b[1]] }
        }
        if let end = q.end {
            conditions.append("r.start_time <= ?")
            arguments.append(end.timeIntervalSince1970)
        }
        if let start = q.start {
            conditions.append("coalesce(r.end_time, r.start_time) >= ?")
            arguments.append(start.timeIntervalSince1970)
        }
        let keys = q.keys
        let expressions = keys.map { expression($0.field) }
        if let after = q.after, after.count == keys.count {
            // Strictly after the key: (k1 > v1) OR (k1 = v1 AND k2 > v2) OR …, each in its
            // direction, NULL being the lowest value.
            var alternatives: [String] = []
            for i in keys.indices {
                var parts: [String] = []
                for j in 0..<i {
                    parts.append("\(expressions[j]) IS ?")
                    arguments.append(after[j].databaseValue)
                }
                let e = expressions[i]
                switch (keys[i].descending, after[i]) {
                case (false, .null): parts.append("\(e) IS NOT NULL")
                case (true, .null): parts.append("0")
                case (false, let v):
                    parts.append("\(e) > ?")
                    arguments.append(v.databaseValue)
                case (true, let v):
                    parts.append("(\(e) < ? OR \(e) IS NULL)")
                    arguments.append(v.databaseValue)
                }
                alternatives.append("(" + parts.joined(separator: " AND ") + ")")
            }
            conditions.append("(" + alternatives.joined(separator: " OR ") + ")")
        }
        let orderBy = zip(keys, expressions).map { "\($1) \($0.descending ? "DESC" : "ASC")" }
        let sql = """
            SELECT r.id, r.collection, r.owner, r.west, r.south, r.east, r.north, r.acquired, r.processed,
                   r.ingested, r.start_time, r.end_time, \(q.withItems ? "r.item, r.assets" : "X'', '[]'"),
                   r.day, r.folder, \(expressions.joined(separator: ", "))
            FROM records r
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY \(orderBy.joined(separator: ", "))
            LIMIT ?
            """
        arguments.append(q.limit)
        let rows = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(arguments.map { $0.databaseValue }))
        var out: [SearchCandidate] = []
        func date(_ v: Double?) -> Date? { v.map(Date.init(timeIntervalSince1970:)) }
        while let row = try rows.next() {
            var bbox: [Double]?
            if let w: Double = row[3], let s: Double = row[4], let e: Double = row[5], let n: Double = row[6] {
                bbox = [w, s, e, n]
            }
            let assets = StoredAsset.list(fromColumn: row[13])
            var key: [RecordSearch.KeyValue] = []
            for i in keys.indices {
                let value: DatabaseValue = row[16 + i]
                switch value.storage {
                case .int64(let n): key.append(.number(Double(n)))
                case .double(let d): key.append(.number(d))
                case .string(let s): key.append(.text(s))
                default: key.append(.null)
                }
            }
            let item: Data = row[12]
            out.append(
                SearchCandidate(
                    subject: EmbargoSubject(
                        id: row[0],
                        collection: row[1],
                        owner: row[2],
                        bbox: bbox,
                        acquired: date(row[7]),
                        processed: date(row[8]),
                        ingested: date(row[9])
                    ),
                    startTime: date(row[10]),
                    endTime: date(row[11]),
                    item: [UInt8](item),
                    assets: assets,
                    place: ItemPlace(day: row[14], folder: row[15]),
                    key: key
                )
            )
        }
        return out
    }
}

extension RecordSearch.KeyValue {
    var databaseValue: DatabaseValue {
        switch self {
        case .null: return .null
        case .number(let d): return d.databaseValue
        case .text(let s): return s.databaseValue
        }
    }
}

extension SQLiteStateStore {
    public func timedSubjectPage(after: RecordKey?, limit: Int) async throws -> [TimedSubject] {
        try await db.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, collection, owner, west, south, east, north, acquired, processed, ingested,
                           start_time, end_time
                    FROM records WHERE (collection, id) > (?, ?) ORDER BY collection, id LIMIT ?
                    """,
                arguments: [after?.collection ?? "", after?.id ?? "", limit]
            )
            func date(_ v: Double?) -> Date? { v.map(Date.init(timeIntervalSince1970:)) }
            return rows.map { row in
                var bbox: [Double]?
                if let w: Double = row[3], let s: Double = row[4], let e: Double = row[5], let n: Double = row[6] {
                    bbox = [w, s, e, n]
                }
                return TimedSubject(
                    subject: EmbargoSubject(
                        id: row[0],
                        collection: row[1],
                        owner: row[2],
                        bbox: bbox,
                        acquired: date(row[7]),
                        processed: date(row[8]),
                        ingested: date(row[9])
                    ),
                    start: date(row[10]),
                    end: date(row[11])
                )
            }
        }
    }
}
