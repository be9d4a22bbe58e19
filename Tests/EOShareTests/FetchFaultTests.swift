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

/// Every fault the fetch stage meets ends in either a verified record (the object's SHA-256 in
/// the state is that of the bytes the server holds) or a quarantined object with a precise
/// reason — never a corrupt record. Real server on 127.0.0.1, real files, real SQLite.
@Suite struct FetchFaultTests {
    typealias Fault = TestHTTPServer.Fault

    /// A fault on the first attempt(s) that a retry or a resume repairs.
    struct Repairable: Sendable, CustomStringConvertible {
        var name: String
        var faults: [Fault]
        var rangeSupport = true
        /// What the second request must have been: a resume (206) or a fresh start (200).
        var secondStatus: Int
        var secondHasRange: Bool
        var description: String { name }
    }

    static let repairable: [Repairable] = [
        Repairable(
            name: "503 then 500 then success",
            faults: [.status(503), .status(500)],
            secondStatus: 500,
            secondHasRange: false
        ),
        Repairable(name: "408 then success", faults: [.status(408)], secondStatus: 200, secondHasRange: false),
        Repairable(
            name: "reset after 6000 bytes, resumed with Range",
            faults: [.resetAfter(bytes: 6_000)],
            secondStatus: 206,
            secondHasRange: true
        ),
        Repairable(
            name: "reset without Range support, restarted",
            faults: [.resetAfter(bytes: 6_000)],
            rangeSupport: false,
            secondStatus: 200,
            secondHasRange: true
        ),
        Repairable(
            name: "truncated with the full Content-Length, resumed",
            faults: [.truncate(bytes: 5_000)],
            secondStatus: 206,
            secondHasRange: true
        ),
        Repairable(
            name: "stalled slow body, resumed",
            faults: [.slowBody(bytesPerSecond: 500)],
            secondStatus: 206,
            secondHasRange: true
        ),
    ]

    @Test(arguments: repairable)
    func faultRepairedIntoAVerifiedRecord(_ fault: Repairable) async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        try h.serve(FetchHarness.scene, bytes)
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        server.rangeSupport = fault.rangeSupport
        let path = "/feed/\(FetchHarness.scene)"
        server.inject(path: path, faults: fault.faults)
        let p = try h.pipeline(url: server.url(path).absoluteString)

        let summary = try await FetchHarness.ingest(p)
        #expect(summary.records == 1 && summary.quarantined == 0, "\(FetchHarness.quarantineReasons(p))")
        await #expect(try FetchHarness.recordPublished(p))
        let stored = try await #require(try FetchHarness.object(p, url: server.url(path)))
        #expect(stored.sha256 == Digest.sha256Hex(bytes), "the record holds exactly the server's bytes")
        #expect(stored.outcome == .record)
        let requests = server.requests().filter { $0.path == path }
        #expect(requests.count == fault.faults.count + 1)
        let second = try #require(requests.dropFirst().first)
        #expect(second.status == fault.secondStatus, "\(requests)")
        #expect((second.header("Range") != nil) == fault.secondHasRange, "\(second.headers)")
        if fault.secondHasRange {
            #expect(second.header("If-Range") == requests[0].header("ETag") || second.header("If-Range") != nil)
        }
    }

    /// Bodies larger than one buffer are written by the transfer thread and digested right
    /// behind it by the digester; a reset must resume exactly after what was written, with
    /// the digest state kept.
    @Test(arguments: [false, true])
    func largeObjectResumedWithTheDigestBehind(etagChanges: Bool) async throws {
        let h = try FetchHarness()
        // 3 MiB that no two offsets confuse (a resume at the wrong byte changes the digest).
        let old = [UInt8](unsafeUninitializedCapacity: 3 << 20) { buffer, count in
            var x: UInt32 = 2_463_534_242
            for i in 0..<buffer.count {
                x ^= x << 13
                x ^= x >> 17
                x ^= x << 5
                buffer[i] = UInt8(truncatingIfNeeded: x)
            }
            count = buffer.count
        }
        var new = old
        new[new.count - 1] ^= 0xFF
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let path = "/feed/large.bin"
        server.setBody(path: path, body: old, contentType: "application/octet-stream")
        // A close (FIN), not a reset: a reset discards what still sits unread in the client's
        // receive buffer, so on a loaded machine nothing may have "arrived" and there is
        // nothing to resume from (the product then rightly starts again from byte 0).
        var first: [Fault] = [.truncate(bytes: 1_300_000)]
        if etagChanges { first.append(.replaceBody(new)) }
        server.inject(path: path, faults: [.combined(first), .truncate(bytes: 500_000)])
        let p = try h.pipeline(url: server.url(path).absoluteString)
        let work = h.folder.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let stage = FetchStage(
            pipeline: p,
            state: try SQLiteStateStore(path: p.statePath),
            workFolder: work,
            logger: FetchHarness.logger
        )
        let outcome = await stage.fetch(ObjectRef(source: "src", url: server.url(path), name: "large.bin"))
        await stage.close()
        guard case .fetched(let object) = outcome else {
            Issue.record("expected a fetched object, got \(outcome)")
            return
        }
        let expected = etagChanges ? new : old
        #expect(object.sha256 == Digest.sha256Hex(expected))
        #expect(object.size == Int64(expected.count))
        #expect(try Digest.sha256Hex(ofFile: object.file) == object.sha256, "the file holds what was digested")
        let requests = server.requests().filter { $0.path == path }
        #expect(requests.count == 3, "\(requests)")
        let resumedAt = requests[1].header("Range").flatMap { Int($0.dropFirst(6).dropLast()) } ?? 0
        #expect(resumedAt > 0 && resumedAt <= 1_300_000, "resumed after what arrived: \(requests[1].headers)")
        #expect(requests[1].status == (etagChanges ? 200 : 206))
        #expect(requests[2].status == 206, "the truncated attempt resumes too")
    }

    @Test func retryAfterIsHonoured() async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        try h.serve(FetchHarness.scene, bytes)
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let path = "/feed/\(FetchHarness.scene)"
        server.inject(path: path, faults: [.status(429, retryAfter: 1)])
        let p = try h.pipeline(url: server.url(path).absoluteString)
        let started = Date()
        let summary = try await FetchHarness.ingest(p)
        // The back-off base is 5 ms: only Retry-After explains a wait of a second.
        #expect(Date().timeIntervalSince(started) >= 1.0)
        #expect(summary.records == 1 && summary.quarantined == 0)
        #expect(server.requestCount(path: path) == 2)
    }

    @Test func ifRangeMismatchRestartsWithTheNewObject() async throws {
        let h = try FetchHarness()
        let old = try FetchHarness.sceneBytes()
        let new = try FetchHarness.changedSceneBytes()
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let path = "/feed/\(FetchHarness.scene)"
        server.setBody(path: path, body: old, contentType: "text/plain")
        // The first attempt breaks after 6000 bytes, and the object changes before the second.
        server.inject(path: path, faults: [.combined([.resetAfter(bytes: 6_000), .replaceBody(new)])])
        let p = try h.pipeline(url: server.url(path).absoluteString)

        let summary = try await FetchHarness.ingest(p)
        #expect(summary.records == 1 && summary.quarantined == 0, "\(FetchHarness.quarantineReasons(p))")
        let requests = server.requests().filter { $0.path == path }
        #expect(requests.count == 2)
        #expect(requests[1].header("Range") == "bytes=6000-" && requests[1].header("If-Range") != nil)
        #expect(requests[1].status == 200, "the old ETag no longer holds: the whole new object")
        let stored = try await #require(try FetchHarness.object(p, url: server.url(path)))
        #expect(stored.sha256 == Digest.sha256Hex(new), "no mix of old prefix and new tail")
    }

    /// A fault no retry repairs, and the precise reason it is quarantined with.
    struct Fatal: Sendable, CustomStringConvertible {
        var name: String
        var faults: [Fault]
        var reason: String
        var requests: Int
        var description: String { name }
    }

    static let fatal: [Fatal] = [
        Fatal(
            name: "404 at once, not retried",
            faults: [.status(404)],
            reason: "HTTP 404 from http://127.0.0.1",
            requests: 1
        ),
        Fatal(name: "403 at once, not retried", faults: [.status(403)], reason: "(refused: not retried)", requests: 1),
        Fatal(
            name: "HTML error page with 200",
            faults: [.htmlErrorPage],
            reason: "an HTML page was served with status 200 instead of the object",
            requests: 1
        ),
        Fatal(
            name: "503 past the retries",
            faults: Array(repeating: .status(503), count: 4),
            reason: "HTTP 503 from http://127.0.0.1",
            requests: 4
        ),
        Fatal(
            name: "resets past the retries",
            faults: Array(repeating: .resetAfter(bytes: 100), count: 4),
            reason: "gave up after 4 attempts",
            requests: 4
        ),
    ]

    @Test(arguments: fatal)
    func faultQuarantinedWithAPreciseReason(_ fault: Fatal) async throws {
        let h = try FetchHarness()
        try h.serve(FetchHarness.scene, try FetchHarness.sceneBytes())
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let path = "/feed/\(FetchHarness.scene)"
        server.inject(path: path, faults: fault.faults)
        let p = try h.pipeline(url: server.url(path).absoluteString)

        let summary = try await FetchHarness.ingest(p)
        #expect(summary.records == 0 && summary.quarantined == 1)
        let reasons = FetchHarness.quarantineReasons(p)
        #expect(reasons.count == 1 && reasons[0].contains(fault.reason), "\(reasons)")
        #expect(server.requestCount(path: path) == fault.requests)
        await #expect(try !FetchHarness.recordPublished(p))
    }

    @Test func jsonErrorPageWhereTextIsExpected() async throws {
        let h = try FetchHarness()
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let path = "/feed/\(FetchHarness.scene)"
        server.setBody(path: path, body: Array(#"{"error": "quota exceeded"}"#.utf8), contentType: "application/json")
        let p = try h.pipeline(url: server.url(path).absoluteString)
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.quarantined == 1)
        let reason = FetchHarness.quarantineReasons(p).first ?? ""
        #expect(reason.contains("a JSON document (application/json) was served"), "\(reason)")
        // The evidence is kept aside with its reason.
        let folder = p.quarantineFolder.appendingPathComponent("src")
        let kept = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(kept.contains { $0.hasSuffix(".reason") })
    }

    @Test func bodyFarSmallerThanTheListingShowsIsAnErrorPage() async throws {
        let h = try FetchHarness()
        try h.serve(FetchHarness.scene, try FetchHarness.sceneBytes())
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        // The index page shows "15K"; the object's request gets a short text "200 OK" instead.
        server.inject(path: "/feed/\(FetchHarness.scene)", faults: [.status(200)])
        let p = try h.pipeline(url: server.url("/feed/").absoluteString)
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.quarantined == 1 && summary.records == 0)
        let reason = FetchHarness.quarantineReasons(p).first ?? ""
        #expect(reason.contains("only 7 bytes arrived where the listing shows about 15360 (error page?)"), "\(reason)")
    }

    @Test func maxObjectBytesAbortsOnTheAnnouncedLength() async throws {
        let h = try FetchHarness()
        try h.serve(FetchHarness.scene, try FetchHarness.sceneBytes())
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let path = "/feed/\(FetchHarness.scene)"
        let p = try h.pipeline(url: server.url(path).absoluteString, limits: "retries: 3, max_object_bytes: 4KiB")
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.quarantined == 1)
        let reason = try #require(FetchHarness.quarantineReasons(p).first)
        #expect(reason.contains("exceeds max_object_bytes (4096 bytes; announced 15137 bytes)"), "\(reason)")
        #expect(server.requestCount(path: path) == 1, "too large is not retried")
    }

    @Test(arguments: [("sha256", true), ("md5", true), ("sha256", false), ("md5", false)])
    func sidecarChecksums(kind: String, matching: Bool) async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        try h.serve(FetchHarness.scene, bytes)
        let digest = StreamingDigest(kind == "md5" ? .md5 : .sha256)
        digest.update(matching ? bytes : Array("other".utf8))
        let stated = digest.finalizeHex()
        try h.serve(FetchHarness.scene + "." + kind, Array("\(stated)  \(FetchHarness.scene)\n".utf8))
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        // Through the listing, which shows the sidecar beside the object.
        let p = try h.pipeline(url: server.url("/feed/").absoluteString, source: "checksum: sidecar")
        FetchHarness.expectOneObject(
            try await FetchHarness.ingest(p),
            of: p,
            verified: matching,
            elseReason: "checksum \(kind) mismatch: the sidecar says \(stated)"
        )
    }

    /// The refusal depended on the sidecar, not on the bytes alone: once the sidecar is put
    /// right, the same bytes pass and publish their record (they are not taken as unchanged).
    @Test func correctedSidecarLetsTheSameBytesThrough() async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        try h.serve(FetchHarness.scene, bytes)
        let sidecar = FetchHarness.scene + ".sha256"
        try h.serve(sidecar, Array("\(Digest.sha256Hex(Array("other".utf8)))  \(FetchHarness.scene)\n".utf8))
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let p = try h.pipeline(url: server.url("/feed/").absoluteString, source: "checksum: sidecar")
        let first = try await FetchHarness.ingest(p)
        #expect(first.records == 0 && first.quarantined == 1)
        try h.serve(sidecar, Array("\(Digest.sha256Hex(bytes))  \(FetchHarness.scene)\n".utf8))
        let second = try await FetchHarness.ingest(p)
        #expect(second.records == 1 && second.quarantined == 0 && second.unchanged == 0)
    }

    /// An error page where a published object was: quarantined, while the state still knows
    /// which record that object published (the record stays published).
    @Test func refusalKeepsTheObjectsRecord() async throws {
        let h = try FetchHarness()
        try h.serve(FetchHarness.scene, try FetchHarness.sceneBytes())
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let path = "/feed/\(FetchHarness.scene)"
        let p = try h.pipeline(url: server.url(path).absoluteString)
        #expect(try await FetchHarness.ingest(p).records == 1)
        let published = try await #require(try FetchHarness.object(p, url: server.url(path)))
        #expect(published.outcome == .record && published.recordId != nil)
        server.inject(path: path, faults: [.htmlErrorPage])
        #expect(try await FetchHarness.ingest(p).quarantined == 1)
        let refused = try await #require(try FetchHarness.object(p, url: server.url(path)))
        #expect(refused.outcome == .refused)
        #expect(refused.recordCollection == published.recordCollection && refused.recordId == published.recordId)
    }

    @Test func missingSidecarIsQuarantinedWithoutATransfer() async throws {
        let h = try FetchHarness()
        try h.serve(FetchHarness.scene, try FetchHarness.sceneBytes())
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let p = try h.pipeline(url: server.url("/feed/").absoluteString, source: "checksum: sidecar")
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.quarantined == 1)
        #expect(FetchHarness.quarantineReasons(p).first?.contains("no \(FetchHarness.scene).sha256 or") == true)
        #expect(server.requestCount(path: "/feed/\(FetchHarness.scene)") == 0)
    }

    @Test(arguments: [true, false])
    func indexSHA256(matching: Bool) async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        try h.serve(FetchHarness.scene, bytes)
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let sha = matching ? Digest.sha256Hex(bytes) : String(repeating: "ab", count: 32)
        let index = #"[{"url": "\#(FetchHarness.scene)", "size": \#(bytes.count), "sha256": "\#(sha)"}]"#
        try h.serve("index.json", Array(index.utf8))
        let p = try h.pipeline(url: server.url("/feed/index.json").absoluteString, source: "index: true")
        FetchHarness.expectOneObject(
            try await FetchHarness.ingest(p),
            of: p,
            verified: matching,
            elseReason: "SHA-256 \(Digest.sha256Hex(bytes)) differs from the index's \(sha)"
        )
    }

    @Test func secondRunMakesOnlyConditionalRequestsAndAChangeReplacesTheRecord() async throws {
        let h = try FetchHarness()
        try h.serve(FetchHarness.scene, try FetchHarness.sceneBytes())
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let p = try h.pipeline(url: server.url("/feed/").absoluteString)
        let first = try await FetchHarness.ingest(p)
        #expect(first.records == 1)

        server.resetLog()
        let second = try await FetchHarness.ingest(p)
        #expect(second.fetched == 0 && second.unchanged == 1 && second.records == 0)
        let objectRequests = server.requests().filter { $0.path != "/feed/" }
        #expect(!objectRequests.isEmpty && objectRequests.allSatisfy { $0.isConditional && $0.status == 304 })
        #expect(server.requests().filter { !$0.isConditional }.map(\.path) == ["/feed/"], "only the listing")

        // A changed object is fetched again and replaces its record.
        try await Task.sleep(nanoseconds: 1_100_000_000)  // Last-Modified has one-second resolution
        let changed = try FetchHarness.changedSceneBytes()
        try h.serve(FetchHarness.scene, changed)
        let third = try await FetchHarness.ingest(p)
        #expect(third.fetched == 1 && third.records == 1, "\(FetchHarness.quarantineReasons(p))")
        let stored = try await #require(try FetchHarness.object(p, url: server.url("/feed/\(FetchHarness.scene)")))
        #expect(stored.sha256 == Digest.sha256Hex(changed))
    }

    /// An index page shows each object's time to the minute and its size. Fetched a minute or
    /// more after it last changed, an object whose entry stays the same is not asked for at
    /// all; a change shows as a new entry and is fetched.
    @Test func indexPageEntryProvesAnObjectUnchanged() async throws {
        let h = try FetchHarness()
        let old = Date(timeIntervalSince1970: 1_714_557_600)  // 2024-05-01 10:00 UTC
        try h.serve(FetchHarness.scene, try FetchHarness.sceneBytes(), modified: old)
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let p = try h.pipeline(url: server.url("/feed/").absoluteString)
        let first = try await FetchHarness.ingest(p)
        #expect(first.records == 1)
        let url = server.url("/feed/\(FetchHarness.scene)")
        await #expect(try FetchHarness.object(p, url: url)?.listed?.hasPrefix("2024-05-01 10:00") == true)

        server.resetLog()
        let second = try await FetchHarness.ingest(p)
        #expect(second.unchanged == 1 && second.fetched == 0)
        #expect(server.requests().map(\.path) == ["/feed/"], "only the listing was asked for")

        let changed = try FetchHarness.changedSceneBytes()
        try h.serve(FetchHarness.scene, changed, modified: Date())
        let third = try await FetchHarness.ingest(p)
        #expect(third.fetched == 1 && third.records == 1)
        await #expect(try FetchHarness.object(p, url: url)?.sha256 == Digest.sha256Hex(changed))
    }

    /// The transfer thread sleeps in `curl_multi_poll` (up to ten seconds) when it has
    /// nothing to do: a new transfer must wake it, not wait for the poll to time out. (The
    /// bound leaves room for a loaded machine; a missed wake-up waits seconds.)
    /// A submission wakes an idle transfer thread instead of waiting out its sleep. Proven by
    /// what ended the sleep, not by a clock: the engine sleeps a minute when idle, and each
    /// transfer must come from a wake-up its submission wrote, with no idle sleep having run
    /// its course. (A lost wake-up would show as an idle timeout, however loaded the machine;
    /// a timing bound only measured how soon the test's task was scheduled again.)
    @Test func aTransferSubmittedToAnIdleEngineStartsAtOnce() async throws {
        let file = RepoPaths.temporaryFolder("idle-engine").appendingPathComponent("x.bin")
        try Data(repeating: 7, count: 1000).write(to: file)
        let engine = CurlMulti(maxTransfers: 2, idleSleep: .seconds(60))
        for round in 1...3 {
            // Until the thread sleeps idle: then only a wake-up can start the transfer.
            while !engine.isSleepingIdle { try await Task.sleep(for: .milliseconds(5)) }
            let sink = MemorySink()
            let result = await engine.perform(TransferRequest(url: file, maxBytes: 1 << 20), sink: sink)
            #expect(result.failure == nil && sink.count == 1000)
            #expect(engine.activity == CurlMulti.Activity(wakeUps: round, idleTimeouts: 0), "\(engine.activity)")
        }
        await engine.close()
    }

    @Test func manyObjectsShareFewConnections() async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        for i in 0..<24 { try h.serve("copy\(i)_" + FetchHarness.scene, bytes) }
        // The server keeps an idle connection a long while: on a loaded machine a gap of its
        // default 10 s between two requests made it close one, and the count rose to 5.
        let server = try TestHTTPServer(root: h.www, readTimeout: 120)
        defer { server.stop() }
        let p = try h.pipeline(url: server.url("/feed/").absoluteString, limits: "fetch_workers: 4, retries: 1")
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.discovered == 24)
        // 25 requests (listing + objects) over at most fetch_workers connections: keep-alive reuse.
        #expect(server.requests().count == 25)
        #expect(server.connectionCount <= 4)
        #expect(server.requests().allSatisfy { $0.header("User-Agent")?.hasPrefix("eoshare/") == true })
    }
}
