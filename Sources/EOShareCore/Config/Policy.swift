import Foundation

/// The embargo policy of CONTRACT §4: rules, early releases and holds.
public struct EmbargoPolicy: Sendable {
    public var rules: [EmbargoRule] = []
    public var releases: [EarlyRelease] = []
    public var holds: [Hold] = []

    public init(rules: [EmbargoRule] = [], releases: [EarlyRelease] = [], holds: [Hold] = []) {
        self.rules = rules
        self.releases = releases
        self.holds = holds
    }
}

/// Which instant of a record an embargo period runs from.
public indirect enum EmbargoClock: Sendable, Hashable, CustomStringConvertible {
    case acquired
    case processed
    case ingested
    case earliest([EmbargoClock])
    case latest([EmbargoClock])

    public var description: String {
        switch self {
        case .acquired: return "acquired"
        case .processed: return "processed"
        case .ingested: return "ingested"
        case .earliest(let l): return "earliest(\(l.map(\.description).joined(separator: ", ")))"
        case .latest(let l): return "latest(\(l.map(\.description).joined(separator: ", ")))"
        }
    }
}

public struct EmbargoRule: Sendable {
    /// Position in the file (0-based), for explanations.
    public var index: Int
    public var owner: Glob?
    public var collection: Glob?
    public var clock: EmbargoClock
    /// All members see the record from clock + period; nil = never through this rule.
    public var period: ISODuration?
    /// Earlier access for named members.
    public var grants: [String: ISODuration]
    /// `public` sees it from clock + this; nil = never.
    public var publicAfter: ISODuration?

    public init(
        index: Int,
        owner: Glob? = nil,
        collection: Glob? = nil,
        clock: EmbargoClock,
        period: ISODuration?,
        grants: [String: ISODuration] = [:],
        publicAfter: ISODuration? = nil
    ) {
        self.index = index
        self.owner = owner
        self.collection = collection
        self.clock = clock
        self.period = period
        self.grants = grants
        self.publicAfter = publicAfter
    }
}

/// Who an early release opens a record to.
public enum Audience: Sendable, Hashable {
    case allMembers
    case member(String)
    case `public`
}

public struct EarlyRelease: Sendable {
    public var id: String
    public var reason: String
    public var effective: Date
    public var bbox: [Double]?
    /// Inclusive acquisition interval.
    public var acquired: ClosedRange<Date>?
    /// Collection globs; empty means any.
    public var collections: [Glob]
    public var to: [Audience]

    public init(
        id: String,
        reason: String,
        effective: Date,
        bbox: [Double]? = nil,
        acquired: ClosedRange<Date>? = nil,
        collections: [Glob] = [],
        to: [Audience]
    ) {
        self.id = id
        self.reason = reason
        self.effective = effective
        self.bbox = bbox
        self.acquired = acquired
        self.collections = collections
        self.to = to
    }
}

public struct Hold: Sendable {
    public var id: String
    public var records: [Glob]
    public var until: Date?
    public var reason: String

    public init(id: String, records: [Glob], until: Date? = nil, reason: String) {
        self.id = id
        self.records = records
        self.until = until
        self.reason = reason
    }
}

extension EmbargoPolicy {
    /// A canonical text of the policy and the member list: when it changes between runs,
    /// every known record is evaluated again (a longer period or a new hold retracts).
    public func fingerprint(members: [String]) -> String {
        var parts = ["members=" + members.joined(separator: ",")]
        for r in rules {
            let grants = r.grants.keys.sorted().map { "\($0):\(r.grants[$0]!)" }.joined(separator: ",")
            parts.append(
                "rule owner=\(r.owner?.description ?? "*") collection=\(r.collection?.description ?? "*") clock=\(r.clock) "
                    + "period=\(r.period?.description ?? "-") grants=\(grants) public=\(r.publicAfter?.description ?? "-")"
            )
        }
        for r in releases {
            let to = r.to.map { a -> String in
                switch a {
                case .allMembers: return "all"
                case .public: return "public"
                case .member(let m): return m
                }
            }
            parts.append(
                "release \(r.id) effective=\(r.effective.timeIntervalSince1970) bbox=\(r.bbox ?? []) "
                    + "acquired=\(r.acquired.map { "\($0.lowerBound.timeIntervalSince1970)/\($0.upperBound.timeIntervalSince1970)" } ?? "-") "
                    + "collections=\(r.collections.map(\.description)) to=\(to)"
            )
        }
        for h in holds {
            parts.append(
                "hold \(h.id) records=\(h.records.map(\.description)) until=\(h.until?.timeIntervalSince1970 ?? -1)"
            )
        }
        return Digest.sha256Hex(Array(parts.joined(separator: "\n").utf8))
    }
}
