import EOShare
import Foundation
import Testing

@testable import EOShareServe

/// A collection's extent shows only what the viewer may see at the request's instant: a record
/// still under embargo does not widen it, and widens it at the second its embargo ends, while
/// the extent is computed once and kept between requests until then.
@Suite struct ServeExtentTests {
    /// A clock the test moves.
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Date
        init(_ t: Date) { value = t }
        var now: Date {
            get { lock.withLock { value } }
            set { lock.withLock { value = newValue } }
        }
    }

    struct Extent: Equatable, CustomStringConvertible {
        var bbox: [Double]?
        var interval: [String?]
        var description: String { "\(bbox ?? []) \(interval)" }
    }

    /// The extent by the oracle's words: over the records it lets the viewer see at `t`.
    static func oracle(_ records: [TimedSubject], _ viewer: String, at t: Date) -> Extent {
        let seen = records.filter { ServeEmbargoTests.oracle($0.subject, viewer, at: t) }
        let boxes = seen.compactMap(\.subject.bbox)
        let starts = seen.compactMap(\.start)
        let ends = seen.compactMap { $0.end ?? $0.start }
        return Extent(
            bbox: boxes.isEmpty
                ? nil
                : [
                    boxes.map { $0[0] }.min()!, boxes.map { $0[1] }.min()!, boxes.map { $0[2] }.max()!,
                    boxes.map { $0[3] }.max()!,
                ],
            interval: [starts.min().map(Timestamp.format), ends.max().map(Timestamp.format)]
        )
    }

    static func served(_ api: STACAPI, _ served: ServedPipeline, _ viewer: String) async throws -> Extent {
        let request = APIRequest(
            method: "GET",
            segments: [viewer, "collections", "landsat-c2-l2"],
            query: [],
            headers: [],
            body: [],
            base: "http://api"
        )
        let answer = await api.respond(request, snapshot: try served.snapshot().get(), viewer: Viewer(folder: viewer))
        #expect(answer.status == 200)
        let extent = try JSONValue.parse(answer.body)["extent"]
        let bbox = extent?["spatial"]?["bbox"]?.arrayValue?.first?.arrayValue?.compactMap(\.doubleValue)
        let interval = extent?["temporal"]?["interval"]?.arrayValue?.first?.arrayValue?.map(\.stringValue) ?? []
        // A viewer who sees nothing is answered the whole globe.
        return Extent(bbox: bbox == [-180, -90, 180, 90] && interval == [nil, nil] ? nil : bbox, interval: interval)
    }

    @Test(arguments: ServeHarness.stores)
    func anEmbargoedRecordWidensTheExtentAtItsReleaseSecondNotBefore(_ store: ServeHarness.Store) async throws {
        let folder = try await ServeHarness.ingested(store)
        let file = folder.appendingPathComponent("serve.yml")
        let pipeline = try Pipeline.load(from: file)
        let state = try #require(try await existingState(pipeline))
        var records: [TimedSubject] = []
        var after: RecordKey?
        while true {
            let page = try await state.timedSubjectPage(after: after, limit: 25)
            records += page
            guard let last = page.last, page.count == 25 else { break }
            after = RecordKey(collection: last.subject.collection, id: last.subject.id)
        }
        #expect(records.count == 60)
        // An instant at which a record opens to a viewer and widens the box that viewer sees.
        let engine = EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id))
        let instants = Set(records.flatMap { engine.changeInstants(of: $0.subject) }).sorted()
        var found: (viewer: String, at: Date)?
        search: for viewer in ["ESA", "JAXA", "public"] {
            for t in instants {
                let (before, at) = (Self.oracle(records, viewer, at: t - 1), Self.oracle(records, viewer, at: t))
                if let b = before.bbox, let a = at.bbox, a != b {
                    found = (viewer, t)
                    break search
                }
            }
        }
        let (viewer, release) = try #require(found)

        let served = try ServedPipeline(file: file)
        let clock = Clock(release - 1)
        let api = STACAPI(served: served, clock: { clock.now })
        let before = try await Self.served(api, served, viewer)
        #expect(before == Self.oracle(records, viewer, at: release - 1), "\(viewer) a second before")
        #expect(try await Self.served(api, served, viewer) == before)
        #expect(api.extentCache.computationCount == 1, "the extent was computed again for the same instant")

        clock.now = release
        let at = try await Self.served(api, served, viewer)
        #expect(at == Self.oracle(records, viewer, at: release), "\(viewer) at the release second")
        #expect(at != before)
        #expect(api.extentCache.computationCount == 2)

        // The owner sees everything: its extent is the same at both instants, computed once more.
        let owner = try await Self.served(api, served, "NASA")
        #expect(owner == Self.oracle(records, "NASA", at: release))
        #expect(try await Self.served(api, served, "NASA") == owner)
        #expect(api.extentCache.computationCount == 3)
    }
}
