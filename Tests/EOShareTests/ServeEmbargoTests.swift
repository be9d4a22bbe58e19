import EOShare
import EOShareServe
import Foundation
import Testing

/// pystac-client, as a member would use it, against `eoshare serve` at instants just before
/// and at a grant, a period's end, an early release and a hold's end: every viewer gets
/// exactly what an oracle computed here from the policy's words (not by the engine) says.
@Suite(.serialized) struct ServeEmbargoTests {
    /// CONTRACT §4 for this test's policy, by plain arithmetic: NASA owns every record; a
    /// hold on `LC09_*_2026*` until 2026-12-01 hides from everyone else; the charter release
    /// opens records in [-60, -30, 60, 30] to JAXA from 2026-09-02; otherwise ESA sees from
    /// acquisition + 30 days, every member from + 90 days, the public from + 1 year.
    static func oracle(_ r: EmbargoSubject, _ viewer: String, at t: Date) -> Bool {
        if viewer == "NASA" { return true }
        let held = r.id.hasPrefix("LC09_") && r.id.dropFirst(5).contains("_2026")
        if held && t < ServeHarness.holdUntil { return false }
        if viewer == "JAXA", t >= ServeHarness.releaseAt, let b = r.bbox {
            let box = ServeHarness.releaseBox
            if b[0] <= box[2] && box[0] <= b[2] && b[1] <= box[3] && box[1] <= b[3] { return true }
        }
        guard let a = r.acquired else { return false }
        let day = 86_400.0
        switch viewer {
        case "ESA": return t >= a.addingTimeInterval(30 * day)
        case "JAXA": return t >= a.addingTimeInterval(90 * day)
        default:
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = TimeZone(identifier: "UTC")!
            return t >= utc.date(byAdding: .year, value: 1, to: a)!
        }
    }

    static let viewers = ["NASA", "ESA", "JAXA", "public"]

    /// The instants: a second before and at each boundary the data has.
    static func instants(_ subjects: [EmbargoSubject]) throws -> [(String, Date)] {
        let day = 86_400.0
        let held = subjects.filter { $0.id.hasPrefix("LC09_") && $0.id.dropFirst(5).contains("_2026") }
        // A record that neither the hold nor the release decides: its grant and period end.
        let box = ServeHarness.releaseBox
        let grant = try #require(
            subjects.filter { s in
                guard let b = s.bbox, s.acquired != nil, !held.contains(s) else { return false }
                return !(b[0] <= box[2] && box[0] <= b[2] && b[1] <= box[3] && box[1] <= b[3])
            }.max { $0.acquired! < $1.acquired! }
        )
        let grantAt = grant.acquired!.addingTimeInterval(30 * day)
        let periodAt = grant.acquired!.addingTimeInterval(90 * day)
        var out: [(String, Date)] = []
        for (name, t) in [
            ("grant", grantAt), ("period", periodAt), ("release", ServeHarness.releaseAt),
            ("hold", ServeHarness.holdUntil),
        ] {
            out.append(("\(name) - 1s", t.addingTimeInterval(-1)))
            out.append((name, t))
        }
        return out
    }

    @Test(arguments: ServeHarness.stores)
    func pystacClientSearchesGetExactlyWhatThePolicySaysAtEachBoundary(_ store: ServeHarness.Store) async throws {
        let folder = try await ServeHarness.ingested(store)
        let subjects = try await ServeHarness.subjects(folder)
        #expect(subjects.count == 60)
        let instants = try Self.instants(subjects)
        // The boundaries matter: each one changes what someone sees.
        for pair in stride(from: 0, to: instants.count, by: 2) {
            let (before, after) = (instants[pair].1, instants[pair + 1].1)
            let changed = Self.viewers.contains { v in
                subjects.contains { Self.oracle($0, v, at: before) != Self.oracle($0, v, at: after) }
            }
            #expect(changed, "nothing changes at \(instants[pair + 1].0)")
        }
        var servers: [ServeHarness.Running] = []
        var jobs: [JSONValue] = []
        var expected: [(String, Set<String>)] = []
        for (name, t) in instants {
            let server = try await ServeHarness.start(folder, at: t)
            servers.append(server)
            for v in Self.viewers {
                // Small pages, so paging has to stay exact under the filtering.
                jobs.append(
                    .object([
                        "url": .string("\(server.base)/\(v)/"),
                        "token": ServeHarness.tokens[v].map(JSONValue.string) ?? .null,
                        "params": .object(["limit": .int(7), "collections": .array(["landsat-c2-l2"])]),
                    ])
                )
                expected.append(("\(v) at \(name)", Set(subjects.filter { Self.oracle($0, v, at: t) }.map(\.id))))
            }
        }
        let answers = await ServeHarness.peer("pystac_search.py", [JSONValue.array(jobs).serializedString()])
        for server in servers { await server.stop() }
        #expect(answers.count == jobs.count)
        for answer in answers {
            let index = Int(answer["job"]?.doubleValue ?? -1)
            guard expected.indices.contains(index) else { continue }
            let (label, want) = expected[index]
            if let error = answer["error"]?.stringValue {
                Issue.record("\(label): \(error)")
                continue
            }
            let ids = answer["ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(ids.count == Set(ids).count, "\(label): a record came twice across pages")
            if want.count > 7 { #expect((answer["pages"]?.doubleValue ?? 0) >= 2, "\(label): no paging happened") }
            #expect(
                Set(ids) == want,
                "\(label): extra \(Set(ids).subtracting(want).sorted()), missing \(want.subtracting(ids).sorted())"
            )
        }
    }

    /// The engine ingest uses agrees with the oracle at every instant tested (so a failure
    /// above is the server's, not a disagreement about the policy).
    @Test func theOracleAgreesWithTheEngine() async throws {
        let folder = try await ServeHarness.ingested.value
        let subjects = try await ServeHarness.subjects(folder)
        let p = try Pipeline.load(from: folder.appendingPathComponent("serve.yml"))
        let engine = EmbargoEngine(policy: p.policy, members: p.members.map(\.id))
        for (_, t) in try Self.instants(subjects) {
            for s in subjects {
                for v in Self.viewers {
                    #expect(
                        engine.decide(s, for: Viewer(folder: v), at: t).visible == Self.oracle(s, v, at: t),
                        "\(s.id) for \(v) at \(Timestamp.format(t))"
                    )
                }
            }
        }
    }
}
