import Foundation
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOShareEmbargo
@testable import EOShareFeedGeneration
@testable import EOShareFetch
@testable import EOShareNormalize
@testable import EOShareOperations
@testable import EOSharePublish
@testable import EOShareState
@testable import EOShareUnpack

/// Random policies × records × instants: the engine against a second, deliberately naive
/// evaluator written here from CONTRACT §4's words (Foundation's calendar for durations,
/// fnmatch for globs, no shortcuts).
@Suite struct EmbargoPropertyTests {
    // MARK: The naive evaluator

    /// §4.6: years and months as calendar steps in UTC clamped to month end, then the rest.
    static func naiveAdd(_ d: ISODuration, to date: Date) -> Date {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let months = d.years * 12 + d.months
        let stepped = months == 0 ? date : cal.date(byAdding: DateComponents(month: months), to: date)!
        let seconds =
            Double(d.weeks) * 7 * 86_400 + Double(d.days) * 86_400 + Double(d.hours) * 3_600
            + Double(d.minutes) * 60 + d.seconds
        return stepped.addingTimeInterval(seconds)
    }

    static func naiveGlob(_ g: Glob?, _ s: String) -> Bool {
        guard let g else { return true }
        return fnmatch(g.description, s, 0) == 0
    }

    static func naiveClock(_ c: EmbargoClock, _ r: EmbargoSubject) -> Date? {
        switch c {
        case .acquired: return r.acquired
        case .processed: return r.processed
        case .ingested: return r.ingested
        case .earliest(let l):
            let values = l.map { naiveClock($0, r) }
            return values.contains { $0 == nil } ? nil : values.compactMap { $0 }.min()
        case .latest(let l):
            let values = l.map { naiveClock($0, r) }
            return values.contains { $0 == nil } ? nil : values.compactMap { $0 }.max()
        }
    }

    static func naiveVisible(_ p: EmbargoPolicy, _ r: EmbargoSubject, member m: String?, at t: Date) -> Bool {
        // 1. The owner sees its own records.
        if let m, m == r.owner { return true }
        // 2. A hold matching r with t < until (or no until) hides r.
        for h in p.holds where h.records.contains(where: { naiveGlob($0, r.id) }) {
            if h.until == nil || t < h.until! { return false }
        }
        // 3. A matching, effective release that lists the viewer opens r.
        for rel in p.releases where t >= rel.effective {
            let listed = rel.to.contains { a in
                switch a {
                case .allMembers: return m != nil
                case .member(let id): return id == m
                case .public: return m == nil
                }
            }
            guard listed else { continue }
            if !rel.collections.isEmpty && !rel.collections.contains(where: { naiveGlob($0, r.collection) }) {
                continue
            }
            if let b = rel.bbox {
                guard let rb = r.bbox else { continue }
                if !(b[0] <= rb[2] && rb[0] <= b[2] && b[1] <= rb[3] && rb[1] <= b[3]) { continue }
            }
            if let i = rel.acquired {
                guard let a = r.acquired, a >= i.lowerBound, a <= i.upperBound else { continue }
            }
            return true
        }
        // 4–5. The first matching rule and its clock, else nobody.
        guard
            let rule = p.rules.first(where: { naiveGlob($0.owner, r.owner) && naiveGlob($0.collection, r.collection) }),
            let c = naiveClock(rule.clock, r)
        else { return false }
        if let m {
            if let period = rule.period, t >= naiveAdd(period, to: c) { return true }
            if let g = rule.grants[m], t >= naiveAdd(g, to: c) { return true }
            return false
        }
        guard let pub = rule.publicAfter else { return false }
        return t >= naiveAdd(pub, to: c)
    }

    // MARK: Random inputs

    static let members = ["NASA", "ESA", "JAXA", "CSA"]
    static let collections = ["landsat-c2-l2", "landsat-c2-l1", "sentinel-2-l2a"]

    struct Gen {
        var rng: SplitMix64
        mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
        mutating func pick<T>(_ a: [T]) -> T { a[int(0...a.count - 1)] }
        mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }

        mutating func duration() -> ISODuration {
            let forms = [
                "P\(int(0...400))D", "P\(int(0...18))M", "P\(int(0...3))Y", "P\(int(0...10))W", "PT\(int(0...72))H",
                "P\(int(0...2))Y\(int(0...11))M\(int(0...30))DT\(int(0...23))H",
            ]
            return try! ISODuration(parsing: pick(forms))
        }

        mutating func instant() -> Date {
            // 2023–2027, often on a month's last days or a leap day.
            let base = Timestamp.parse(
                pick([
                    "2024-01-31T23:00:00Z", "2024-02-29T12:00:00Z", "2025-03-31T00:00:00Z", "2026-08-31T06:30:00Z",
                    "2023-12-31T23:59:59Z",
                ])
            )!
            return base.addingTimeInterval(
                Double(int(-400...400)) * 86_400 * (chance(0.3) ? 0 : 1) + Double(int(0...86_399))
            )
        }

        mutating func glob(_ names: [String]) -> Glob? {
            switch int(0...4) {
            case 0: return nil
            case 1: return try! Glob(pick(names))
            case 2: return try! Glob("*")
            case 3: return try! Glob(String(pick(names).prefix(int(1...3))) + "*")
            default: return try! Glob("?" + String(pick(names).dropFirst()))
            }
        }

        mutating func clock(depth: Int = 0) -> EmbargoClock {
            switch int(0...(depth == 0 ? 4 : 2)) {
            case 0: return .acquired
            case 1: return .processed
            case 2: return .ingested
            case 3: return .earliest((0..<int(1...3)).map { _ in clock(depth: 1) })
            default: return .latest((0..<int(1...3)).map { _ in clock(depth: 1) })
            }
        }

        mutating func bbox() -> [Double] {
            let w = Double(int(-170...160))
            let s = Double(int(-80...70))
            return [w, s, w + Double(int(1...20)), s + Double(int(1...10))]
        }

        mutating func policy() -> EmbargoPolicy {
            var p = EmbargoPolicy()
            for i in 0..<int(0...3) {
                var grants: [String: ISODuration] = [:]
                for m in EmbargoPropertyTests.members where chance(0.3) { grants[m] = duration() }
                p.rules.append(
                    EmbargoRule(
                        index: i,
                        owner: glob(EmbargoPropertyTests.members),
                        collection: glob(EmbargoPropertyTests.collections),
                        clock: clock(),
                        period: chance(0.8) ? duration() : nil,
                        grants: grants,
                        publicAfter: chance(0.6) ? duration() : nil
                    )
                )
            }
            for i in 0..<int(0...2) {
                let a = instant()
                var to: [Audience] = []
                if chance(0.4) { to.append(.allMembers) }
                if chance(0.4) { to.append(.public) }
                if to.isEmpty || chance(0.3) { to.append(.member(pick(EmbargoPropertyTests.members))) }
                p.releases.append(
                    EarlyRelease(
                        id: "r\(i)",
                        reason: "",
                        effective: instant(),
                        bbox: chance(0.5) ? bbox() : nil,
                        acquired: chance(0.5) ? a...a.addingTimeInterval(Double(int(0...90)) * 86_400) : nil,
                        collections: chance(0.5) ? [glob(EmbargoPropertyTests.collections) ?? Glob.any] : [],
                        to: to
                    )
                )
            }
            for i in 0..<int(0...2) {
                p.holds.append(
                    Hold(
                        id: "h\(i)",
                        records: [try! Glob(pick(["LC08_*", "*_2024*", "S2?_*", "*"]))],
                        until: chance(0.7) ? instant() : nil,
                        reason: ""
                    )
                )
            }
            return p
        }

        mutating func record() -> EmbargoSubject {
            let acquired = chance(0.9) ? instant() : nil
            return EmbargoSubject(
                id: pick(["LC08_L2SP_047027_2024", "LC09_L2SP_001001_2025", "S2A_MSIL2A_2024", "S2B_X_2026"])
                    + "_\(int(0...99))",
                collection: pick(EmbargoPropertyTests.collections),
                owner: pick(EmbargoPropertyTests.members),
                bbox: chance(0.8) ? bbox() : nil,
                acquired: acquired,
                processed: chance(0.7) ? acquired?.addingTimeInterval(Double(int(0...40)) * 86_400) : nil,
                ingested: chance(0.9) ? instant() : nil
            )
        }
    }

    @Test(arguments: 0..<8)
    func engineAgreesWithTheNaiveReading(seed: Int) {
        var g = Gen(rng: SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9 &+ 1))
        var checked = 0
        for _ in 0..<400 {
            let policy = g.policy()
            let engine = EmbargoEngine(policy: policy, members: Self.members)
            for _ in 0..<6 {
                let r = g.record()
                // Random instants, and every change instant the engine names ± 1 ms (the boundaries).
                var instants = (0..<4).map { _ in g.instant() }
                for c in engine.changeInstants(of: r) {
                    instants += [c, c.addingTimeInterval(-0.001), c.addingTimeInterval(0.001)]
                }
                for t in instants {
                    for viewer in engine.viewers {
                        let member: String? = if case .member(let m) = viewer { m } else { nil }
                        let expected = Self.naiveVisible(policy, r, member: member, at: t)
                        let got = engine.decide(r, for: viewer, at: t)
                        checked += 1
                        if got.visible != expected {
                            Issue.record(
                                "\(viewer) \(r) at \(Timestamp.format(t)): engine \(got.visible) (\(got.reason)), naive \(expected)"
                            )
                            return
                        }
                    }
                }
                // Between consecutive change instants nothing changes.
                let cs = engine.changeInstants(of: r)
                for (a, b) in zip(cs, cs.dropFirst()) where b.timeIntervalSince(a) > 0.01 {
                    let mid = a.addingTimeInterval(b.timeIntervalSince(a) / 2)
                    for viewer in engine.viewers {
                        #expect(
                            engine.decide(r, for: viewer, at: a).visible
                                == engine.decide(r, for: viewer, at: mid).visible
                        )
                    }
                }
            }
        }
        #expect(checked > 10_000)
    }

    @Test func offsetsInThePipelineFileAreTheSameInstants() throws {
        let yaml = """
            version: 1
            members: [{id: NASA}, {id: ESA}]
            collections: [{id: c}]
            sources: []
            embargo:
              rules: [{clock: acquired, period: P1D}]
              releases:
                - {id: r, effective: "2026-09-02T02:00:00+02:00", to: [all]}
              holds:
                - {id: h, records: ["X*"], until: "2026-09-01T19:00:00-05:00"}
            """
        let p = try Pipeline.parse(yaml, file: URL(fileURLWithPath: "/tmp/offsets.yml"))
        let e = EmbargoEngine(policy: p.policy, members: ["NASA", "ESA"])
        let r = EmbargoSubject(
            id: "X1",
            collection: "c",
            owner: "NASA",
            bbox: nil,
            acquired: Timestamp.parse("2030-01-01T00:00:00Z"),
            processed: nil,
            ingested: nil
        )
        // Hold until 2026-09-02T00:00Z; release effective at the same instant.
        #expect(!e.decide(r, for: .member("ESA"), at: Timestamp.parse("2026-09-01T23:59:59.999Z")!).visible)
        #expect(
            e.decide(r, for: .member("ESA"), at: Timestamp.parse("2026-09-02T00:00:00Z")!).reason == .release(id: "r")
        )
    }
}
