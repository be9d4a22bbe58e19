import Foundation
import Testing

/// Drives `TestHTTPServer` with the real `curl` command-line tool (and raw sockets for malformed input) to prove
/// it behaves like a real HTTP/1.1 server and that every injected fault looks the way a client would see it.
@Suite("TestHTTPServer")
struct TestHTTPServerTests {
    // MARK: - Helpers

    /// One finished `curl` run.
    struct CurlResult {
        let exitCode: Int32
        /// Everything curl wrote to stdout (the bodies).
        let body: [UInt8]
        /// The raw `-D` header dump (all responses).
        let headerText: String
        let stderr: String
        let elapsed: Double

        /// Header blocks of the responses, in order, each as (status, [(name, value)]).
        var responses: [(status: Int, headers: [(String, String)])] {
            var result: [(status: Int, headers: [(String, String)])] = []
            for line in headerText.components(separatedBy: "\r\n") {
                if line.hasPrefix("HTTP/") {
                    let code = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
                    result.append((code, []))
                } else if let colon = line.firstIndex(of: ":"), !result.isEmpty {
                    let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    result[result.count - 1].headers.append((String(line[..<colon]), value))
                }
            }
            return result
        }

        /// Status of the last response (0 when none arrived).
        var status: Int { responses.last?.status ?? 0 }

        /// Case-insensitive header of the last response.
        func header(_ name: String) -> String? {
            responses.last?.headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Runs `curl` with `arguments` (proxies disabled, 20 s cap) and collects its output via temporary files.
    static func curl(_ arguments: [String]) throws -> CurlResult {
        try curlConcurrently([arguments])[0]
    }

    /// Starts one `curl` process per argument list at once, then waits for all of them.
    static func curlConcurrently(_ argumentLists: [[String]]) throws -> [CurlResult] {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("TestHTTPServerTests-curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var running: [(process: Process, files: [URL], handles: [FileHandle], start: Date)] = []
        defer {
            for run in running {
                for handle in run.handles { try? handle.close() }
            }
        }
        for (index, arguments) in argumentLists.enumerated() {
            let files = ["out", "err", "headers"].map { scratch.appendingPathComponent("\($0)-\(index)") }
            for file in files { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
            let handles = [try FileHandle(forWritingTo: files[0]), try FileHandle(forWritingTo: files[1])]
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments =
                ["curl", "-sS", "--noproxy", "*", "--max-time", "20", "-D", files[2].path]
                + arguments
            process.standardOutput = handles[0]
            process.standardError = handles[1]
            process.standardInput = FileHandle.nullDevice
            running.append((process, files, handles, Date()))
            try process.run()
        }
        return try running.map { run in
            run.process.waitUntilExit()
            let elapsed = Date().timeIntervalSince(run.start)
            return CurlResult(
                exitCode: run.process.terminationStatus,
                body: [UInt8](try Data(contentsOf: run.files[0])),
                headerText: String(decoding: try Data(contentsOf: run.files[2]), as: UTF8.self),
                stderr: String(decoding: try Data(contentsOf: run.files[1]), as: UTF8.self),
                elapsed: elapsed
            )
        }
    }

    /// A fresh root directory holding `files` (relative path → content); directories are created as needed.
    static func makeRoot(_ files: [String: [UInt8]]) throws -> URL {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("TestHTTPServerTests-\(UUID().uuidString)")
            .appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        for (path, content) in files {
            let file = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try Data(content).write(to: file)
        }
        return root
    }

    static func removeRoot(_ root: URL) {
        try? FileManager.default.removeItem(at: root.deletingLastPathComponent())
    }

    /// Deterministic, non-repeating-looking test bytes.
    static func pattern(_ count: Int, seed: Int = 7) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 31) ^ ($0 >> 8) &+ seed) }
    }

    // MARK: - Listing and plain GET

    @Test("directory index is an Apache-style page, sorted, with parent and sort links")
    func indexPage() throws {
        let root = try Self.makeRoot([
            "b.txt": Array("bee".utf8), "a file.bin": Self.pattern(2048), "sub/c.gz": Self.pattern(10),
            ".hidden": [1],
        ])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }

        let index = try Self.curl([server.baseURL.absoluteString])
        #expect(index.exitCode == 0)
        #expect(index.status == 200)
        #expect(index.header("Content-Type")?.hasPrefix("text/html") == true)
        let html = index.text
        #expect(html.contains("<title>Index of /</title>"))
        #expect(html.contains(#"<a href="a%20file.bin">a file.bin</a>"#))
        #expect(html.contains(#"<a href="b.txt">b.txt</a>"#))
        #expect(html.contains(#"<a href="sub/">sub/</a>"#))
        #expect(html.contains(#"<a href="../">Parent Directory</a>"#))
        #expect(html.contains(#"<a href="?C=N;O=D">Name</a>"#))
        #expect(!html.contains(".hidden"))
        let order = ["a%20file.bin", "b.txt", "sub/"].compactMap { html.range(of: "href=\"\($0)\"")?.lowerBound }
        #expect(order.count == 3 && order == order.sorted())

        let sub = try Self.curl([server.url("sub/").absoluteString])
        #expect(sub.status == 200)
        #expect(sub.text.contains(#"<a href="c.gz">c.gz</a>"#))
        #expect(sub.text.contains("<title>Index of /sub</title>"))
    }

    @Test("a directory without trailing slash redirects with 301 to the slash form")
    func directoryRedirect() throws {
        let root = try Self.makeRoot(["sub/x.txt": [1, 2, 3]])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }

        let redirect = try Self.curl([server.url("sub?x=1").absoluteString])
        #expect(redirect.status == 301)
        #expect(redirect.header("Location") == "http://127.0.0.1:\(server.port)/sub/?x=1")
        let followed = try Self.curl(["-L", server.url("sub").absoluteString])
        #expect(followed.status == 200)
        #expect(followed.text.contains(#"<a href="x.txt">x.txt</a>"#))
    }

    @Test("GET serves exact bytes with length, type, ETag, Last-Modified and Accept-Ranges; HEAD has no body")
    func getFile() throws {
        let data = Self.pattern(100_000)
        let root = try Self.makeRoot([
            "d/x.bin": data, "d/notes.txt": Array("hello\n".utf8), "d/y.gz": [0x1F, 0x8B], "with space.txt": [65],
        ])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }

        let get = try Self.curl([server.url("d/x.bin").absoluteString])
        #expect(get.exitCode == 0)
        #expect(get.status == 200)
        #expect(get.body == data)
        #expect(get.header("Content-Length") == "100000")
        #expect(get.header("Content-Type") == "application/octet-stream")
        #expect(get.header("Accept-Ranges") == "bytes")
        let etag = try #require(get.header("ETag"))
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && !etag.hasPrefix("W/"))
        let lastModified = try #require(get.header("Last-Modified"))
        #expect(lastModified.hasSuffix(" GMT"))

        let head = try Self.curl(["-I", server.url("d/x.bin").absoluteString])
        #expect(head.exitCode == 0)
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == "100000")
        #expect(head.header("ETag") == etag)

        #expect(try Self.curl([server.url("d/notes.txt").absoluteString]).header("Content-Type") == "text/plain")
        #expect(try Self.curl([server.url("d/y.gz").absoluteString]).header("Content-Type") == "application/gzip")
        let spaced = try Self.curl([server.url("with%20space.txt").absoluteString])
        #expect(spaced.status == 200 && spaced.body == [65])
        #expect(try Self.curl([server.url("d/missing").absoluteString]).status == 404)
        #expect(try Self.curl([server.url("d/x.bin/").absoluteString]).status == 404)
        #expect(server.requests().map(\.path).contains("/with space.txt"))
    }

    @Test("paths never escape the root")
    func traversal() throws {
        let root = try Self.makeRoot(["inside.txt": [1]])
        defer { Self.removeRoot(root) }
        try Data("secret".utf8).write(to: root.deletingLastPathComponent().appendingPathComponent("secret.txt"))
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }

        for path in ["/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/sub/..%2f..%2fsecret.txt"] {
            let result = try Self.curl(["--path-as-is", "http://127.0.0.1:\(server.port)\(path)"])
            #expect(result.status == 404, "\(path)")
            #expect(!result.text.contains("secret"), "\(path)")
        }
        let raw = try server.sendRaw("GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(raw.hasPrefix("HTTP/1.1 404 "))
    }

    // MARK: - Conditional and range requests

    @Test("If-None-Match and If-Modified-Since give 304; changed files get a new ETag")
    func conditionalRequests() throws {
        let root = try Self.makeRoot(["f.bin": Self.pattern(1000)])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        let url = server.url("f.bin").absoluteString

        let first = try Self.curl([url])
        let etag = try #require(first.header("ETag"))
        let lastModified = try #require(first.header("Last-Modified"))

        let byTag = try Self.curl(["-H", "If-None-Match: \(etag)", url])
        #expect(byTag.status == 304)
        #expect(byTag.body.isEmpty)
        #expect(byTag.header("ETag") == etag)
        #expect(try Self.curl(["-H", "If-None-Match: \"other\", W/\(etag)", url]).status == 304)
        #expect(try Self.curl(["-H", "If-None-Match: \"other\"", url]).status == 200)
        #expect(try Self.curl(["-H", "If-Modified-Since: \(lastModified)", url]).status == 304)
        #expect(try Self.curl(["-H", "If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT", url]).status == 200)
        // If-None-Match wins over If-Modified-Since.
        let both = try Self.curl(["-H", "If-None-Match: \"other\"", "-H", "If-Modified-Since: \(lastModified)", url])
        #expect(both.status == 200)

        try Data(Self.pattern(1001)).write(to: root.appendingPathComponent("f.bin"))
        let changed = try Self.curl(["-H", "If-None-Match: \(etag)", url])
        #expect(changed.status == 200)
        #expect(changed.body.count == 1001)
        #expect(changed.header("ETag") != etag)
    }

    @Test("Range gives 206 with Content-Range, 416 when unsatisfiable, 200 on If-Range mismatch or when disabled")
    func ranges() throws {
        let data = Self.pattern(1000)
        let root = try Self.makeRoot(["f.bin": data])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        let url = server.url("f.bin").absoluteString
        let etag = try #require(try Self.curl(["-I", url]).header("ETag"))

        let middle = try Self.curl(["-r", "10-19", url])
        #expect(middle.status == 206)
        #expect(middle.header("Content-Range") == "bytes 10-19/1000")
        #expect(middle.header("Content-Length") == "10")
        #expect(middle.body == Array(data[10...19]))

        let tail = try Self.curl(["-r", "990-", url])
        #expect(tail.status == 206)
        #expect(tail.header("Content-Range") == "bytes 990-999/1000")
        #expect(tail.body == Array(data[990...]))

        let suffix = try Self.curl(["-r", "-5", url])
        #expect(suffix.header("Content-Range") == "bytes 995-999/1000")
        let clamped = try Self.curl(["-r", "995-5000", url])
        #expect(clamped.header("Content-Range") == "bytes 995-999/1000")

        let beyond = try Self.curl(["-r", "1000-", url])
        #expect(beyond.status == 416)
        #expect(beyond.header("Content-Range") == "bytes */1000")

        let matching = try Self.curl(["-r", "10-19", "-H", "If-Range: \(etag)", url])
        #expect(matching.status == 206)
        let mismatching = try Self.curl(["-r", "10-19", "-H", "If-Range: \"stale\"", url])
        #expect(mismatching.status == 200)
        #expect(mismatching.body == data)

        server.rangeSupport = false
        let ignored = try Self.curl(["-r", "10-19", url])
        #expect(ignored.status == 200)
        #expect(ignored.body == data)
        #expect(ignored.header("Accept-Ranges") == nil)
    }

    @Test("etagSupport and lastModifiedSupport switches remove validators and ignore the matching conditions")
    func validatorSwitches() throws {
        let root = try Self.makeRoot(["f.bin": Self.pattern(100)])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        let url = server.url("f.bin").absoluteString
        let first = try Self.curl([url])
        let etag = try #require(first.header("ETag"))
        let lastModified = try #require(first.header("Last-Modified"))

        server.etagSupport = false
        let noTag = try Self.curl(["-H", "If-None-Match: \(etag)", url])
        #expect(noTag.status == 200)
        #expect(noTag.header("ETag") == nil)
        #expect(noTag.header("Last-Modified") == lastModified)
        #expect(try Self.curl(["-H", "If-Modified-Since: \(lastModified)", url]).status == 304)

        server.lastModifiedSupport = false
        let plain = try Self.curl(["-H", "If-Modified-Since: \(lastModified)", url])
        #expect(plain.status == 200)
        #expect(plain.header("Last-Modified") == nil)
    }

    @Test("in-memory bodies get a content-hash ETag and support conditional and range requests")
    func staticBodies() throws {
        let root = try Self.makeRoot([:])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        server.setBody(path: "/api/obj.json", body: Array(#"{"a":1}"#.utf8), contentType: "application/json")
        let url = server.url("api/obj.json").absoluteString

        let get = try Self.curl([url])
        #expect(get.status == 200)
        #expect(get.text == #"{"a":1}"#)
        #expect(get.header("Content-Type") == "application/json")
        let etag = try #require(get.header("ETag"))
        #expect(try Self.curl(["-H", "If-None-Match: \(etag)", url]).status == 304)
        let range = try Self.curl(["-r", "1-3", url])
        #expect(range.status == 206 && range.text == #""a""#)

        server.setBody(path: "api/obj.json", body: Array(#"{"a":2}"#.utf8), contentType: "application/json")
        let changed = try Self.curl(["-H", "If-None-Match: \(etag)", url])
        #expect(changed.status == 200)
        #expect(changed.header("ETag") != etag)
        server.removeBody(path: "/api/obj.json")
        #expect(try Self.curl([url]).status == 404)
    }

    // MARK: - Faults

    @Test("status fault: 503 with Retry-After on the first attempt, then success")
    func statusFault() throws {
        let data = Self.pattern(500)
        let root = try Self.makeRoot(["a/b.gz": data])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        server.inject(path: "/a/b.gz", faults: [.status(503, retryAfter: 2), .status(429)])
        #expect(server.pendingFaults(path: "/a/b.gz") == 2)
        let url = server.url("a/b.gz").absoluteString

        let first = try Self.curl([url])
        #expect(first.status == 503)
        #expect(first.header("Retry-After") == "2")
        #expect(try Self.curl(["--fail", url]).exitCode == 22)  // 429
        let third = try Self.curl([url])
        #expect(third.status == 200 && third.body == data)
        #expect(server.pendingFaults(path: "/a/b.gz") == 0)
        #expect(server.requests().map(\.status) == [503, 429, 200])
        #expect(server.requests().first?.fault == .status(503, retryAfter: 2))
    }

    @Test("resetAfter sends headers and N bytes then an RST: curl fails with 56 (or 18)")
    func resetFault() throws {
        let data = Self.pattern(200_000)
        let root = try Self.makeRoot(["big.bin": data])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        server.inject(path: "/big.bin", faults: [.resetAfter(bytes: 1000)])
        let url = server.url("big.bin").absoluteString

        let broken = try Self.curl([url])
        #expect(broken.exitCode == 56 || broken.exitCode == 18, "\(broken.stderr)")
        #expect(broken.status == 200)
        #expect(broken.body.count <= 1000)
        #expect(broken.body == Array(data.prefix(broken.body.count)))
        let retry = try Self.curl([url])
        #expect(retry.exitCode == 0 && retry.body == data)

        // The raw view: exactly the header block plus 1000 body bytes arrive before the reset.
        server.inject(path: "/big.bin", faults: [.resetAfter(bytes: 1000)])
        let raw = try server.sendRaw(Array("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n".utf8), halfClose: false)
        let separator = try #require(raw.firstRange(of: Array("\r\n\r\n".utf8)))
        #expect(raw.count - separator.upperBound == 1000)
    }

    @Test("truncate announces the full length, sends N bytes and closes: curl error 18")
    func truncateFault() throws {
        let data = Self.pattern(10_000)
        let root = try Self.makeRoot(["t.bin": data])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        server.inject(path: "t.bin", faults: [.truncate(bytes: 500)])
        let url = server.url("t.bin").absoluteString

        let short = try Self.curl([url])
        #expect(short.exitCode == 18, "\(short.stderr)")
        #expect(short.header("Content-Length") == "10000")
        #expect(short.body == Array(data.prefix(500)))
        #expect(try Self.curl([url]).body == data)
    }

    @Test("slowBody trickles the body at the given rate")
    func slowBodyFault() throws {
        let data = Self.pattern(2000)
        let root = try Self.makeRoot(["s.bin": data])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        server.inject(path: "/s.bin", faults: [.slowBody(bytesPerSecond: 4000), .slowBody(bytesPerSecond: 100)])
        let url = server.url("s.bin").absoluteString

        let slow = try Self.curl([url])
        #expect(slow.exitCode == 0 && slow.body == data)
        #expect(slow.elapsed >= 0.4)
        // A client-side low-speed limit trips on a trickle (curl error 28).
        let stalled = try Self.curl(["--speed-limit", "1000", "--speed-time", "1", url])
        #expect(stalled.exitCode == 28)
    }

    @Test("htmlErrorPage answers 200 text/html with an error page instead of the file")
    func htmlErrorPageFault() throws {
        let data = Self.pattern(300)
        let root = try Self.makeRoot(["x.gz": data])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        server.inject(path: "/x.gz", faults: [.htmlErrorPage])
        let url = server.url("x.gz").absoluteString

        let page = try Self.curl([url])
        #expect(page.exitCode == 0 && page.status == 200)
        #expect(page.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(page.text.contains("<html>"))
        #expect(page.header("ETag") == nil)
        #expect(try Self.curl([url]).body == data)
    }

    @Test("delay holds the response back; a client timeout fires (curl error 28)")
    func delayFault() throws {
        let root = try Self.makeRoot(["d.txt": [1, 2]])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        server.inject(path: "/d.txt", faults: [.delay(seconds: 0.5), .delay(seconds: 3)])
        let url = server.url("d.txt").absoluteString

        let late = try Self.curl([url])
        #expect(late.exitCode == 0 && late.body == [1, 2])
        #expect(late.elapsed >= 0.45)
        let timedOut = try Self.curl(["--max-time", "0.3", url])
        #expect(timedOut.exitCode == 28)

        server.inject(path: "/d.txt", faults: [.combined([.delay(seconds: 0.2), .status(502)])])
        let combined = try Self.curl([url])
        #expect(combined.status == 502 && combined.elapsed >= 0.15)
    }

    // MARK: - Connections

    @Test("keep-alive: two URLs in one curl run share one connection; Connection: close does not")
    func keepAlive() throws {
        let root = try Self.makeRoot(["one.txt": [1], "two.txt": [2]])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        let urls = [server.url("one.txt").absoluteString, server.url("two.txt").absoluteString]

        let reused = try Self.curl(["-v"] + urls)
        #expect(reused.exitCode == 0 && reused.body == [1, 2])
        #expect(reused.stderr.contains("Re-using existing connection"))
        #expect(server.connectionCount == 1)
        #expect(Set(server.requests().map(\.connection)) == [1])

        let closing = try Self.curl(["-H", "Connection: close"] + urls)
        #expect(closing.body == [1, 2])
        #expect(server.connectionCount == 3)

        server.keepAliveSupport = false
        let refused = try Self.curl(urls)
        #expect(refused.header("Connection") == "close")
        #expect(server.connectionCount == 5)
    }

    @Test("pipelined requests on one connection are answered in order")
    func pipelining() throws {
        let root = try Self.makeRoot(["a.txt": Array("AAA".utf8), "b.txt": Array("BB".utf8)])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }

        let reply = try server.sendRaw(
            "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /b.txt HTTP/1.0\r\n\r\n"
        )
        #expect(reply.components(separatedBy: "HTTP/1.1 200 OK").count == 4)
        #expect(reply.contains("\r\n\r\nAAA"))
        #expect(reply.hasSuffix("\r\n\r\nBB"))
        #expect(server.requests().map(\.method) == ["GET", "HEAD", "GET"])
        #expect(server.connectionCount == 1)
    }

    @Test("malformed requests get 400 (or 405/431/501/505) and the server keeps working")
    func malformedRequests() throws {
        let root = try Self.makeRoot(["ok.txt": [79, 75]])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }

        let cases: [(String, String)] = [
            ("GARBAGE\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\n\r\n", "400"),  // no Host
            ("GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n", "400"),
            ("GET /ok.txt HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "400"),
            ("GET noslash HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            ("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            ("GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "501"),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"),
            ("POST /ok.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", "405"),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "y", count: 70_000) + "\r\n\r\n", "431"),
        ]
        for (request, status) in cases {
            let reply = try server.sendRaw(request)
            #expect(reply.hasPrefix("HTTP/1.1 \(status) "), "\(request.prefix(60).debugDescription) → \(reply)")
        }
        let binary = try server.sendRaw([0, 255, 13, 10, 13, 10, 7, 8])
        #expect(binary.starts(with: Array("HTTP/1.1 400 ".utf8)))
        _ = try server.sendRaw([])  // connect and hang up at once
        _ = try server.sendRaw(Array("GET /ok.txt HT".utf8))  // half a request, then EOF

        #expect(server.requests().filter { $0.status == 400 }.count >= 9)
        let fine = try Self.curl([server.url("ok.txt").absoluteString])
        #expect(fine.exitCode == 0 && fine.text == "OK")
    }

    @Test("idle connections are closed after the read timeout")
    func readTimeout() throws {
        let root = try Self.makeRoot([:])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root, readTimeout: 0.5)
        defer { server.stop() }
        let start = Date()
        let reply = try server.sendRaw(Array("GET / HTTP/1.1\r\n".utf8), halfClose: false, timeout: 5)
        #expect(reply.isEmpty)
        #expect(Date().timeIntervalSince(start) < 3)
    }

    @Test("parallel clients are all served")
    func concurrentClients() throws {
        let data = Self.pattern(300_000)
        let root = try Self.makeRoot(["p.bin": data])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        let url = server.url("p.bin").absoluteString
        let results = try Self.curlConcurrently(Array(repeating: [url], count: 12))
        for result in results {
            #expect(result.exitCode == 0)
            #expect(result.body == data)
        }
        #expect(server.requestCount(path: "/p.bin") == 12)
    }

    @Test("stop closes the listener and open connections and is idempotent")
    func stopping() throws {
        let root = try Self.makeRoot(["s.bin": Self.pattern(1000)])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        let url = server.url("s.bin").absoluteString
        server.inject(path: "/s.bin", faults: [.delay(seconds: 30)])
        let stalled = Thread {
            _ = try? Self.curl([url])
        }
        stalled.start()
        Thread.sleep(forTimeInterval: 0.3)
        let start = Date()
        server.stop()
        #expect(Date().timeIntervalSince(start) < 2)
        server.stop()
        #expect(try Self.curl([url]).exitCode == 7)  // connection refused
    }

    @Test("deinit stops the server")
    func deinitStops() throws {
        let root = try Self.makeRoot([:])
        defer { Self.removeRoot(root) }
        var server: TestHTTPServer? = try TestHTTPServer(root: root)
        let url = try #require(server?.baseURL.absoluteString)
        #expect(try Self.curl([url]).status == 200)
        server = nil
        #expect(try Self.curl([url]).exitCode == 7)
    }

    // MARK: - Request log

    @Test("the request log records method, path, headers and status; an unchanged re-run is only conditional")
    func requestLog() throws {
        let root = try Self.makeRoot(["d/a.bin": Self.pattern(10), "d/b.bin": Self.pattern(20)])
        defer { Self.removeRoot(root) }
        let server = try TestHTTPServer(root: root)
        defer { server.stop() }
        let urls = ["d/a.bin", "d/b.bin"].map { server.url($0).absoluteString }

        var etags: [String] = []
        for url in urls { etags.append(try #require(try Self.curl([url]).header("ETag"))) }
        #expect(server.requestCount(path: "/d/a.bin") == 1)
        let first = try #require(server.requests().first)
        #expect(first.method == "GET" && first.path == "/d/a.bin" && first.status == 200)
        #expect(first.header("user-agent")?.hasPrefix("curl/") == true)
        #expect(first.header("HOST") == "127.0.0.1:\(server.port)")
        #expect(!first.isConditional)

        server.resetLog()
        #expect(server.requests().isEmpty)
        for (url, etag) in zip(urls, etags) { _ = try Self.curl(["-H", "If-None-Match: \(etag)", url]) }
        let rerun = server.requests()
        #expect(rerun.count == 2)
        #expect(rerun.allSatisfy { $0.isConditional && $0.status == 304 })
        #expect(rerun.map(\.path) == ["/d/a.bin", "/d/b.bin"])
        #expect(server.requestCount(path: "d/b.bin") == 1)
    }
}
