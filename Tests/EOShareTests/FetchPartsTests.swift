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

/// The fetch stage's pure parts: the download state machine, back-off, listing parsers,
/// Content-Range and error-page recognition.
@Suite struct FetchPartsTests {
    static func machine(retries: Int = 2) -> DownloadMachine {
        DownloadMachine(
            retries: retries,
            resumable: true,
            backoff: Backoff(base: 0.01, cap: 0.1),
            url: URL(string: "http://h/x")!
        )
    }

    static func reset(
        bytes: Int64,
        total: Int64?,
        etag: String? = "\"abc\"",
        lastModified: String? = nil
    )
        -> TransferResult
    {
        var r = TransferResult()
        r.status = 200
        r.bodyAccepted = true
        r.announcedLength = total
        r.etag = etag
        r.lastModified = lastModified
        r.failure = .curl(code: 56, message: "Connection reset by peer", transient: true)
        return r
    }

    @Test func interruptedBodyResumesWithAStrongValidatorOnly() {
        var m = Self.machine()
        guard case .retry = m.attemptEnded(Self.reset(bytes: 100, total: 1000), kept: 100) else {
            Issue.record("a reset is retried")
            return
        }
        #expect(m.resumePoint == ResumePoint(offset: 100, total: 1000, validator: "\"abc\""))

        var weak = Self.machine()
        _ = weak.attemptEnded(Self.reset(bytes: 100, total: 1000, etag: "W/\"abc\""), kept: 100)
        #expect(weak.resumePoint == nil, "a weak ETag cannot guard a range")

        var dated = Self.machine()
        let date = "Sat, 21 Nov 2026 10:00:00 GMT"
        _ = dated.attemptEnded(Self.reset(bytes: 100, total: 1000, etag: nil, lastModified: date), kept: 100)
        #expect(dated.resumePoint?.validator == date)

        var unknownTotal = Self.machine()
        _ = unknownTotal.attemptEnded(Self.reset(bytes: 100, total: nil), kept: 100)
        #expect(unknownTotal.resumePoint == nil, "without a total a 206 cannot be checked")
    }

    @Test func errorStatusKeepsTheResumePointAndRangeMismatchDropsIt() {
        var m = Self.machine(retries: 5)
        _ = m.attemptEnded(Self.reset(bytes: 100, total: 1000), kept: 100)
        var unavailable = TransferResult()
        unavailable.status = 503
        _ = m.attemptEnded(unavailable, kept: 100)
        #expect(m.resumePoint?.offset == 100, "a 503's page never reached the file")
        var mismatch = TransferResult()
        mismatch.failure = .rangeMismatch("206 for bytes 0-9/10")
        _ = m.attemptEnded(mismatch, kept: 100)
        #expect(m.resumePoint == nil && m.state == .fresh)
    }

    @Test func retriesAreCountedAndClientErrorsFailAtOnce() {
        var m = Self.machine(retries: 2)
        var unavailable = TransferResult()
        unavailable.status = 503
        #expect(m.attemptEnded(unavailable, kept: 0) != .done)
        #expect(m.attemptEnded(unavailable, kept: 0) != .done)
        guard case .fail(let error) = m.attemptEnded(unavailable, kept: 0) else {
            Issue.record("the third 503 with retries: 2 fails")
            return
        }
        #expect(error.description == "HTTP 503 from http://h/x; gave up after 3 attempts")

        var n = Self.machine()
        var notFound = TransferResult()
        notFound.status = 404
        let refused = FetchError("HTTP 404 from http://h/x (refused: not retried)", status: 404)
        #expect(n.attemptEnded(notFound, kept: 0) == .fail(refused))
    }

    @Test func backoffHasFullJitterAndHonoursRetryAfter() {
        let b = Backoff(base: 1, cap: 8, retryAfterCap: 60)
        for attempt in 1...6 {
            let d = b.delay(attempt: attempt, retryAfter: nil)
            #expect(d >= 0 && d <= min(8, pow(2, Double(attempt))))
        }
        #expect(b.delay(attempt: 1, retryAfter: 30) >= 30)
        #expect(b.delay(attempt: 1, retryAfter: 3600) <= 60)
    }

    @Test func contentRange() {
        #expect(ContentRange("bytes 100-999/1000") == ContentRange("bytes 100-999/1000"))
        #expect(ContentRange("bytes 100-999/1000")?.first == 100)
        #expect(ContentRange("bytes 100-999/1000")?.total == 1000)
        #expect(ContentRange("bytes */1000") == nil)
        #expect(ContentRange("items 1-2/3") == nil)
    }

    @Test func ftpListings() {
        let mlsd = FTPListing.mlsd("type=file;size=15137;modify=20261121173000;perm=r; LC08_MTL.txt")
        #expect(mlsd == ListingEntry(name: "LC08_MTL.txt", size: 15137, modified: "1795282200"))
        #expect(FTPListing.mlsd("type=dir;modify=20261121173000; sub") == nil)
        let list = FTPListing.unix("-rw-r--r--   1 owner    group       15137 Nov 21 17:30 LC08 MTL.txt")
        #expect(list == ListingEntry(name: "LC08 MTL.txt", size: 15137))
        #expect(FTPListing.unix("drwxr-xr-x   2 owner    group        4096 Nov 21 17:30 sub")?.name == "")
        #expect(FTPListing.unix("total 12") == nil)
    }

    @Test func indexPageSizes() {
        let apache =
            #"<td><a href="a.gz">a.gz</a></td><td align="right">2024-05-01 10:00  </td>"#
            + #"<td align="right">12K</td>"#
        let links = ListingParser.links(in: apache)
        #expect(links.map(\.href) == ["a.gz"])
        #expect(ListingParser.listedSize(links[0].after) == .approximate(12 << 10))
        let nginx = "<a href=\"b.txt\">b.txt</a>                01-May-2024 10:00               15137\n"
        #expect(ListingParser.listedSize(ListingParser.links(in: nginx)[0].after) == .exact(15137))
        #expect(ListingParser.listedSize("<td>2024-05-01 10:00</td><td>  - </td>") == nil)
    }

    /// What a fetch remembers of an object comes back field for field, absent fields as nil,
    /// and an object never seen as nil (the lookup reads the row with SQLite's own calls).
    @Test func rememberedObjectsRoundTrip() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("eoshare-state-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let state = try SQLiteStateStore(path: folder.appendingPathComponent("state.sqlite"))
        let full = StoredObject(
            url: "https://feed.example.test/a.tar",
            source: "src",
            etag: "\"v1\"",
            lastModified: "Sun, 06 Nov 1994 08:49:37 GMT",
            size: 20_480,
            sha256: String(repeating: "ab", count: 32),
            outcome: .record,
            reason: nil,
            recordCollection: "c",
            recordId: "r1",
            listed: "01-May-2024 10:00 15137"
        )
        let bare = StoredObject(
            url: "https://feed.example.test/b.tar",
            source: "src",
            etag: nil,
            lastModified: nil,
            size: nil,
            sha256: nil,
            outcome: .quarantined,
            reason: "an HTML page",
            recordCollection: nil,
            recordId: nil
        )
        try await state.saveObject(full, at: Date())
        try await state.saveObject(bare, at: Date())
        await #expect(try state.object(url: full.url) == full)
        await #expect(try state.object(url: bare.url) == bare)
        await #expect(try state.object(url: "https://feed.example.test/none") == nil)
        await #expect(try state.object(url: full.url) == full, "the statement is reset after each lookup")
        let both = try await state.objects(urls: [bare.url, "https://feed.example.test/none", full.url])
        #expect(both == [full.url: full, bare.url: bare], "read in one go, the unknown one left out")
    }

    /// A body written by the transfer thread and digested behind it by the digester thread:
    /// the digest is the file's, also when the writer runs far ahead (more than the
    /// digester's backlog), when the body starts over, and when it continues after a pause.
    @Test func trailingDigestCoversWhatTheFileHolds() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("eoshare-sink-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let digester = Digester(limit: 1 << 20)
        defer { digester.stop() }
        let body = [UInt8](
            try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom")).read(upToCount: 5 << 20)!
        )
        func feed(_ sink: FileSink, _ bytes: ArraySlice<UInt8>) -> Bool {
            var offset = bytes.startIndex
            while offset < bytes.endIndex {
                let n = min(Int.random(in: 1...100_000), bytes.endIndex - offset)
                guard bytes[offset..<(offset + n)].withUnsafeBytes({ sink.write($0) }) else { return false }
                offset += n
            }
            return true
        }
        let file = folder.appendingPathComponent("body.bin")
        let sink = try FileSink(path: file.path, md5: true, digester: digester)
        // A first attempt that is abandoned, then a fresh start, interrupted, then resumed.
        #expect(sink.begin(at: 0, total: nil))
        #expect(feed(sink, body[0..<(3 << 20)]))
        #expect(sink.settle())
        #expect(sink.begin(at: 0, total: Int64(body.count)))
        #expect(sink.count == 0, "starting over forgets the first attempt")
        #expect(feed(sink, body[0..<1_234_567]))
        #expect(sink.settle())
        #expect(sink.count == 1_234_567)
        #expect(sink.begin(at: sink.count, total: Int64(body.count)))
        #expect(feed(sink, body[1_234_567...]))
        #expect(sink.settle() && sink.complete())
        let digests = sink.finish()
        #expect(try Data(contentsOf: file) == Data(body))
        #expect(digests.sha256 == Digest.sha256Hex(body))
        let md5 = StreamingDigest(.md5)
        body.withUnsafeBytes { md5.update($0) }
        #expect(digests.md5 == md5.finalizeHex())
        #expect(sink.head == Array(body.prefix(FileSink.headLength)))
    }

    /// FIPS 180-2 and RFC 1321 test vectors, as lowercase hex.
    @Test func digestsMatchKnownAnswers() {
        #expect(
            Digest.sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        #expect(Digest.sha256Hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let md5 = StreamingDigest(.md5)
        md5.update(Array("abc".utf8))
        #expect(md5.finalizeHex() == "900150983cd24fb0d6963f7d28e17f72")
        #expect(Digest.hex([0x00, 0x09, 0x0A, 0xF0, 0xFF]) == "00090af0ff")
    }

    @Test func plainIndexEntries() {
        let body = Array("# objects\r\n  a.bin\t\r\n\n\thttp://h/b.bin\r\n   \n#c.bin\nd e.bin".utf8)
        #expect(ListingParser.indexLines(body) == ["a.bin", "http://h/b.bin", "d e.bin"])
        #expect(ListingParser.indexLines([]) == [])
        #expect(ListingParser.indexLines(Array("\n\n".utf8)) == [])
    }

    @Test func httpDatesAndSettledEntries() {
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == nil)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 UTC") == nil)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 24:00:00 GMT") == nil)
        // The byte parser against the C library on dates across leap years and centuries.
        var generator = SystemRandomNumberGenerator()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        for _ in 0..<500 {
            let seconds = Int64.random(in: -2_208_988_800...4_102_444_800, using: &generator)
            let text = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            #expect(HTTPDate.parse(text) == seconds, "\(text)")
        }
        let date = "Sun, 06 Nov 1994 08:50:00 GMT"
        #expect(HTTPDate.settled(lastModified: "Sun, 06 Nov 1994 08:49:59 GMT", serverDate: date))
        #expect(!HTTPDate.settled(lastModified: "Sun, 06 Nov 1994 08:50:00 GMT", serverDate: date))
        #expect(!HTTPDate.settled(lastModified: nil, serverDate: date))
        let apache = #"</a></td><td align="right">2024-05-01 10:00  </td><td align="right">12K</td><td>&nbsp;</td>"#
        #expect(ListingParser.shownEntry(apache[...]) == "2024-05-01 10:00 12K")
        #expect(ListingParser.shownEntry("</a></li>"[...]) == nil, "no time shown: nothing to compare")
    }

    /// Formats as sources carry them: fetch sees what a reader declares, not its name.
    static let landsat = SourceFormat(name: "landsat-mtl")
    static let cmr = SourceFormat(name: "cmr-umm-g", objectMediaType: "application/json")

    @Test func errorPages() {
        let html = Array("<!DOCTYPE html><html><body>Service Unavailable</body></html>".utf8)
        #expect(ErrorPage.detect(name: "a_MTL.txt", format: Self.landsat, contentType: "text/plain", head: html) != nil)
        #expect(ErrorPage.detect(name: "index.html", format: Self.landsat, contentType: "text/html", head: html) == nil)
        let json = Array(#"{"error": "quota"}"#.utf8)
        #expect(
            ErrorPage.detect(name: "a_MTL.txt", format: Self.landsat, contentType: "application/json", head: json)
                != nil
        )
        #expect(
            ErrorPage.detect(name: "a_MTL.json", format: Self.landsat, contentType: "application/json", head: json)
                == nil
        )
        #expect(ErrorPage.detect(name: "granule", format: Self.cmr, contentType: "application/json", head: json) == nil)
    }

    @Test func redaction() {
        let url = URL(string: "https://eo:pa55word@example.org/a/b?token=t0k3n")!
        // The query's SHA-256 stands for the query: the object stays told apart, the token unseen.
        let digest = Digest.sha256Hex(Array("token=t0k3n".utf8))
        #expect(Redact.url(url) == "https://example.org/a/b?query-sha256=\(digest)")
        #expect(Redact.withoutCredentials(url).absoluteString == "https://example.org/a/b?token=t0k3n")
        let text = Redact.text("failed for \(url.absoluteString) with pa55word", url: url, secrets: [])
        #expect(!text.contains("pa55word") && !text.contains("t0k3n") && text.contains("https://example.org/a/b"))
    }
}
