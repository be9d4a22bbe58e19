import EOShareCore
import EOShareEmbargo
import Foundation

/// What `eoshare status` tells an operator: how much each member sees, what was
/// quarantined and why, how the last runs went, and what opens up in the next 30 days.
public struct StatusReport: Sendable {
    public struct CollectionCount: Sendable {
        public var collection: String
        public var records: Int
        public var perViewer: [(viewer: String, items: Int)]
    }
    public struct Quarantined: Sendable {
        public var source: String
        public var object: String
        public var reason: String
        public var at: Date
    }
    public struct Run: Sendable {
        public var id: Int64
        public var started: Date
        public var finished: Date?
        public var at: Date
        /// ok, quarantined, failed, died or running.
        public var status: String
        public var summary: String?
        /// Why a failed or died run ended, kept in its summary.
        public var error: String? {
            summary.flatMap { try? JSONValue.parse(Array($0.utf8)) }?["error"]?.stringValue
        }
    }
    public struct Release: Sendable {
        public var record: String
        public var collection: String
        public var at: Date
        public var viewers: [String]
    }

    public var now: Date
    public var collections: [CollectionCount] = []
    public var quarantined: [Quarantined] = []
    public var runs: [Run] = []
    public var releases: [Release] = []
    /// Records whose rule's clock is unknown: only their owner sees them (fail closed).
    public var unknownClock: [String] = []
    /// Ingest workers with a heartbeat younger than a lease (a PostgreSQL state only).
    public var workers: [WorkQueue.Worker]?

    /// An empty report: nothing ingested yet.
    public init(now: Date) { self.now = now }

    /// Reads the state; `now` anchors "the next 30 days".
    public static func build(pipeline: Pipeline, state: any StateStore, now: Date) async throws -> StatusReport {
        var report = StatusReport(now: now)
        let engine = EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id))
        let horizon = now.addingTimeInterval(30 * 86_400)
        report.collections = try await state.collectionCounts()
        report.quarantined = try await state.recentQuarantine(limit: 50)
        report.runs = try await state.recentRuns(limit: 5)
        if let shared = state as? PostgresStateStore { report.workers = try await WorkQueue.live(shared.database) }
        try await state.forEachSubject { s in
            if let rule = engine.firstRule(for: s), engine.clock(rule.clock, s) == nil {
                report.unknownClock.append("\(s.collection)/\(s.id)")
            }
            for instant in engine.changeInstants(of: s) where instant > now && instant <= horizon {
                let opening = engine.viewers.filter {
                    engine.decide(s, for: $0, at: instant).visible
                        && !engine.decide(s, for: $0, at: instant.addingTimeInterval(-0.001)).visible
                }
                if !opening.isEmpty {
                    report.releases.append(
                        Release(record: s.id, collection: s.collection, at: instant, viewers: opening.map(\.folder))
                    )
                }
            }
        }
        report.releases.sort { ($0.at, $0.record) < ($1.at, $1.record) }
        return report
    }

    public var json: JSONValue {
        .object([
            "now": .string(Timestamp.format(now)),
            "collections": .array(
                collections.map { c in
                    var per = JSONObject()
                    for (v, n) in c.perViewer { per[v] = .int(Int64(n)) }
                    return .object([
                        "collection": .string(c.collection), "records": .int(Int64(c.records)),
                        "items_per_member": .object(per),
                    ])
                }
            ),
            "quarantined": .array(
                quarantined.map {
                    .object([
                        "source": .string($0.source), "object": .string($0.object), "reason": .string($0.reason),
                        "at": .string(Timestamp.format($0.at)),
                    ])
                }
            ),
            "runs": .array(
                runs.map {
                    .object([
                        "id": .int($0.id), "started": .string(Timestamp.format($0.started)),
                        "finished": $0.finished.map { .string(Timestamp.format($0)) } ?? .null,
                        "at": .string(Timestamp.format($0.at)), "status": .string($0.status),
                        "error": $0.error.map(JSONValue.string) ?? .null,
                        "summary": ($0.summary.flatMap { try? JSONValue.parse(Array($0.utf8)) }) ?? .null,
                    ])
                }
            ),
            "releases_next_30_days": .array(
                releases.map {
                    .object([
                        "record": .string($0.record), "collection": .string($0.collection),
                        "at": .string(Timestamp.format($0.at)), "members": .array($0.viewers.map(JSONValue.string)),
                    ])
                }
            ),
            "unknown_clock": .array(unknownClock.map(JSONValue.string)),
        ]).adding("workers", workers.map { .array($0.map(\.json)) })
    }

    public var text: String {
        var out = "Records and items per member:\n"
        for c in collections {
            out +=
                "  \(c.collection): \(c.records) records; "
                + c.perViewer.map { "\($0.viewer) \($0.items)" }.joined(separator: ", ") + "\n"
        }
        if collections.isEmpty { out += "  (none yet)\n" }
        out += "Last runs:\n"
        if runs.isEmpty { out += "  (none yet)\n" }
        for r in runs {
            out += "  #\(r.id) \(Timestamp.format(r.started)) at \(Timestamp.format(r.at)) \(r.status)"
            if let error = r.error { out += ": \(error)" }
            if let s = r.summary.flatMap({ try? JSONValue.parse(Array($0.utf8)) }),
                let counts = s.objectValue?.entries.filter({ $0.key != "error" }), !counts.isEmpty
            {
                out += " — " + counts.map { "\($0.key)=\($0.value.serializedString())" }.joined(separator: " ")
            }
            out += "\n"
        }
        if let workers {
            out += "Ingest workers (live):\n"
            if workers.isEmpty { out += "  (none)\n" }
            for w in workers {
                out += "  \(w.host) pid \(w.pid): last heartbeat \(Timestamp.format(w.heartbeat)), \(w.claims) claims\n"
            }
        }
        out += "Quarantined (latest \(quarantined.count)):\n"
        for q in quarantined { out += "  \(Timestamp.format(q.at)) \(q.object): \(q.reason)\n" }
        out += "Releases due by \(Timestamp.format(now.addingTimeInterval(30 * 86_400))):\n"
        for r in releases {
            out += "  \(Timestamp.format(r.at)) \(r.collection)/\(r.record) → \(r.viewers.joined(separator: ", "))\n"
        }
        if !unknownClock.isEmpty {
            out += "Records whose embargo clock is unknown (owner only):\n"
            for u in unknownClock { out += "  \(u)\n" }
        }
        return out
    }
}

extension WorkQueue.Worker {
    var json: JSONValue {
        .object([
            "host": .string(host), "pid": .int(Int64(pid)), "heartbeat": .string(Timestamp.format(heartbeat)),
            "claims": .int(Int64(claims)),
        ])
    }
}

extension JSONValue {
    /// The object with one more member, when there is a value for it.
    func adding(_ key: String, _ value: JSONValue?) -> JSONValue {
        guard let value, case .object(var o) = self else { return self }
        o[key] = value
        return .object(o)
    }
}
