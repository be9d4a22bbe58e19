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

/// Query strings of object URLs (a presigned URL's signature, an API key) serve the transfer
/// and nothing else: an ingest of an index of such URLs, with a retry, a refusal and an error
/// page among them, leaves no trace of them in the state, the ledger, the quarantine folder
/// or the log. Objects are known by their URL with the query's SHA-256 in its place.
@Suite struct QueryStringLeakTests {
    @Test func signedObjectURLsAreFetchedWithTheirQueryAndKeptWithoutIt() async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        try h.serve(FetchHarness.scene, bytes)
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let signed = "X-Amz-Signature=SECRET-sig-1f2e&api_key=SECRET-key-3d4c"
        let index = [
            server.url("/feed/\(FetchHarness.scene)?\(signed)").absoluteString,
            server.url("/feed/missing_MTL.txt?api_key=SECRET-key-5b6a").absoluteString,
            server.url("/feed/portal_MTL.txt?token=SECRET-token-7980").absoluteString,
        ]
        try h.serve("index.txt", Array(index.joined(separator: "\n").utf8))
        // A retry of the index and of the object each log their URL.
        server.inject(path: "/feed/index.txt", faults: [.status(503)])
        server.inject(path: "/feed/\(FetchHarness.scene)", faults: [.status(503)])
        server.inject(path: "/feed/portal_MTL.txt", faults: [.htmlErrorPage])
        var p = try h.pipeline(
            url: server.url("/feed/index.txt?api_key=SECRET-index-key-0c1d").absoluteString,
            source: "index: true"
        )
        p.limits.backoff = Backoff(base: 0.001, cap: 0.005, retryAfterCap: 1)
        let capture = LogCapture()
        let summary = try await FetchHarness.ingest(p, logger: capture.logger())
        #expect(summary.records == 1 && summary.quarantined == 2, "\(FetchHarness.quarantineReasons(p))")

        // The transfers had their queries…
        #expect(server.requests().contains { $0.path == "/feed/\(FetchHarness.scene)" && $0.query == signed })
        #expect(
            server.requests().contains { $0.path == "/feed/index.txt" && $0.query == "api_key=SECRET-index-key-0c1d" }
        )
        // …the state knows the object by its URL with the query's digest…
        let known = server.url("/feed/\(FetchHarness.scene)?query-sha256=\(Digest.sha256Hex(Array(signed.utf8)))")
        await #expect(try FetchHarness.object(p, url: known)?.sha256 == Digest.sha256Hex(bytes))
        #expect(FetchHarness.quarantineReasons(p).contains { $0.contains("HTTP 404") && $0.contains("query-sha256=") })
        #expect(capture.text.contains("retrying"), "the retries were logged")
        let evidence = try FileManager.default.subpathsOfDirectory(atPath: p.quarantineFolder.path)
        #expect(evidence.contains { $0.hasSuffix(".reason") }, "the error page was kept as evidence: \(evidence)")

        // …and no secret is anywhere.
        var haystacks: [(String, [UInt8])] = [("log", Array(capture.text.utf8))]
        haystacks += try CredentialLeakTests.files(under: p.stateFolder)
        #expect(
            haystacks.contains { $0.0.hasSuffix("test.sqlite") }
                && haystacks.contains { $0.0.hasSuffix("ledger.jsonl") }
        )
        let leaked = haystacks.filter { CredentialLeakTests.contains($0.1, Array("SECRET".utf8)) }.map(\.0)
        #expect(leaked.isEmpty, "a query leaked into \(leaked)")
    }

    @Test func anObjectsKeptURLHasTheQueryDigestInPlaceOfTheQuery() {
        let url = URL(string: "https://eo:pw@data.example.org/a/obj.txt.gz?X-Amz-Signature=abc&api_key=k#frag")!
        let ref = ObjectRef(source: "s", url: url, name: "obj.txt.gz")
        let digest = Digest.sha256Hex(Array("X-Amz-Signature=abc&api_key=k".utf8))
        #expect(ref.url.absoluteString == "https://data.example.org/a/obj.txt.gz?query-sha256=\(digest)")
        #expect(
            ref.transferURL.absoluteString == "https://data.example.org/a/obj.txt.gz?X-Amz-Signature=abc&api_key=k#frag"
        )
        #expect(Redact.url(url) == ref.url.absoluteString)
        let plain = URL(string: "https://data.example.org/a/obj.txt.gz")!
        #expect(ObjectRef(source: "s", url: plain, name: "obj.txt.gz").url == plain)
        // libcurl's messages may quote the query or a part of it.
        let message = "error near X-Amz-Signature=abc&api_key=k and k2 and abc"
        #expect(!Redact.text(message, url: url, secrets: []).contains("abc"))
    }
}
