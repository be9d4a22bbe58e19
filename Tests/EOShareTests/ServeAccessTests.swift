import EOShare
import EOShareServe
import Foundation
import Testing

/// Who reaches what: tokens per member (missing, wrong, another member's), the hashed token
/// file and its bad lines, and records a member may not see (404 by id, absent from search,
/// filters and pages, their assets unreachable).
@Suite(.serialized) struct ServeAccessTests {
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
        func add(_ line: String) {
            lock.lock()
            lines.append(line)
            lock.unlock()
        }
        var all: [String] {
            lock.lock()
            defer { lock.unlock() }
            return lines
        }
    }

    @Test func tokensAreCheckedPerMemberAndNeverLogged() async throws {
        let folder = try await ServeHarness.ingested.value
        let log = Lines()
        let server = try await ServeHarness.start(folder, at: ServeHarness.ingestAt, log: log.add)
        defer { Task { await server.stop() } }
        let url = "\(server.base)/ESA/search"

        let missing = try await ServeHarness.get(url)
        #expect(missing.status == 401)
        #expect(missing.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
        let wrong = try await ServeHarness.get(url, token: "esa-token-19bd")
        #expect(wrong.status == 401)
        #expect(wrong.headers["www-authenticate"]?.contains("invalid_token") == true)
        let others = try await ServeHarness.get(url, token: ServeHarness.tokens["NASA"]!)
        #expect(others.status == 401, "NASA's token opened ESA's prefix")
        let basic = try await ServeHarness.get(url, headers: ["Authorization": "Basic RVNBOmVzYS10b2tlbi0xOWJj"])
        #expect(basic.status == 401)
        let right = try await ServeHarness.get(url, token: ServeHarness.tokens["ESA"]!)
        #expect(right.status == 200)
        #expect(right.headers["content-type"] == "application/geo+json")
        // The public needs none; an unknown prefix is not found.
        #expect(try await ServeHarness.get("\(server.base)/public/search").status == 200)
        #expect(try await ServeHarness.get("\(server.base)/NOBODY/search").status == 404)
        // Every request is logged with its viewer, method, path and status, never a token.
        let lines = log.all
        #expect(lines.count >= 7)
        #expect(lines.contains { $0.contains(" ESA GET /ESA/search 401 ") })
        #expect(lines.contains { $0.contains(" ESA GET /ESA/search 200 ") })
        for token in ServeHarness.tokens.values + ["esa-token-19bd", "RVNBOmVzYS10b2tlbi0xOWJj"] {
            #expect(!lines.contains { $0.contains(token) })
        }
    }

    @Test func theTokenFileKeepsHashesAndNamesItsBadLines() throws {
        let members: Set<String> = ["NASA", "ESA"]
        let hash = Digest.sha256Hex(Array("secret".utf8))
        let file = try TokenFile.parse(
            "# comment\n\nNASA \(hash)\nESA\t\(hash.uppercased())\n",
            name: "t",
            members: members
        )
        #expect(file.admits("secret", as: "NASA") && file.admits("secret", as: "ESA"))
        #expect(!file.admits("secret ", as: "NASA") && !file.admits("", as: "NASA") && !file.admits(hash, as: "NASA"))
        func error(_ text: String) -> String {
            do {
                _ = try TokenFile.parse(text, name: "api-tokens", members: members)
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(
            error("NASA \(hash)\nESA\n")
                == "tokens file api-tokens:2: expected 'MEMBER <sha256 hex of the token>', found 1 fields"
        )
        #expect(error("JAXA \(hash)") == "tokens file api-tokens:1: 'JAXA' is not a member of the pipeline")
        #expect(error("public \(hash)") == "tokens file api-tokens:1: public needs no token")
        #expect(
            error("NASA secret") == "tokens file api-tokens:1: the hash of NASA's token is not 64 hex digits (SHA-256)"
        )
        #expect(
            error("NASA \(hash.dropLast())x")
                == "tokens file api-tokens:1: the hash of NASA's token is not 64 hex digits (SHA-256)"
        )
        #expect(
            error("NASA \(hash) extra")
                == "tokens file api-tokens:1: expected 'MEMBER <sha256 hex of the token>', found 3 fields"
        )
    }

    /// The comparison reads every byte of both inputs whatever they hold: it is built with no
    /// early exit (checked here for its answers; its time is not measured in a test).
    @Test func theComparisonIsWholeAndAnswersRight() {
        let a: [UInt8] = Array(repeating: 0xAB, count: 32)
        var lastDiffers = a
        lastDiffers[31] ^= 1
        var firstDiffers = a
        firstDiffers[0] ^= 0x80
        #expect(TokenFile.constantTimeEqual(a, a))
        #expect(!TokenFile.constantTimeEqual(a, lastDiffers))
        #expect(!TokenFile.constantTimeEqual(a, firstDiffers))
        #expect(!TokenFile.constantTimeEqual(a, Array(a.prefix(31))))
        #expect(!TokenFile.constantTimeEqual(a, a + [0]))
        #expect(!TokenFile.constantTimeEqual([], a))
        #expect(TokenFile.constantTimeEqual([], []))
        // A length difference that is a multiple of 256 still differs.
        #expect(!TokenFile.constantTimeEqual([], Array(repeating: 0, count: 256)))
    }

    @Test func aBadTokenFileStopsTheServerFromStarting() async throws {
        let folder = RepoPaths.temporaryFolder("serve-bad-tokens")
        try Data("NASA 1234\n".utf8).write(to: folder.appendingPathComponent("api-tokens"))
        try ServeHarness.writePipeline(folder)
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("feed"),
            withIntermediateDirectories: true
        )
        let p = Process()
        p.executableURL = RepoPaths.executable("eoshare")
        p.arguments = ["serve", folder.appendingPathComponent("serve.yml").path, "--listen", "127.0.0.1:0"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 78)
        #expect(text.contains("api-tokens:1: the hash of NASA's token is not 64 hex digits"), "\(text)")
        // The pipeline loader checks the serve block's keys like any other.
        let yaml = try String(contentsOf: folder.appendingPathComponent("serve.yml"), encoding: .utf8)
            .replacingOccurrences(of: "serve: {tokens: api-tokens}", with: "serve: {tokens: api-tokens, port: 8080}")
        try Data(yaml.utf8).write(to: folder.appendingPathComponent("serve.yml"))
        #expect(throws: ConfigError.self) { try Pipeline.load(from: folder.appendingPathComponent("serve.yml")) }
        let certificateOnly = yaml.replacingOccurrences(of: ", port: 8080", with: ", certificate: cert.pem")
        try Data(certificateOnly.utf8).write(to: folder.appendingPathComponent("serve.yml"))
        do {
            _ = try Pipeline.load(from: folder.appendingPathComponent("serve.yml"))
            Issue.record("a certificate without a key was accepted")
        } catch {
            #expect("\(error)".contains("TLS needs both certificate and key"))
        }
    }

    @Test(arguments: ServeHarness.stores)
    func aRecordAMemberMayNotSeeIsNotFoundAnywhere(_ store: ServeHarness.Store) async throws {
        let folder = try await ServeHarness.ingested(store)
        let at = ServeHarness.ingestAt
        let subjects = try await ServeHarness.subjects(folder)
        let hidden = subjects.filter { !ServeEmbargoTests.oracle($0, "ESA", at: at) }
        let seen = subjects.filter { ServeEmbargoTests.oracle($0, "ESA", at: at) }
        let secret = try #require(hidden.first)
        #expect(!seen.isEmpty)
        let server = try await ServeHarness.start(folder, at: at)
        defer { Task { await server.stop() } }
        let esa = ServeHarness.tokens["ESA"]!
        let nasa = ServeHarness.tokens["NASA"]!
        let items = "\(server.base)/ESA/collections/landsat-c2-l2/items"

        // By id: exactly as an id that does not exist.
        let direct = try await ServeHarness.get("\(items)/\(secret.id)", token: esa)
        let nothing = try await ServeHarness.get("\(items)/NO_SUCH_RECORD", token: esa)
        #expect(direct.status == 404 && nothing.status == 404)
        #expect(
            String(decoding: direct.body, as: UTF8.self)
                == String(decoding: nothing.body, as: UTF8.self).replacingOccurrences(
                    of: "NO_SUCH_RECORD",
                    with: secret.id
                )
        )
        // The owner sees it, with links and an asset href the API serves.
        let owned = try await ServeHarness.get(
            "\(server.base)/NASA/collections/landsat-c2-l2/items/\(secret.id)",
            token: nasa
        )
        #expect(owned.status == 200)
        let item = try ServeHarness.json(owned.body)
        let rels = item["links"]?.arrayValue?.compactMap { $0["rel"]?.stringValue } ?? []
        #expect(Set(rels) == ["self", "parent", "collection", "root"])
        let asset = try #require(item["assets"]?.objectValue?.entries.first?.value["href"]?.stringValue)
        #expect(asset.hasPrefix("\(server.base)/NASA/collections/landsat-c2-l2/items/\(secret.id)/assets/"))
        let whole = try await ServeHarness.get(asset, token: nasa)
        #expect(whole.status == 200 && whole.body.count > 20)
        let part = try await ServeHarness.get(asset, token: nasa, headers: ["Range": "bytes=5-14"])
        #expect(part.status == 206 && part.body == Array(whole.body[5...14]))
        #expect(part.headers["content-range"] == "bytes 5-14/\(whole.body.count)")
        let tail = try await ServeHarness.get(asset, token: nasa, headers: ["Range": "bytes=-4"])
        #expect(tail.status == 206 && tail.body == Array(whole.body.suffix(4)))
        let beyond = try await ServeHarness.get(asset, token: nasa, headers: ["Range": "bytes=999999-"])
        #expect(beyond.status == 416)
        // ESA cannot reach the asset under its own prefix either.
        let esaAsset = asset.replacingOccurrences(of: "/NASA/", with: "/ESA/")
        #expect(try await ServeHarness.get(esaAsset, token: esa).status == 404)

        // Search, ids, filter and every page: never the hidden record.
        func ids(_ body: [UInt8]) throws -> [String] {
            try ServeHarness.json(body)["features"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        let byIds = try await ServeHarness.get("\(server.base)/ESA/search?ids=\(secret.id)", token: esa)
        #expect(try ids(byIds.body).isEmpty)
        let filtered = try await ServeHarness.get(
            "\(server.base)/ESA/search?filter=" + STACAPITestEscape.query("id = '\(secret.id)' OR id <> ''"),
            token: esa
        )
        #expect(filtered.status == 200)
        let filteredIds = try ids(filtered.body)
        #expect(
            !filteredIds.isEmpty && Set(filteredIds).isSubset(of: Set(seen.map(\.id)))
                && !filteredIds.contains(secret.id)
        )
        let post = try await ServeHarness.get(
            "\(server.base)/ESA/search",
            token: esa,
            method: "POST",
            body: Array(
                #"{"filter-lang":"cql2-json","filter":{"op":"=","args":[{"property":"id"},"\#(secret.id)"]}}"#.utf8
            )
        )
        let postIds = try ids(post.body)
        #expect(post.status == 200 && postIds.isEmpty)
        var collected: [String] = []
        var next: String? = "\(server.base)/ESA/search?limit=5&sortby=-eo:cloud_cover"
        var pages = 0
        while let url = next, pages < 50 {
            let page = try await ServeHarness.get(url, token: esa)
            #expect(page.status == 200)
            collected += try ids(page.body)
            next = try ServeHarness.json(page.body)["links"]?.arrayValue?.first { $0["rel"]?.stringValue == "next" }?[
                "href"
            ]?
            .stringValue
            pages += 1
        }
        #expect(pages > 1)
        #expect(collected.count == Set(collected).count)
        #expect(Set(collected) == Set(seen.map(\.id)))
    }

    @Test func aHoldAddedToThePipelineFileAppliesAtTheNextRequest() async throws {
        // A copy of the ingested folder: this test edits its pipeline file.
        let source = try await ServeHarness.ingested.value
        let folder = RepoPaths.temporaryFolder("serve-reload")
        try FileManager.default.removeItem(at: folder)
        try FileManager.default.copyItem(at: source, to: folder)
        let at = ServeHarness.ingestAt
        let subjects = try await ServeHarness.subjects(folder)
        let target = try #require(subjects.first { ServeEmbargoTests.oracle($0, "JAXA", at: at) })
        let server = try await ServeHarness.start(folder, at: at)
        defer { Task { await server.stop() } }
        let url = "\(server.base)/JAXA/collections/landsat-c2-l2/items/\(target.id)"
        let jaxa = ServeHarness.tokens["JAXA"]!
        #expect(try await ServeHarness.get(url, token: jaxa).status == 200)
        try ServeHarness.writePipeline(folder, policy: ServeHarness.policy(holdPattern: target.id))
        #expect(try await ServeHarness.get(url, token: jaxa).status == 404)
        // A pipeline file that no longer loads stops every answer rather than serve an old policy.
        try Data("version: 1\nmembers: [".utf8).write(to: folder.appendingPathComponent("serve.yml"))
        #expect(try await ServeHarness.get(url, token: jaxa).status == 503)
        #expect(try await ServeHarness.get("\(server.base)/public/search").status == 503)
        try ServeHarness.writePipeline(folder)
        #expect(try await ServeHarness.get(url, token: jaxa).status == 200)
    }
}

enum STACAPITestEscape {
    static func query(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}
