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

/// CONTRACT §4 decisions at and around their boundaries.
@Suite struct EmbargoEngineTests {
    static func t(_ s: String) -> Date { Timestamp.parse(s)! }
    static func d(_ s: String) -> ISODuration { try! ISODuration(parsing: s) }

    static let members = ["NASA", "ESA", "JAXA", "CSA"]

    static func subject(
        id: String = "LC08_L2SP_047027_20260105_02_T1",
        owner: String = "NASA",
        collection: String = "landsat-c2-l2",
        acquired: String? = "2026-01-05T10:00:00Z",
        processed: String? = nil,
        ingested: String? = "2026-01-06T00:00:00Z",
        bbox: [Double]? = [10, 46, 12, 48]
    ) -> EmbargoSubject {
        EmbargoSubject(
            id: id,
            collection: collection,
            owner: owner,
            bbox: bbox,
            acquired: acquired.map(t),
            processed: processed.map(t),
            ingested: ingested.map(t)
        )
    }

    static let rule = EmbargoRule(
        index: 0,
        owner: try! Glob("NASA"),
        collection: try! Glob("landsat-*"),
        clock: .acquired,
        period: d("P30D"),
        grants: ["ESA": d("P7D"), "JAXA": d("P0D")],
        publicAfter: d("P1Y")
    )

    static func engine(_ policy: EmbargoPolicy) -> EmbargoEngine { EmbargoEngine(policy: policy, members: members) }

    @Test func ownerAlwaysSeesOwnRecords() {
        let e = Self.engine(EmbargoPolicy(holds: [Hold(id: "h", records: [try! Glob("*")], reason: "")]))
        #expect(e.decide(Self.subject(), for: .member("NASA"), at: Self.t("2000-01-01T00:00:00Z")).visible)
    }

    @Test func periodBoundaryIsInclusive() {
        let e = Self.engine(EmbargoPolicy(rules: [Self.rule]))
        let s = Self.subject()
        #expect(!e.decide(s, for: .member("CSA"), at: Self.t("2026-02-04T09:59:59.999Z")).visible)
        #expect(e.decide(s, for: .member("CSA"), at: Self.t("2026-02-04T10:00:00Z")).visible)
        #expect(e.decide(s, for: .member("CSA"), at: Self.t("2026-02-04T10:00:01Z")).visible)
    }

    @Test func grantsOpenEarlierForNamedMembersOnly() {
        let e = Self.engine(EmbargoPolicy(rules: [Self.rule]))
        let s = Self.subject()
        #expect(e.decide(s, for: .member("JAXA"), at: Self.t("2026-01-05T10:00:00Z")).visible)
        #expect(!e.decide(s, for: .member("JAXA"), at: Self.t("2026-01-05T09:59:59Z")).visible)
        #expect(e.decide(s, for: .member("ESA"), at: Self.t("2026-01-12T10:00:00Z")).visible)
        #expect(!e.decide(s, for: .member("CSA"), at: Self.t("2026-01-12T10:00:00Z")).visible)
    }

    @Test func publicOnlyWithPublicDurationAndCalendarYear() {
        let s = Self.subject()
        let e = Self.engine(EmbargoPolicy(rules: [Self.rule]))
        #expect(!e.decide(s, for: .public, at: Self.t("2027-01-05T09:59:59Z")).visible)
        #expect(e.decide(s, for: .public, at: Self.t("2027-01-05T10:00:00Z")).visible)
        var noPublic = Self.rule
        noPublic.publicAfter = nil
        let e2 = Self.engine(EmbargoPolicy(rules: [noPublic]))
        #expect(!e2.decide(s, for: .public, at: Self.t("2099-01-01T00:00:00Z")).visible)
    }

    @Test func firstMatchingRuleDecides() {
        let strict = EmbargoRule(index: 0, owner: try! Glob("NASA"), clock: .acquired, period: Self.d("P1Y"))
        let lax = EmbargoRule(index: 1, clock: .acquired, period: Self.d("P0D"))
        let e = Self.engine(EmbargoPolicy(rules: [strict, lax]))
        let d = e.decide(Self.subject(), for: .member("CSA"), at: Self.t("2026-06-01T00:00:00Z"))
        #expect(!d.visible)
        #expect(d.reason == .rule(rule: 0, via: "period P1Y", opensAt: Self.t("2027-01-05T10:00:00Z")))
        #expect(e.decide(Self.subject(owner: "ESA"), for: .member("CSA"), at: Self.t("2026-01-05T10:00:00Z")).visible)
    }

    @Test func failsClosedWithoutRuleOrClock() {
        let e = Self.engine(
            EmbargoPolicy(rules: [
                EmbargoRule(index: 0, clock: .processed, period: Self.d("P0D"), publicAfter: Self.d("P0D"))
            ])
        )
        let s = Self.subject(processed: nil)
        let d = e.decide(s, for: .member("ESA"), at: Self.t("2099-01-01T00:00:00Z"))
        #expect(!d.visible)
        #expect(d.reason == .clockUnknown(rule: 0, clock: .processed))
        #expect(!e.decide(s, for: .public, at: Self.t("2099-01-01T00:00:00Z")).visible)
        let none = Self.engine(EmbargoPolicy())
        #expect(none.decide(s, for: .member("ESA"), at: Self.t("2099-01-01T00:00:00Z")).reason == .noRule)
    }

    @Test func earliestAndLatestClocksAreUnknownIfAnyPartIs() {
        let e = Self.engine(EmbargoPolicy())
        let s = Self.subject(processed: "2026-01-20T00:00:00Z")
        #expect(e.clock(.earliest([.acquired, .processed]), s) == Self.t("2026-01-05T10:00:00Z"))
        #expect(e.clock(.latest([.acquired, .processed]), s) == Self.t("2026-01-20T00:00:00Z"))
        #expect(e.clock(.latest([.acquired, .processed]), Self.subject()) == nil)
    }

    @Test(arguments: [
        ("2026-01-31T12:00:00Z", "P1M", "2026-02-28T12:00:00Z"),
        ("2024-01-31T12:00:00Z", "P1M", "2024-02-29T12:00:00Z"),
        ("2024-02-29T00:00:00Z", "P1Y", "2025-02-28T00:00:00Z"),
        ("2024-02-29T00:00:00Z", "P4Y", "2028-02-29T00:00:00Z"),
        ("2026-03-31T23:30:00Z", "P1M1D", "2026-05-01T23:30:00Z"),
        ("2026-12-31T00:00:00Z", "P2M", "2027-02-28T00:00:00Z"),
        ("2026-01-01T00:00:00Z", "P2W", "2026-01-15T00:00:00Z"),
        ("2026-01-01T00:00:00Z", "P1Y2M10DT2H", "2027-03-11T02:00:00Z"),
        ("2026-01-01T00:00:00Z", "PT36H", "2026-01-02T12:00:00Z"),
        ("2026-01-01T00:00:00Z", "PT0.5S", "2026-01-01T00:00:00.500Z"),
    ])
    func calendarDurationsClampToMonthEnd(start: String, duration: String, expected: String) throws {
        let d = try ISODuration(parsing: duration)
        #expect(Timestamp.format(d.added(to: Self.t(start))) == expected)
    }

    @Test(arguments: ["", "P", "PT", "1D", "P1", "P1H", "PT1D", "P1M2Y", "P-1D", "P1.5D", "P1DT"])
    func badDurationsAreRejected(text: String) {
        #expect(throws: ISODuration.ParseError.self) { try ISODuration(parsing: text) }
    }

    @Test func offsetsInInstantsMeanTheSameMoment() {
        #expect(Self.t("2026-09-02T02:00:00+02:00") == Self.t("2026-09-02T00:00:00Z"))
        #expect(Self.t("2026-09-01T19:00:00-05:00") == Self.t("2026-09-02T00:00:00Z"))
        #expect(Timestamp.parse("2026-02-30T00:00:00Z") == nil)
        #expect(Timestamp.parse("2026-09-02") == nil)
    }

    @Test func holdsBeatReleasesAndGrantsUntilTheyEnd() {
        let hold = Hold(
            id: "legal-3",
            records: [try! Glob("LC08_*_2026*")],
            until: Self.t("2026-06-01T00:00:00Z"),
            reason: ""
        )
        let release = EarlyRelease(
            id: "r",
            reason: "",
            effective: Self.t("2026-01-01T00:00:00Z"),
            to: [.allMembers, .public]
        )
        let e = Self.engine(EmbargoPolicy(rules: [Self.rule], releases: [release], holds: [hold]))
        let s = Self.subject(id: "LC08_L2SP_047027_20260105_02_T1")
        #expect(
            e.decide(s, for: .member("JAXA"), at: Self.t("2026-05-31T23:59:59Z")).reason
                == .hold(id: "legal-3", until: Self.t("2026-06-01T00:00:00Z"))
        )
        #expect(e.decide(s, for: .member("JAXA"), at: Self.t("2026-06-01T00:00:00Z")).visible)
        #expect(e.decide(s, for: .public, at: Self.t("2026-06-01T00:00:00Z")).reason == .release(id: "r"))
    }

    @Test func releasesMatchEveryFilterTheyHave() {
        let charter = EarlyRelease(
            id: "charter-917",
            reason: "",
            effective: Self.t("2026-09-02T00:00:00Z"),
            bbox: [5, 45, 15, 50],
            acquired: Self.t("2026-09-01T00:00:00Z")...Self.t("2026-09-30T23:59:59Z"),
            collections: [try! Glob("landsat-*")],
            to: [.member("CSA")]
        )
        let e = Self.engine(EmbargoPolicy(rules: [Self.rule], releases: [charter]))
        let inside = Self.subject(acquired: "2026-09-30T23:59:59Z")
        let at = Self.t("2026-09-02T00:00:00Z")
        #expect(e.decide(inside, for: .member("CSA"), at: at).visible)
        #expect(!e.decide(inside, for: .member("CSA"), at: at.addingTimeInterval(-1)).visible)
        #expect(!e.decide(inside, for: .member("ESA"), at: at).visible)
        #expect(!e.decide(inside, for: .public, at: at).visible)
        #expect(!e.decide(Self.subject(acquired: "2026-10-01T00:00:00Z"), for: .member("CSA"), at: at).visible)
        #expect(
            !e.decide(
                Self.subject(acquired: "2026-09-10T00:00:00Z", bbox: [20, 46, 22, 48]),
                for: .member("CSA"),
                at: at
            ).visible
        )
        #expect(
            !e.decide(Self.subject(acquired: "2026-09-10T00:00:00Z", bbox: nil), for: .member("CSA"), at: at).visible
        )
        #expect(
            !e.decide(
                Self.subject(collection: "sentinel-2", acquired: "2026-09-10T00:00:00Z"),
                for: .member("CSA"),
                at: at
            ).visible
        )
    }

    @Test func changeInstantsAndWindowsFollowThePolicy() {
        let e = Self.engine(EmbargoPolicy(rules: [Self.rule]))
        let s = Self.subject()
        #expect(
            e.changeInstants(of: s) == [
                Self.t("2026-01-05T10:00:00Z"), Self.t("2026-01-12T10:00:00Z"), Self.t("2026-02-04T10:00:00Z"),
                Self.t("2027-01-05T10:00:00Z"),
            ]
        )
        #expect(e.nextChange(of: s, after: Self.t("2026-01-12T10:00:00Z")) == Self.t("2026-02-04T10:00:00Z"))
        let w = e.window(s, for: .member("CSA"), at: Self.t("2026-01-20T00:00:00Z"))
        #expect(w.since == nil)
        #expect(w.until == Self.t("2026-02-04T10:00:00Z"))
    }

    @Test func globsMatchWholeNames() throws {
        #expect(try Glob("landsat-*").matches("landsat-c2-l2"))
        #expect(!(try Glob("landsat-*").matches("xlandsat-c2")))
        #expect(try Glob("LC0[89]_*_2026*").matches("LC09_L2SP_047027_20260105_02_T1"))
        #expect(!(try Glob("LC0[!89]_*").matches("LC08_X")))
        #expect(try Glob("*_MTL.txt.gz").matches("A_MTL.txt.gz"))
        #expect(!(try Glob("*_MTL.txt.gz").matches("A_MTL.txt")))
        #expect(try Glob("a?c").matches("abc"))
        #expect(throws: GlobError.self) { try Glob("[abc") }
        #expect(throws: GlobError.self) { try Glob("") }
    }
}
