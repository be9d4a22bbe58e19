import Foundation
import PostgresNIO
import Testing

@testable import EOShareCore
@testable import EOShareState

/// The STAC API's reads (`searchRecords`, `timedSubjectPage`) on both states by one test body,
/// against an oracle written here from their documented meaning: boxes (one across the
/// antimeridian, one that is no box), open and closed time spans, ids, collections, every kind
/// of sort key (NULL lowest, numbers before text, text in byte order), and keyset pages that
/// resume after a key without repeating or skipping anything.
@Suite struct SearchContractTests {
    typealias Kind = StateStoreContractTests.Kind
    static let t0 = StateStoreContractTests.t0

    struct Spec {
        var id: String
        var collection = "c1"
        var box: [Double]?
        var start: Double?
        var end: Double?
        /// The item's `eo:cloud_cover` as JSON text, nil: absent.
        var cover: String?
    }

    static let specs: [Spec] = [
        Spec(id: "a", box: [0, 0, 10, 10], start: 0, cover: "10"),
        Spec(id: "b", box: [170, -5, -170, 5], start: 100, end: 200, cover: "50.5"),
        Spec(id: "c", box: [-20, -20, -15, -15], cover: nil),
        Spec(id: "d", start: 50, cover: #""n/a""#),
        Spec(id: "e", collection: "c2", box: [5, 5, 6, 6], start: 100, cover: "10"),
        Spec(id: "f", box: [-179, 10, -175, 12], start: -100, end: 1000, cover: "true"),
        Spec(id: "g", box: [9, 9, 12, 12], start: 300, cover: "30"),
        Spec(id: "h", box: [0, 5, 1, 4], start: 0, cover: "null"),
        Spec(id: "a", collection: "c2", box: [1, 1, 2, 2], start: 0, cover: #""m""#),
        Spec(id: "B", box: [3, 3, 4, 4], start: 100, cover: "2"),
    ]

    static func record(_ s: Spec) -> StoredRecord {
        var r = StateStoreContractTests.record(
            s.id,
            collection: s.collection,
            start: s.start.map { t0.addingTimeInterval($0) },
            bbox: s.box
        )
        r.endTime = s.end.map { t0.addingTimeInterval($0) }
        let properties = s.cover.map { #"{"eo:cloud_cover":\#($0),"platform":"x"}"# } ?? #"{"platform":"x"}"#
        r.item = Array(#"{"id":"\#(s.id)","properties":\#(properties)}"#.utf8)
        return r
    }

    static func filled(_ kind: Kind) async throws -> any StateStore {
        let store = try await StateStoreContractTests.store(kind)
        try await store.begin(specs.map { Intent(record: record($0), publishing: [], retracting: []) }, at: t0)
        return store
    }

    // MARK: The oracle

    static func value(_ s: Spec, _ field: RecordSearch.Field) -> RecordSearch.KeyValue {
        func instant(_ v: Double?) -> RecordSearch.KeyValue {
            v.map { .number(t0.addingTimeInterval($0).timeIntervalSince1970) } ?? .null
        }
        switch field {
        case .datetime: return instant(s.start)
        case .endDatetime: return instant(s.end ?? s.start)
        case .id: return .text(s.id)
        case .collection: return .text(s.collection)
        case .property:
            switch s.cover {
            case nil, "null": return .null
            case "true": return .number(1)
            case let c? where c.hasPrefix("\""): return .text(String(c.dropFirst().dropLast()))
            case let c?: return .number(Double(c)!)
            }
        }
    }

    /// NULL, then numbers, then text by its bytes.
    static func less(_ a: RecordSearch.KeyValue, _ b: RecordSearch.KeyValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return false
        case (.null, _): return true
        case (_, .null): return false
        case (.number(let x), .number(let y)): return x < y
        case (.number, .text): return true
        case (.text, .number): return false
        case (.text(let x), .text(let y)): return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8))
        }
    }

    static func expected(_ q: RecordSearch) -> [String] {
        let t = { (v: Double?) in v.map { t0.addingTimeInterval($0) } }
        let matching = specs.filter { s in
            if let c = q.collections, !c.contains(s.collection) { return false }
            if let ids = q.ids, !ids.contains(s.id) { return false }
            if let b = q.bbox {
                guard let r = s.box, r[1] <= r[3] else { return false }
                let (w, e) = r[0] <= r[2] ? (r[0], r[2]) : (-180, 180)
                let spans: [(Double, Double)] = b[0] <= b[2] ? [(b[0], b[2])] : [(b[0], 180), (-180, b[2])]
                guard spans.contains(where: { w <= $0.1 && e >= $0.0 && r[1] <= b[3] && r[3] >= b[1] }) else {
                    return false
                }
            }
            if let end = q.end { guard let start = t(s.start), start <= end else { return false } }
            if let start = q.start { guard let last = t(s.end ?? s.start), last >= start else { return false } }
            return true
        }
        let keys = q.keys
        return matching.sorted { x, y in
            for k in keys {
                let (a, b) = (value(x, k.field), value(y, k.field))
                if a == b { continue }
                return k.descending ? less(b, a) : less(a, b)
            }
            return false
        }.map { "\($0.collection)/\($0.id)" }
    }

    static var searches: [(String, RecordSearch)] {
        func search(_ body: (inout RecordSearch) -> Void) -> RecordSearch {
            var q = RecordSearch()
            body(&q)
            return q
        }
        return [
            ("everything, newest first", RecordSearch()),
            ("a box across the antimeridian", search { $0.bbox = [160, -10, -160, 10] }),
            ("a box", search { $0.bbox = [-1, -1, 7, 7] }),
            (
                "a closed time span",
                search {
                    $0.start = t0.addingTimeInterval(60)
                    $0.end = t0.addingTimeInterval(250)
                }
            ),
            ("a span open at its end", search { $0.start = t0.addingTimeInterval(150) }),
            ("a span open at its start", search { $0.end = t0.addingTimeInterval(50) }),
            (
                "ids in a collection",
                search {
                    $0.ids = ["a", "c", "e"]
                    $0.collections = ["c1"]
                }
            ),
            ("a property, ascending", search { $0.order = [.init(.property("eo:cloud_cover"))] }),
            (
                "a property, descending, then datetime",
                search { $0.order = [.init(.property("eo:cloud_cover"), descending: true), .init(.datetime)] }
            ),
            ("oldest first", search { $0.order = [.init(.datetime)] }),
            (
                "end time, then id descending",
                search { $0.order = [.init(.endDatetime), .init(.id, descending: true)] }
            ),
            (
                "a box and a span, by collection descending",
                search {
                    $0.bbox = [-180, -90, 180, 90]
                    $0.start = t0
                    $0.order = [.init(.collection, descending: true)]
                }
            ),
        ]
    }

    static func label(_ c: SearchCandidate) -> String { "\(c.subject.collection)/\(c.subject.id)" }

    @Test(arguments: StateStoreContractTests.kinds)
    func searchesGiveTheOraclesRecordsInItsOrderPageByPage(_ kind: Kind) async throws {
        let store = try await Self.filled(kind)
        for (name, q) in Self.searches {
            let want = Self.expected(q)
            let all = try await store.searchRecords(q)
            #expect(all.map(Self.label) == want, "\(kind): \(name)")
            // Each candidate's key is its sort key's values.
            for c in all {
                let spec = try #require(Self.specs.first { "\($0.collection)/\($0.id)" == Self.label(c) })
                #expect(c.key == q.keys.map { Self.value(spec, $0.field) }, "\(kind): \(name): key of \(Self.label(c))")
            }
            // Two at a time, each page after the last key of the one before.
            var paged: [String] = []
            var page = q
            page.limit = 2
            while true {
                let batch = try await store.searchRecords(page)
                paged += batch.map(Self.label)
                guard let last = batch.last, batch.count == 2, paged.count <= want.count else { break }
                page.after = last.key
            }
            #expect(paged == want, "\(kind): \(name), in pages of 2")
        }
    }

    @Test(arguments: StateStoreContractTests.kinds)
    func aCandidateCarriesItsItemAssetsPlaceAndPolicyFacts(_ kind: Kind) async throws {
        let store = try await Self.filled(kind)
        var q = RecordSearch()
        q.ids = ["b"]
        let b = try #require(try await store.searchRecords(q).first)
        let want = Self.record(Self.specs[1])
        #expect(b.subject == want.subject && b.item == want.item && b.assets == want.assets)
        #expect(b.startTime == want.startTime && b.endTime == want.endTime && b.place == want.place)
        // The policy's facts of every record, page by page in (collection, id) byte order.
        var timed: [TimedSubject] = []
        var after: RecordKey?
        while true {
            let page = try await store.timedSubjectPage(after: after, limit: 3)
            timed += page
            guard let last = page.last, page.count == 3 else { break }
            after = RecordKey(collection: last.subject.collection, id: last.subject.id)
        }
        #expect(
            timed.map { "\($0.subject.collection)/\($0.subject.id)" }
                == ["c1/B", "c1/a", "c1/b", "c1/c", "c1/d", "c1/f", "c1/g", "c1/h", "c2/a", "c2/e"]
        )
        let f = try #require(timed.first { $0.subject.id == "f" })
        #expect(f.start == Self.t0.addingTimeInterval(-100) && f.end == Self.t0.addingTimeInterval(1000))
    }

    /// The indexes answer a bbox + datetime search on PostgreSQL, not a scan of the table.
    /// On 20,000 records, `EXPLAIN` of the server's usual search (newest first, 101 rows, a box
    /// of 8° × 7° and 30 days) reads (PostgreSQL 15):
    ///
    ///     Limit  (cost=235.58..235.63 rows=21 width=133)
    ///       ->  Sort  (cost=235.58..235.63 rows=21 width=133)
    ///             Sort Key: start_time DESC NULLS LAST, collection COLLATE "C", id COLLATE "C"
    ///             ->  Bitmap Heap Scan on records r  (cost=148.45..235.12 rows=21 width=133)
    ///                   Recheck Cond: ((search_box && '(12,52),(4,45)'::box)
    ///                                  AND (start_time <= '1707776000'::double precision))
    ///                   Filter: (COALESCE(end_time, start_time) >= '1705184000'::double precision)
    ///                   ->  BitmapAnd  (cost=148.45..148.45 rows=26 width=0)
    ///                         ->  Bitmap Index Scan on records_search_box  (cost=0.00..5.03 rows=100 width=0)
    ///                               Index Cond: (search_box && '(12,52),(4,45)'::box)
    ///                         ->  Bitmap Index Scan on records_start_time  (cost=0.00..143.17 rows=5184 width=0)
    ///                               Index Cond: (start_time <= '1707776000'::double precision)
    ///
    /// and the whole globe over 200 days a `Bitmap Index Scan on records_search_box` too.
    @Test(.enabled(if: TestPostgres.enabled)) func aBoxAndTimeSearchUsesTheIndexes() async throws {
        let url = try await TestPostgres.freshDatabase("explain")
        let store = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        // 20,000 records spread over the globe and a year, written as the state writes them.
        _ = try await TestPostgres.query(
            url,
            """
            INSERT INTO records (collection, id, owner, source, object_url, start_time, end_time, acquired,
                                 ingested, west, south, east, north, item, assets, updated_at, day, folder)
            SELECT 'c', 'r' || n, 'NASA', 's', 'http://h/' || n, 1.7e9 + n * 1500, NULL, 1.7e9 + n * 1500,
                   1.7e9, x, y, x + 1.5, y + 1.5, convert_to('{"id":"r' || n || '"}', 'UTF8'), '[]', 1.7e9,
                   'undated', 'r' || n
            FROM (SELECT n, ((n * 7919) % 357) - 179.0 AS x, ((n * 104729) % 175) - 88.0 AS y
                  FROM generate_series(1, 20000) AS n) AS g
            """
        )
        _ = try await TestPostgres.query(url, "ANALYZE records")
        var plans: [String] = []
        for (box, days) in [([4.0, 45, 12, 52], 30.0), ([-180.0, -90, 180, 90], 200.0)] {
            var q = RecordSearch()
            q.bbox = box
            q.start = Date(timeIntervalSince1970: 1.7e9 + 60 * 86_400)
            q.end = q.start!.addingTimeInterval(days * 86_400)
            q.limit = 101
            var builder = PostgresSearchQuery(q)
            var query = builder.postgresQuery()
            query.sql = "EXPLAIN " + query.sql
            let plan = try await store.database.read { s in
                try await s.execute(query).map { try $0.string("QUERY PLAN") }
            }.joined(separator: "\n")
            plans.append(plan)
            #expect(!plan.contains("Seq Scan"), "a scan of the table:\n\(plan)")
            #expect(plan.contains("records_search_box") || plan.contains("records_start_time"), "\(plan)")
        }
        // The narrow box is found through the GiST index on the boxes.
        #expect(plans[0].contains("records_search_box"), "\(plans[0])")
        await store.close()
    }
}
