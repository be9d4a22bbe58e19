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

/// A source's credentials go to its own origin (scheme, host, port) and the hosts it names in
/// `credential_hosts`, nowhere else: not to the other hosts an index lists, not across a
/// redirect. Two real servers on 127.0.0.1, so the second one (another port) is another
/// origin; it records every header it was sent.
@Suite struct CredentialScopeTests {
    static let scenes = [
        "LC08_L2SP_005009_20150710_20200908_02_T2_MTL.txt", "LC08_L2SP_008059_20191201_20200825_02_T1_MTL.txt",
    ]

    /// Each kind of credential, with what it looks like on the wire.
    enum Kind: String, CaseIterable, Sendable {
        case bearer, basic, netrc, userinfo

        var authorization: String {
            switch self {
            case .bearer: "Bearer scope-token-7d1f"
            case .basic: CredentialLeakTests.basic("eo", "scope-basic-93ab")
            case .netrc: CredentialLeakTests.basic("eo", "scope-netrc-41e0")
            case .userinfo: CredentialLeakTests.basic("eo", "scope-userinfo-55c2")
            }
        }
    }

    /// The source's server (A) holds the index and a redirect; the objects are on server B.
    struct Setup {
        let h: FetchHarness
        let a: TestHTTPServer
        let b: TestHTTPServer
        var p: Pipeline

        /// `nameB`: the source's `credential_hosts` names server B.
        init(_ kind: Kind, nameB: Bool, name: String = #function) throws {
            h = try FetchHarness(name + "-" + kind.rawValue)
            for scene in CredentialScopeTests.scenes { try h.serve(scene, try FetchHarness.sceneBytes(scene)) }
            a = try TestHTTPServer(root: h.www)
            b = try TestHTTPServer(root: h.www)
            a.requiredAuthorization = kind.authorization
            // The first object is listed on B directly; the second on A, which redirects to B.
            let scenes = CredentialScopeTests.scenes
            a.redirect(path: "/moved/\(scenes[1])", to: b.url("/feed/\(scenes[1])").absoluteString)
            let index = [b.url("/feed/\(scenes[0])").absoluteString, a.url("/moved/\(scenes[1])").absoluteString]
            try h.serve("index.txt", Array(index.joined(separator: "\n").utf8))
            var url = a.url("/feed/index.txt").absoluteString
            var source = "index: true"
            switch kind {
            case .bearer: source += "\nauth: {bearer_token_env: EO_TOKEN}"
            case .basic: source += "\nauth: {basic_env: [EO_USER, EO_PASS]}"
            case .netrc: source += "\nauth: {netrc: true}"
            case .userinfo: url = url.replacingOccurrences(of: "http://", with: "http://eo:scope-userinfo-55c2@")
            }
            if nameB { source += "\ncredential_hosts: [\"127.0.0.1:\(b.port)\"]" }
            p = try h.pipeline(url: url, source: source)
            // Both servers are 127.0.0.1: a netrc entry names the host, not the port.
            let netrc = h.folder.appendingPathComponent("netrc")
            try Data("machine 127.0.0.1 login eo password scope-netrc-41e0\n".utf8).write(to: netrc)
            p.environment = [
                "EO_TOKEN": "scope-token-7d1f", "EO_USER": "eo", "EO_PASS": "scope-basic-93ab", "NETRC": netrc.path,
            ]
        }

        func stop() {
            a.stop()
            b.stop()
        }
    }

    @Test(arguments: Kind.allCases)
    func objectsAnIndexListsOnAnotherOriginGetNoCredentials(kind: Kind) async throws {
        let s = try Setup(kind, nameB: false)
        defer { s.stop() }
        let summary = try await FetchHarness.ingest(s.p)
        #expect(summary.records == 2 && summary.quarantined == 0, "\(FetchHarness.quarantineReasons(s.p))")
        // The source's own server got them (the index), the other server never did.
        #expect(s.a.requests().contains { $0.path == "/feed/index.txt" && $0.status == 200 })
        let toB = s.b.requests()
        #expect(toB.count == 2, "\(toB)")
        for request in toB {
            #expect(request.header("Authorization") == nil, "\(kind) credentials reached \(request.target)")
        }
    }

    @Test(arguments: Kind.allCases)
    func credentialHostsNamesAnotherOriginThatGetsThem(kind: Kind) async throws {
        let s = try Setup(kind, nameB: true)
        defer { s.stop() }
        let p = s.p
        #expect(p.sources[0].credentialHosts == [CredentialHost(host: "127.0.0.1", port: s.b.port)])
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.records == 2 && summary.quarantined == 0, "\(FetchHarness.quarantineReasons(p))")
        let direct = s.b.requests().filter { $0.path == "/feed/\(Self.scenes[0])" }
        #expect(direct.count == 1 && direct.allSatisfy { $0.header("Authorization") == kind.authorization })
        // A redirect never carries them to another origin, named or not: libcurl sends its
        // credentials only to the host the transfer started with.
        let redirected = s.b.requests().filter { $0.path == "/feed/\(Self.scenes[1])" }
        #expect(redirected.count == 1 && redirected.allSatisfy { $0.header("Authorization") == nil })
    }

    @Test func credentialHostsIsReadFromThePipelineFile() throws {
        func source(_ extra: String) -> String {
            """
            version: 1
            members: [{id: NASA}]
            collections: [{id: c}]
            sources:
              - id: s
                owner: NASA
                collection: c
                format: landsat-mtl
                url: https://index.example.org/list.txt
                index: true
                auth: {bearer_token_env: TOKEN}
            \(extra)
            """
        }
        let file = URL(fileURLWithPath: "/etc/eoshare/pipe.yml")
        let p = try Pipeline.parse(
            source("    credential_hosts: [data.example.org, \"Mirror.example.org:8443\", \"[::1]:9000\"]"),
            file: file
        )
        #expect(
            p.sources[0].credentialHosts == [
                CredentialHost(host: "data.example.org"), CredentialHost(host: "mirror.example.org", port: 8443),
                CredentialHost(host: "::1", port: 9000),
            ]
        )
        let s = p.sources[0]
        #expect(s.sendsCredentials(to: URL(string: "https://index.example.org:443/a")!))
        #expect(s.sendsCredentials(to: URL(string: "https://DATA.example.org/a?x=1")!))
        #expect(!s.sendsCredentials(to: URL(string: "https://data.example.org:8443/a")!), "another port")
        #expect(!s.sendsCredentials(to: URL(string: "http://data.example.org/a")!), "another scheme")
        #expect(s.sendsCredentials(to: URL(string: "https://mirror.example.org:8443/a")!))
        #expect(!s.sendsCredentials(to: URL(string: "https://mirror.example.org/a")!))
        #expect(!s.sendsCredentials(to: URL(string: "https://evil.example.org/a")!))
        #expect(!s.sendsCredentials(to: URL(string: "https://index.example.org:8443/a")!))

        for bad in [
            "[\"https://data.example.org\"]", "[\"h:0\"]", "[\"h:80x\"]", "[\"a/b\"]", "[\"eo@h\"]", "{h: 1}",
        ] {
            // The file's line 12, where the value starts.
            #expect {
                try Pipeline.parse(source("    credential_hosts: \(bad)"), file: file)
            } throws: { error in
                guard let e = error as? ConfigError else { return false }
                return e.description.hasPrefix("/etc/eoshare/pipe.yml:12:") && e.column >= 23
                    && e.key.hasPrefix("sources[0].credential_hosts")
            }
        }
        // Without credentials it would do nothing: a mistake worth telling.
        let noAuth = source("    credential_hosts: [data.example.org]").replacingOccurrences(
            of: "    auth: {bearer_token_env: TOKEN}\n",
            with: ""
        )
        #expect(throws: ConfigError.self) { try Pipeline.parse(noAuth, file: file) }
    }

    @Test func netrcIsReadAsLibcurlReadsIt() {
        let netrc = Netrc(
            parsing: """
                machine data.example.org login eo password "with space\\"q"
                macdef init
                  machine evil.example.org login x password y

                machine Other.example.org
                  login me
                  password pw
                default login anon password guest
                """
        )
        #expect(netrc.login(for: "data.example.org") == .init(user: "eo", password: "with space\"q"))
        #expect(netrc.login(for: "other.EXAMPLE.org") == .init(user: "me", password: "pw"))
        #expect(netrc.login(for: "evil.example.org") == .init(user: "anon", password: "guest"), "a macro is no entry")
        #expect(Netrc(parsing: "machine a login b").login(for: "c") == nil)
    }
}
