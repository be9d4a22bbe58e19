import EOShare
import Foundation

/// One page of a search, exact for the viewer: candidates come from the state in the
/// search's total order, each is decided by the embargo engine at the request's instant and
/// checked against the exact filters, and reading goes on until the page is full. A token is
/// the sort key where a page stopped, so a page never repeats or skips a visible record.
enum Paging {
    struct Page {
        var items: [(candidate: SearchCandidate, item: JSONValue?)] = []
        var next: PageToken?
        var prev: PageToken?
    }

    static func page(_ c: STACAPI.Context, _ p: SearchParameters) async throws -> Page {
        guard let state = c.state else { return Page() }
        var q = RecordSearch()
        q.collections = p.collections
        q.ids = p.ids
        q.bbox = p.bbox ?? p.intersects?.bounds.map { [$0.w, $0.s, $0.e, $0.n] }
        // The state keeps times finer than the items' milliseconds: the index is asked a
        // little wider, and the items' own times decide at the edges.
        q.start = p.datetime?.start.map { $0.addingTimeInterval(-Self.slack) }
        q.end = p.datetime?.end.map { $0.addingTimeInterval(Self.slack) }
        if !p.sortby.isEmpty { q.order = p.sortby }
        let keys = q.keys
        let backwards = p.token?.previous ?? false
        // Backwards, the page is read in the reverse order from the token and turned round.
        q.order = backwards ? keys.map { RecordSearch.SortKey($0.field, descending: !$0.descending) } : keys
        if let token = p.token {
            guard token.key.count == keys.count else { throw BadRequest(description: "token does not fit this sortby") }
            q.after = token.key
        }
        var page = Page()
        var more = false
        var chunk = min(p.limit + 1, 1000)
        // Candidates come without their items; only the visible ones' items are read.
        q.withItems = false
        reading: while true {
            q.limit = chunk
            let batch = try await state.searchRecords(q)
            let items = try await Self.items(of: batch.filter { c.visible($0.subject) }, state)
            for facts in batch {
                // Decided again on the facts read with the item: the record may have been
                // replaced between the two reads. The key stays the first read's (the token's).
                guard var candidate = items[RecordKey(collection: facts.subject.collection, id: facts.subject.id)],
                    c.visible(candidate.subject)
                else { continue }
                candidate.key = facts.key
                guard let item = try matches(candidate, p) else { continue }
                if page.items.count == p.limit {
                    more = true
                    break reading
                }
                page.items.append((candidate, item))
            }
            guard let last = batch.last, batch.count == chunk else { break }
            q.after = last.key
            chunk = min(chunk * 2, 2000)
        }
        if backwards { page.items.reverse() }
        let first = page.items.first?.candidate.key
        let last = page.items.last?.candidate.key
        if backwards {
            // The page the token came from follows this one.
            if let last { page.next = PageToken(previous: false, key: last) }
            if more, let first { page.prev = PageToken(previous: true, key: first) }
        } else {
            if more, let last { page.next = PageToken(previous: false, key: last) }
            if p.token != nil, let first { page.prev = PageToken(previous: true, key: first) }
        }
        return page
    }

    /// The visible candidates with their items, in one search by their ids. A record replaced
    /// or gone since the first search is simply not there.
    static func items(
        of visible: [SearchCandidate],
        _ state: any StateStore
    ) async throws -> [RecordKey: SearchCandidate] {
        guard !visible.isEmpty else { return [:] }
        var q = RecordSearch()
        q.ids = Array(Set(visible.map(\.subject.id)))
        let collections = Set(visible.map(\.subject.collection))
        q.collections = Array(collections)
        q.limit = q.ids!.count * collections.count
        var out: [RecordKey: SearchCandidate] = [:]
        for candidate in try await state.searchRecords(q) {
            out[RecordKey(collection: candidate.subject.collection, id: candidate.subject.id)] = candidate
        }
        return out
    }

    /// The exact checks the indexes only approximate: the box (the R*Tree rounds outwards),
    /// the geometry, and the filter. Returns the parsed item when they need it, `.null` when
    /// none did; nil when the candidate does not match.
    static func matches(_ r: SearchCandidate, _ p: SearchParameters) throws -> JSONValue?? {
        if let box = p.bbox {
            guard let rb = r.subject.bbox, BBox.intersects(box, rb) else { return nil }
        }
        var parsed: JSONValue?
        if let interval = p.datetime {
            guard var start = r.startTime, var end = r.endTime ?? r.startTime else { return nil }
            let edges = [interval.start, interval.end].compactMap { $0 }
            if edges.contains(where: {
                abs($0.timeIntervalSince(start)) <= slack || abs($0.timeIntervalSince(end)) <= slack
            }) {
                guard let item = try? JSONValue.parse(r.item), let span = itemSpan(item) else { return nil }
                (start, end) = span
                parsed = item
            }
            if let a = interval.start, end < a { return nil }
            if let b = interval.end, start > b { return nil }
        }
        guard p.intersects != nil || p.filter != nil else { return .some(parsed) }
        guard let item = parsed ?? (try? JSONValue.parse(r.item)) else { return nil }
        if let g = p.intersects {
            guard let geometry = item["geometry"], let footprint = try? Geometry.parse(geometry),
                footprint.intersects(g)
            else { return nil }
        }
        if let filter = p.filter {
            var withCollection = item
            if case .object(var o) = item {
                o["collection"] = .string(r.subject.collection)
                withCollection = .object(o)
            }
            guard filter.evaluate(withCollection) == true else { return nil }
        }
        return .some(item)
    }

    static let slack: TimeInterval = 0.002

    /// The item's time span as it states it: its datetime, or start_datetime to end_datetime.
    static func itemSpan(_ item: JSONValue) -> (Date, Date)? {
        let p = item["properties"]
        func instant(_ key: String) -> Date? { p?[key]?.stringValue.flatMap(Timestamp.parse) }
        let start = instant("start_datetime") ?? instant("datetime")
        let end = instant("end_datetime") ?? instant("datetime") ?? start
        guard let start, let end else { return nil }
        return (start, end)
    }
}
