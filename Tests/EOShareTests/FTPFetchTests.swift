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

/// FTP sources against a real FTP server (pyftpdlib from the repository's .venv) on
/// 127.0.0.1, passive mode, with a user and password from the environment.
@Suite struct FTPFetchTests {
    /// With MLSD the listing's exact size and time prove an object unchanged (no command
    /// touches it); with LIST only, the second run asks MDTM and transfers nothing.
    @Test(arguments: [true, false])
    func listsFetchesAndSkipsUnchanged(mlsd: Bool) async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        try h.serve(FetchHarness.scene, bytes)
        try h.serve("README.txt", Array("not a scene".utf8))
        let log = h.folder.appendingPathComponent("ftp.log")
        let server = try PythonServer(
            script: "ftp_server.py",
            arguments: [h.www.path, "eo", "ftp-pass-1", log.path] + (mlsd ? [] : ["--no-mlsd"])
        )
        defer { server.stop() }
        var p = try h.pipeline(
            url: "ftp://127.0.0.1:\(server.port)/feed/",
            source: "match: [\"*_MTL.txt\"]\nauth: {basic_env: [FTP_USER, FTP_PASSWORD]}"
        )
        p.environment = ["FTP_USER": "eo", "FTP_PASSWORD": "ftp-pass-1"]

        let first = try await FetchHarness.ingest(p)
        #expect(
            first.discovered == 1 && first.records == 1 && first.quarantined == 0,
            "\(FetchHarness.quarantineReasons(p))"
        )
        let url = URL(string: "ftp://127.0.0.1:\(server.port)/feed/\(FetchHarness.scene)")!
        await #expect(try FetchHarness.object(p, url: url)?.sha256 == Digest.sha256Hex(bytes))
        let commands = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(commands.contains(mlsd ? "MLSD" : "LIST"), "\(commands)")
        #expect(commands.contains("RETR \(FetchHarness.scene)"))
        #expect(commands.contains("PASV") || commands.contains("EPSV"), "passive mode")
        #expect(!commands.contains { $0.contains("ftp-pass-1") }, "the server's log masks PASS; so must we")

        try Data().write(to: log)
        let second = try await FetchHarness.ingest(p)
        #expect(second.fetched == 0 && second.unchanged == 1 && second.quarantined == 0)
        let again = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(!again.contains { $0.hasPrefix("RETR") }, "\(again)")
        if !mlsd { #expect(again.contains("MDTM \(FetchHarness.scene)"), "\(again)") }
    }

    /// An index file on the FTP server naming objects beside it (one a line): discovery by
    /// index and single-object retrieval over FTP.
    @Test func indexOfObjectsOverFTP() async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        try h.serve(FetchHarness.scene, bytes)
        try h.serve("index.txt", Array("# objects\n\(FetchHarness.scene)\n".utf8))
        let log = h.folder.appendingPathComponent("ftp.log")
        let server = try PythonServer(script: "ftp_server.py", arguments: [h.www.path, "eo", "pw-2", log.path])
        defer { server.stop() }
        var p = try h.pipeline(
            url: "ftp://127.0.0.1:\(server.port)/feed/index.txt",
            source: "index: true\nauth: {basic_env: [FTP_USER, FTP_PASSWORD]}"
        )
        p.environment = ["FTP_USER": "eo", "FTP_PASSWORD": "pw-2"]
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.records == 1 && summary.quarantined == 0, "\(FetchHarness.quarantineReasons(p))")
        let url = URL(string: "ftp://127.0.0.1:\(server.port)/feed/\(FetchHarness.scene)")!
        await #expect(try FetchHarness.object(p, url: url)?.sha256 == Digest.sha256Hex(bytes))
        let commands = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(commands.contains("RETR index.txt") && commands.contains("RETR \(FetchHarness.scene)"))
    }

    @Test func wrongPasswordFailsTheSourceWithAReason() async throws {
        let h = try FetchHarness()
        try h.serve(FetchHarness.scene, try FetchHarness.sceneBytes())
        let log = h.folder.appendingPathComponent("ftp.log")
        let server = try PythonServer(script: "ftp_server.py", arguments: [h.www.path, "eo", "right", log.path])
        defer { server.stop() }
        var p = try h.pipeline(
            url: "ftp://127.0.0.1:\(server.port)/feed/",
            source: "auth: {basic_env: [FTP_USER, FTP_PASSWORD]}"
        )
        p.environment = ["FTP_USER": "eo", "FTP_PASSWORD": "wrong-ftp-secret"]
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.records == 0 && summary.quarantined == 1)
        let reason = FetchHarness.quarantineReasons(p).first ?? ""
        #expect(reason.contains("Access denied") || reason.contains("Login denied"), "\(reason)")
        #expect(!reason.contains("wrong-ftp-secret"))
    }
}
