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

/// SFTP (libcurl through libssh2) against a real SFTP server (asyncssh from the repository's
/// .venv) on 127.0.0.1: its host key verified against a known_hosts file, the user
/// authenticated by a password or a key from the environment.
@Suite struct SFTPFetchTests {
    struct Server {
        let process: PythonServer
        let knownHosts: URL
        let privateKey: URL
    }

    static func start(_ h: FetchHarness) throws -> Server {
        let key = h.folder.appendingPathComponent("id_ecdsa")
        let keygen = Process()
        keygen.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        keygen.arguments = ["ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-m", "PEM", "-N", "", "-f", key.path]
        keygen.standardOutput = FileHandle.nullDevice
        try keygen.run()
        keygen.waitUntilExit()
        #expect(keygen.terminationStatus == 0, "ssh-keygen")
        let knownHosts = h.folder.appendingPathComponent("known_hosts")
        let process = try PythonServer(
            script: "sftp_server.py",
            arguments: [h.www.path, "eo", "sftp-pass-1", key.path + ".pub", knownHosts.path]
        )
        return Server(process: process, knownHosts: knownHosts, privateKey: key)
    }

    @Test(arguments: ["password", "key"])
    func listsAndFetchesOverSFTP(auth: String) async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        try h.serve(FetchHarness.scene, bytes)
        let server = try Self.start(h)
        defer { server.process.stop() }
        let port = server.process.port
        var p = try h.pipeline(
            url: auth == "password" ? "sftp://127.0.0.1:\(port)/feed/" : "sftp://eo@127.0.0.1:\(port)/feed/",
            source: auth == "password" ? "auth: {basic_env: [SFTP_USER, SFTP_PASSWORD]}" : ""
        )
        p.environment = ["EOSHARE_SSH_KNOWN_HOSTS": server.knownHosts.path]
        if auth == "password" {
            p.environment?["SFTP_USER"] = "eo"
            p.environment?["SFTP_PASSWORD"] = "sftp-pass-1"
        } else {
            p.environment?["EOSHARE_SSH_KEY"] = server.privateKey.path
        }
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.records == 1 && summary.quarantined == 0, "\(FetchHarness.quarantineReasons(p))")
        let url = URL(string: "sftp://127.0.0.1:\(port)/feed/\(FetchHarness.scene)")!
        await #expect(try FetchHarness.object(p, url: url)?.sha256 == Digest.sha256Hex(bytes))
    }

    @Test func unknownHostKeyIsRefused() async throws {
        let h = try FetchHarness()
        try h.serve(FetchHarness.scene, try FetchHarness.sceneBytes())
        let server = try Self.start(h)
        defer { server.process.stop() }
        let other = h.folder.appendingPathComponent("other_known_hosts")
        try Data().write(to: other)
        var p = try h.pipeline(
            url: "sftp://127.0.0.1:\(server.process.port)/feed/",
            source: "auth: {basic_env: [SFTP_USER, SFTP_PASSWORD]}"
        )
        p.environment = ["EOSHARE_SSH_KNOWN_HOSTS": other.path, "SFTP_USER": "eo", "SFTP_PASSWORD": "sftp-pass-1"]
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.records == 0 && summary.quarantined == 1)
        let reason = FetchHarness.quarantineReasons(p).first ?? ""
        #expect(reason.contains("host key is not in EOSHARE_SSH_KNOWN_HOSTS"), "\(reason)")
        #expect(reason.contains("(curl 60)"), "a refused host key is not retried: \(reason)")
    }
}
