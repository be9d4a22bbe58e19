import EOShare
import Foundation
import Synchronization

/// A collection's extent as one viewer sees it now.
struct ViewerExtent: Equatable, Sendable {
    var bbox: [Double]?
    var start: Date?
    var end: Date?
}

/// Collection extents per viewer, exact at the request's instant and computed once rather than
/// at every request.
///
/// An extent over all records would show the box and the times of records the viewer may not
/// see yet (the state's `extents` table is what the last ingest published, which lags a release
/// and outlives a new hold), so the extent is taken over the records the engine lets the viewer
/// see at the instant, and kept while nothing it depends on can have changed: the same policy
/// (the pipeline file's generation), the same records (the ledger's head moves with every
/// publish, retract and quarantine), and an instant before the first at which any record's
/// visibility to this viewer changes. Between those instants the visible set is constant, so
/// the kept extent is the one a scan would give.
final class ExtentCache: Sendable {
    struct Entry: Sendable {
        var generation: Int
        var ledger: LedgerAnchor
        var from: Date
        /// The first instant after `from` at which the viewer's visible set may differ.
        var until: Date?
        var extents: [String: ViewerExtent]

        func holds(generation: Int, ledger: LedgerAnchor, at t: Date) -> Bool {
            self.generation == generation && self.ledger.lines == ledger.lines && self.ledger.head == ledger.head
                && from <= t && until.map { t < $0 } ?? true
        }
    }

    private let entries = Mutex<[Viewer: Entry]>([:])
    private let computations = Atomic<Int>(0)

    /// How many times the extents were computed from the records (for the tests).
    var computationCount: Int { computations.load(ordering: .relaxed) }

    func extents(_ c: STACAPI.Context) async throws -> [String: ViewerExtent] {
        guard let state = c.state else { return [:] }
        let ledger = try await state.ledgerAnchor()
        let generation = c.snapshot.generation
        if let kept = entries.withLock({ $0[c.viewer] }), kept.holds(generation: generation, ledger: ledger, at: c.at) {
            return kept.extents
        }
        let entry = try await Self.compute(c, state, generation: generation, ledger: ledger)
        entries.withLock { $0[c.viewer] = entry }
        computations.add(1, ordering: .relaxed)
        return entry.extents
    }

    /// One pass over the records' policy facts: what the viewer sees now, and when that changes.
    static func compute(
        _ c: STACAPI.Context,
        _ state: any StateStore,
        generation: Int,
        ledger: LedgerAnchor
    ) async throws -> Entry {
        var out: [String: ViewerExtent] = [:]
        var until: Date?
        var after: RecordKey?
        let engine = c.snapshot.engine
        while true {
            let page = try await state.timedSubjectPage(after: after, limit: 5000)
            for timed in page {
                let visible = c.visible(timed.subject)
                // The first instant at which this viewer's decision on the record flips.
                for instant in engine.changeInstants(of: timed.subject) where instant > c.at {
                    if let u = until, instant >= u { break }
                    if engine.decide(timed.subject, for: c.viewer, at: instant).visible != visible {
                        until = instant
                        break
                    }
                }
                if visible { add(timed, to: &out) }
            }
            guard let last = page.last, page.count == 5000 else { break }
            after = RecordKey(collection: last.subject.collection, id: last.subject.id)
        }
        return Entry(generation: generation, ledger: ledger, from: c.at, until: until, extents: out)
    }

    static func add(_ timed: TimedSubject, to out: inout [String: ViewerExtent]) {
        let (s, start, end) = (timed.subject, timed.start, timed.end)
        var e = out[s.collection] ?? ViewerExtent()
        if let b = s.bbox, b.count == 4 {
            let old = e.bbox ?? b
            e.bbox = [min(old[0], b[0]), min(old[1], b[1]), max(old[2], b[2]), max(old[3], b[3])]
        }
        if let start { e.start = min(e.start ?? start, start) }
        if let end = end ?? start { e.end = max(e.end ?? end, end) }
        out[s.collection] = e
    }
}
