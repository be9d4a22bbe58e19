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

/// Credentials reach the server and nowhere else: an authenticated ingest with known secrets
/// (bearer token, basic from the environment, netrc, a URL's userinfo), successes and
/// failures (401, a wrong userinfo), then every byte of the SQLite files, the ledger, the
/// quarantine folder and the captured log is searched for each secret.
@Suite struct CredentialLeakTests {
    static let secrets = [
        "bearer-SECRET-7d1f", "basic-SECRET-93ab", "netrc-SECRET-41e0", "userinfo-SECRET-55c2",
        "wrongbearer-SECRET-0a0a", "wronguserinfo-SECRET-1b1b", "wrongsingle-SECRET-2c2c",
    ]

    static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    @Test func secretsNeverReachLogsStateLedgerOrReasons() async throws {
        let h = try FetchHarness()
        let scenes = [
            "LC08_L2SP_005009_20150710_20200908_02_T2_MTL.txt", "LC08_L2SP_008059_20191201_20200825_02_T1_MTL.txt",
            "LC08_L2SP_017036_20130419_20200913_02_T2_MTL.txt", "LC08_L2SR_084024_20160111_20201016_02_T1_MTL.txt",
        ]
        for scene in scenes { try h.serve(scene, try FetchHarness.sceneBytes(scene)) }
        let bearer = try TestHTTPServer(root: h.www)
        bearer.requiredAuthorization = "Bearer bearer-SECRET-7d1f"
        let basic = try TestHTTPServer(root: h.www)
        basic.requiredAuthorization = Self.basic("eo", "basic-SECRET-93ab")
        let netrc = try TestHTTPServer(root: h.www)
        netrc.requiredAuthorization = Self.basic("eo", "netrc-SECRET-41e0")
        let userinfo = try TestHTTPServer(root: h.www)
        userinfo.requiredAuthorization = Self.basic("eo", "userinfo-SECRET-55c2")
        defer { for server in [bearer, basic, netrc, userinfo] { server.stop() } }
        let netrcFile = h.folder.appendingPathComponent("netrc")
        try Data("machine 127.0.0.1 login eo password netrc-SECRET-41e0\n".utf8).write(to: netrcFile)

        func source(_ id: String, _ url: String, _ extra: String) -> String {
            """
              - {id: \(id), owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: "\(url)", \(extra)}
            """
        }
        let u = userinfo.port
        let yaml = """
            version: 1
            state: state/test.sqlite
            shared: shared/
            members:
              - {id: NASA, name: NASA}
            collections:
              - {id: landsat-c2-l2, title: Landsat}
            sources:
            \(source("s-bearer", bearer.url("/feed/").absoluteString,
                     "match: [\"*005009*\"], auth: {bearer_token_env: EO_TOKEN}"))
            \(source("s-basic", basic.url("/feed/").absoluteString,
                     "match: [\"*008059*\"], auth: {basic_env: [EO_USER, EO_PASS]}"))
            \(source("s-netrc", netrc.url("/feed/").absoluteString, "match: [\"*017036*\"], auth: {netrc: true}"))
            \(source("s-userinfo", "http://eo:userinfo-SECRET-55c2@127.0.0.1:\(u)/feed/", "match: [\"*084024*\"]"))
            \(source("s-bearer-401", bearer.url("/feed/").absoluteString, "auth: {bearer_token_env: EO_WRONG}"))
            \(source("s-userinfo-401", "http://eo:wronguserinfo-SECRET-1b1b@127.0.0.1:\(u)/feed/", "match: [\"*\"]"))
            \(source("s-single-401", "http://eo:wrongsingle-SECRET-2c2c@127.0.0.1:\(u)/feed/\(scenes[0])",
                     "match: [\"*\"]"))
            limits: {fetch_workers: 3, retries: 1}
            embargo:
              rules:
                - {match: {owner: NASA}, clock: acquired, period: P30D}
            """
        let file = h.folder.appendingPathComponent("pipeline.yml")
        try Data(yaml.utf8).write(to: file)
        var p = try Pipeline.load(from: file)
        p.limits.backoff = Backoff(base: 0.005, cap: 0.05, retryAfterCap: 1)
        p.environment = [
            "EO_TOKEN": "bearer-SECRET-7d1f", "EO_USER": "eo", "EO_PASS": "basic-SECRET-93ab",
            "EO_WRONG": "wrongbearer-SECRET-0a0a", "NETRC": netrcFile.path,
        ]
        let capture = LogCapture()
        let summary = try await IngestRun(pipeline: p, at: FetchHarness.at, logger: capture.logger()).run()

        // The right credentials work, each kind of them…
        #expect(summary.records == 4, "\(FetchHarness.quarantineReasons(p))")
        // …and the wrong ones fail with a reason that names the refusal, not the secret.
        let reasons = FetchHarness.quarantineReasons(p)
        #expect(reasons.count == 3, "\(reasons)")
        #expect(reasons.allSatisfy { $0.contains("HTTP 401") }, "\(reasons)")
        #expect(reasons.contains { $0.contains("http://127.0.0.1:\(u)/feed/\(scenes[0])") }, "\(reasons)")

        // Where a secret could land: the state (with its WAL), the ledger, quarantine, logs.
        var haystacks: [(String, [UInt8])] = [("log", Array(capture.text.utf8)), ("summary", Array(summary.line.utf8))]
        haystacks += try CredentialLeakTests.files(under: p.stateFolder)
        #expect(haystacks.contains { $0.0.hasSuffix("test.sqlite") })
        #expect(haystacks.contains { $0.0.hasSuffix("ledger.jsonl") })
        #expect(capture.text.contains("HTTP 401"), "the failures were logged")
        for secret in Self.secrets {
            let forms = [secret, Data(secret.utf8).base64EncodedString(), Self.basic("eo", secret)]
            for (name, bytes) in haystacks {
                for form in forms {
                    #expect(!Self.contains(bytes, Array(form.utf8)), "\(secret) leaked into \(name)")
                }
            }
        }
    }

    /// Every file under a folder (the state with its WAL, the ledger, the quarantine), by
    /// path relative to it, with its bytes: where a secret could land.
    static func files(under folder: URL) throws -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        for path in FileManager.default.enumerator(atPath: folder.path)?.compactMap({ $0 as? String }) ?? [] {
            var isDirectory: ObjCBool = false
            let full = folder.path + "/" + path
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue
            else { continue }
            out.append((path, [UInt8](try Data(contentsOf: URL(fileURLWithPath: full)))))
        }
        return out
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var i = 0
        while i <= haystack.count - needle.count {
            if haystack[i] == first, Array(haystack[i..<(i + needle.count)]) == needle { return true }
            i += 1
        }
        return false
    }
}
