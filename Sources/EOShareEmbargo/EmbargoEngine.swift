import EOShareCore
import Foundation

/// Who looks at the shared directories: a member, or the public tree.
public enum Viewer: Sendable, Hashable, CustomStringConvertible {
    case member(String)
    case `public`

    /// The folder name under SHARED.
    public var folder: String {
        switch self {
        case .member(let id): return id
        case .public: return "public"
        }
    }

    public var description: String { folder }

    /// The viewer a folder under SHARED belongs to.
    public init(folder: String) {
        self = folder == "public" ? .public : .member(folder)
    }
}

/// The facts about a record that the policy looks at (no payload, no STAC): cheap to
/// load from the state for every known record.
public struct EmbargoSubject: Sendable, Hashable {
    public var id: String
    public var collection: String
    public var owner: String
    public var bbox: [Double]?
    public var acquired: Date?
    public var processed: Date?
    /// When this pipeline first published the record (nil before its first publication).
    public var ingested: Date?

    public init(
        id: String,
        collection: String,
        owner: String,
        bbox: [Double]?,
        acquired: Date?,
        processed: Date?,
        ingested: Date?
    ) {
        self.id = id
        self.collection = collection
        self.owner = owner
        self.bbox = bbox
        self.acquired = acquired
        self.processed = processed
        self.ingested = ingested
    }
}

/// What decided a viewer's access, for `explain` and the ledger.
public enum DecisionReason: Sendable, Hashable, CustomStringConvertible {
    case owner
    case hold(id: String, until: Date?)
    case release(id: String)
    /// Rule `rule` opens the record to the viewer at `opensAt` via `via` (period, grant or public).
    case rule(rule: Int, via: String, opensAt: Date)
    /// Rule `rule` matched but never opens the record to this viewer.
    case ruleNever(rule: Int)
    case noRule
    case clockUnknown(rule: Int, clock: EmbargoClock)

    public var description: String {
        switch self {
        case .owner: return "owner"
        case .hold(let id, let until): return "hold \(id)" + (until.map { " until \(Timestamp.format($0))" } ?? "")
        case .release(let id): return "release \(id)"
        case .rule(let r, let via, let at): return "rule #\(r + 1) \(via) from \(Timestamp.format(at))"
        case .ruleNever(let r): return "rule #\(r + 1) gives no access"
        case .noRule: return "no rule matches (fail closed)"
        case .clockUnknown(let r, let clock): return "rule #\(r + 1): clock \(clock) unknown (fail closed)"
        }
    }
}

public struct Decision: Sendable, Hashable {
    public var visible: Bool
    public var reason: DecisionReason
}

/// The embargo of CONTRACT §4 as a pure function of (policy, record, viewer, instant).
public struct EmbargoEngine: Sendable {
    public let policy: EmbargoPolicy
    public let members: [String]

    public init(policy: EmbargoPolicy, members: [String]) {
        self.policy = policy
        self.members = members
    }

    /// Every viewer the shared directories have: each member, then `public`.
    public var viewers: [Viewer] { members.map(Viewer.member) + [.public] }

    public func decide(_ r: EmbargoSubject, for viewer: Viewer, at t: Date) -> Decision {
        // 1. The owner sees its own records, always.
        if case .member(let m) = viewer, m == r.owner { return Decision(visible: true, reason: .owner) }
        // 2. Holds beat everything else.
        for hold in policy.holds where hold.records.contains(where: { $0.matches(r.id) }) {
            if let until = hold.until, t >= until { continue }
            return Decision(visible: false, reason: .hold(id: hold.id, until: hold.until))
        }
        // 3. Early releases.
        for release in policy.releases where t >= release.effective && opens(release, to: viewer) {
            if matches(release, r) { return Decision(visible: true, reason: .release(id: release.id)) }
        }
        // 4–5. The first matching rule and its clock; fail closed when either is missing.
        guard let rule = firstRule(for: r) else { return Decision(visible: false, reason: .noRule) }
        guard let c = clock(rule.clock, r) else {
            return Decision(visible: false, reason: .clockUnknown(rule: rule.index, clock: rule.clock))
        }
        guard let (opensAt, via) = opening(rule, clockValue: c, for: viewer) else {
            return Decision(visible: false, reason: .ruleNever(rule: rule.index))
        }
        return Decision(visible: t >= opensAt, reason: .rule(rule: rule.index, via: via, opensAt: opensAt))
    }

    /// The viewers that may see `r` at `t`.
    public func audience(of r: EmbargoSubject, at t: Date) -> [Viewer] {
        viewers.filter { decide(r, for: $0, at: t).visible }
    }

    /// Every instant at which some viewer's access to `r` may change, sorted. Between two of
    /// them every decision stays the same, so a record needs a second look only then.
    public func changeInstants(of r: EmbargoSubject) -> [Date] {
        var out: [Date] = []
        for hold in policy.holds where hold.records.contains(where: { $0.matches(r.id) }) {
            if let until = hold.until { out.append(until) }
        }
        for release in policy.releases where matches(release, r) { out.append(release.effective) }
        if let rule = firstRule(for: r), let c = clock(rule.clock, r) {
            for viewer in viewers {
                if let (at, _) = opening(rule, clockValue: c, for: viewer) { out.append(at) }
            }
        }
        return Array(Set(out)).sorted()
    }

    /// The first change instant strictly after `t`, if any.
    public func nextChange(of r: EmbargoSubject, after t: Date) -> Date? {
        changeInstants(of: r).first { $0 > t }
    }

    // MARK: Parts

    public func firstRule(for r: EmbargoSubject) -> EmbargoRule? {
        policy.rules.first { rule in
            (rule.owner?.matches(r.owner) ?? true) && (rule.collection?.matches(r.collection) ?? true)
        }
    }

    public func clock(_ clock: EmbargoClock, _ r: EmbargoSubject) -> Date? {
        switch clock {
        case .acquired: return r.acquired
        case .processed: return r.processed
        case .ingested: return r.ingested
        case .earliest(let list):
            var best: Date?
            for c in list {
                guard let v = self.clock(c, r) else { return nil }
                best = min(best ?? v, v)
            }
            return best
        case .latest(let list):
            var best: Date?
            for c in list {
                guard let v = self.clock(c, r) else { return nil }
                best = max(best ?? v, v)
            }
            return best
        }
    }

    /// When the rule opens the record to the viewer, and through what; nil if never.
    package func opening(_ rule: EmbargoRule, clockValue c: Date, for viewer: Viewer) -> (Date, String)? {
        switch viewer {
        case .public:
            return rule.publicAfter.map { ($0.added(to: c), "public \($0)") }
        case .member(let m):
            let general = rule.period.map { ($0.added(to: c), "period \($0)") }
            let grant = rule.grants[m].map { ($0.added(to: c), "grant \(m) \($0)") }
            switch (general, grant) {
            case (nil, nil): return nil
            case (let g?, nil): return g
            case (nil, let g?): return g
            case (let a?, let b?): return b.0 < a.0 ? b : a
            }
        }
    }

    package func opens(_ release: EarlyRelease, to viewer: Viewer) -> Bool {
        release.to.contains { audience in
            switch (audience, viewer) {
            case (.allMembers, .member): return true
            case (.member(let id), .member(let m)): return id == m
            case (.public, .public): return true
            default: return false
            }
        }
    }

    package func matches(_ release: EarlyRelease, _ r: EmbargoSubject) -> Bool {
        if !release.collections.isEmpty, !release.collections.contains(where: { $0.matches(r.collection) }) {
            return false
        }
        if let box = release.bbox {
            guard let rb = r.bbox, rb.count >= 4 else { return false }
            let (w, s, e, n) = rb.count == 6 ? (rb[0], rb[1], rb[3], rb[4]) : (rb[0], rb[1], rb[2], rb[3])
            guard BBox.intersects(box, [w, s, e, n]) else { return false }
        }
        if let interval = release.acquired {
            guard let a = r.acquired, interval.contains(a) else { return false }
        }
        return true
    }
}

package enum BBox {
    /// Whether two [w, s, e, n] boxes intersect (touching counts); a box with w > e crosses
    /// the antimeridian and is split in two.
    package static func intersects(_ a: [Double], _ b: [Double]) -> Bool {
        func parts(_ x: [Double]) -> [(Double, Double)] {
            x[0] <= x[2] ? [(x[0], x[2])] : [(x[0], 180), (-180, x[2])]
        }
        guard a[1] <= b[3], b[1] <= a[3] else { return false }
        for (aw, ae) in parts(a) {
            for (bw, be) in parts(b) where aw <= be && bw <= ae { return true }
        }
        return false
    }
}

extension EmbargoEngine {
    /// The interval around `t` during which the viewer's access stays what it is at `t`:
    /// `since` is the last change at or before `t` (nil: always so), `until` the next one.
    public func window(_ r: EmbargoSubject, for viewer: Viewer, at t: Date) -> (since: Date?, until: Date?) {
        let now = decide(r, for: viewer, at: t).visible
        var since: Date?
        var until: Date?
        for p in changeInstants(of: r) {
            let before = decide(r, for: viewer, at: p.addingTimeInterval(-0.001)).visible
            let after = decide(r, for: viewer, at: p).visible
            guard before != after else { continue }
            if p <= t {
                since = p
            } else if until == nil, after != now {
                until = p
            }
        }
        return (since, until)
    }
}
