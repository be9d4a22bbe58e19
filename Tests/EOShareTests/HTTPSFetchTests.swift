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

/// HTTPS with certificate verification against a private CA (`ca_file`), served by Python's
/// http.server behind TLS on 127.0.0.1 with a certificate the test signs with openssl.
@Suite struct HTTPSFetchTests {
    /// A CA and a server certificate for IP 127.0.0.1 signed by it: (ca.pem, server.pem, server.key).
    static func makeCertificates(in folder: URL) throws -> (ca: URL, cert: URL, key: URL) {
        let f = folder.path
        try Data("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n".utf8)
            .write(to: folder.appendingPathComponent("ext.cnf"))
        let steps = [
            "req -x509 -newkey rsa:2048 -nodes -keyout \(f)/ca.key -out \(f)/ca.pem -days 2 -subj /CN=eoshare-test-CA",
            "req -newkey rsa:2048 -nodes -keyout \(f)/server.key -out \(f)/server.csr -subj /CN=127.0.0.1",
            "x509 -req -in \(f)/server.csr -CA \(f)/ca.pem -CAkey \(f)/ca.key -CAcreateserial -out \(f)/server.pem "
                + "-days 2 -extfile \(f)/ext.cnf",
        ]
        for step in steps {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            p.arguments = step.split(separator: " ").map(String.init)
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "openssl \(step)")
        }
        return (
            folder.appendingPathComponent("ca.pem"), folder.appendingPathComponent("server.pem"),
            folder.appendingPathComponent("server.key")
        )
    }

    @Test func privateCAThroughCAFile() async throws {
        let h = try FetchHarness()
        let bytes = try FetchHarness.sceneBytes()
        try h.serve(FetchHarness.scene, bytes)
        let (ca, cert, key) = try Self.makeCertificates(in: h.folder)
        let server = try PythonServer(script: "https_server.py", arguments: [h.www.path, cert.path, key.path])
        defer { server.stop() }
        let p = try h.pipeline(url: "https://127.0.0.1:\(server.port)/feed/", source: "ca_file: \(ca.path)")
        let first = try await FetchHarness.ingest(p)
        #expect(first.records == 1 && first.quarantined == 0, "\(FetchHarness.quarantineReasons(p))")
        let url = URL(string: "https://127.0.0.1:\(server.port)/feed/\(FetchHarness.scene)")!
        await #expect(try FetchHarness.object(p, url: url)?.sha256 == Digest.sha256Hex(bytes))
        // http.server knows If-Modified-Since: the second run gets a 304.
        let second = try await FetchHarness.ingest(p)
        #expect(second.fetched == 0 && second.unchanged == 1)
    }

    @Test func withoutTheCAFileTheCertificateIsRefused() async throws {
        let h = try FetchHarness()
        try h.serve(FetchHarness.scene, try FetchHarness.sceneBytes())
        let (_, cert, key) = try Self.makeCertificates(in: h.folder)
        let server = try PythonServer(script: "https_server.py", arguments: [h.www.path, cert.path, key.path])
        defer { server.stop() }
        let p = try h.pipeline(url: "https://127.0.0.1:\(server.port)/feed/")
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.records == 0 && summary.quarantined == 1)
        let reason = FetchHarness.quarantineReasons(p).first ?? ""
        #expect(reason.contains("SSL certificate problem"), "\(reason)")
        #expect(reason.contains("(curl 60)"), "a verification failure is not retried: \(reason)")
    }
}
