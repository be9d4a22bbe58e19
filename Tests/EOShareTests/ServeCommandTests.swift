import EOShare
import Foundation
import Testing

/// The built `eoshare serve` process: it listens where told, speaks TLS when the pipeline
/// names a certificate and key, re-reads the pipeline file on SIGHUP, and stops on SIGTERM.
@Suite(.serialized) struct ServeCommandTests {
    /// Starts the process and waits for its "listening on URL" line; returns the URL.
    static func start(_ pipeline: URL, _ extra: [String] = []) async throws -> (Process, String, FileHandle) {
        let p = Process()
        p.executableURL = RepoPaths.executable("eoshare")
        p.arguments = ["serve", pipeline.path, "--listen", "127.0.0.1:0"] + extra
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let reader = err.fileHandleForReading
        let url = try await ServeHarness.blocking { () -> String? in
            var text = ""
            while true {
                let data = reader.availableData
                if data.isEmpty { return nil }
                text += String(decoding: data, as: UTF8.self)
                if let range = text.range(of: "listening on ") {
                    let rest = text[range.upperBound...]
                    if let end = rest.firstIndex(of: "\n") { return String(rest[..<end]) }
                }
            }
        }
        guard let url else {
            p.terminate()
            throw ServeHarness.ServeTestError(description: "eoshare serve did not start")
        }
        return (p, url, reader)
    }

    static func curl(_ arguments: [String]) async throws -> (status: Int, body: String) {
        try await ServeHarness.blocking { try curlNow(arguments) }
    }

    static func curlNow(_ arguments: [String]) throws -> (status: Int, body: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-s", "-w", "\n%{http_code}"] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    @Test func theCommandServesOverTLSAndReReadsOnHangup() async throws {
        let source = try await ServeHarness.ingested.value
        let folder = RepoPaths.temporaryFolder("serve-command")
        try FileManager.default.removeItem(at: folder)
        try FileManager.default.copyItem(at: source, to: folder)
        // A self-signed certificate for 127.0.0.1.
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", folder.appendingPathComponent("key.pem").path,
            "-out", folder.appendingPathComponent("cert.pem").path,
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        try await ServeHarness.blocking { openssl.waitUntilExit() }
        #expect(openssl.terminationStatus == 0)
        let tls = "serve: {tokens: api-tokens, certificate: cert.pem, key: key.pem}"
        let pipeline = folder.appendingPathComponent("serve.yml")
        func write(_ policy: String) throws {
            try ServeHarness.writePipeline(folder, policy: policy)
            let text = try String(contentsOf: pipeline, encoding: .utf8)
                .replacingOccurrences(of: "serve: {tokens: api-tokens}", with: tls)
            try Data(text.utf8).write(to: pipeline)
        }
        try write(ServeHarness.policy())
        let at = ServeHarness.ingestAt
        let subjects = try await ServeHarness.subjects(folder)
        let target = try #require(subjects.first { ServeEmbargoTests.oracle($0, "JAXA", at: at) })
        let (process, base, _) = try await Self.start(pipeline, ["--at", Timestamp.format(at)])
        defer {
            if process.isRunning { process.terminate() }
        }
        #expect(base.hasPrefix("https://127.0.0.1:"))
        let cacert = ["--cacert", folder.appendingPathComponent("cert.pem").path]
        let item = "\(base)JAXA/collections/landsat-c2-l2/items/\(target.id)"
        let auth = ["-H", "Authorization: Bearer \(ServeHarness.tokens["JAXA"]!)"]
        #expect(try await Self.curl(cacert + auth + [item]).status == 200)
        #expect(try await Self.curl(cacert + [item]).status == 401)
        // Plain HTTP on the TLS port gets no answer.
        #expect(try await Self.curl([item.replacingOccurrences(of: "https://", with: "http://")]).status != 200)

        // A hold on the record's prefix, written in place with the file's old size and times, so
        // only SIGHUP tells the server to re-read.
        var times = stat()
        stat(pipeline.path, &times)
        let before = try String(contentsOf: pipeline, encoding: .utf8)
        let pattern = String(target.id.prefix(11)) + "*"
        let held = before.replacingOccurrences(of: "records: [\"LC09_*_2026*\"]", with: "records: [\"\(pattern)\"]")
        #expect(held != before && held.utf8.count == before.utf8.count)
        let handle = try FileHandle(forWritingTo: pipeline)
        try handle.write(contentsOf: Data(held.utf8))
        try handle.close()
        var stamps = [times.st_atim, times.st_mtim]
        utimensat(AT_FDCWD, pipeline.path, &stamps, 0)
        #expect(try await Self.curl(cacert + auth + [item]).status == 200, "re-read without being asked")
        kill(process.processIdentifier, SIGHUP)
        var status = 0
        for _ in 0..<20 {
            status = try await Self.curl(cacert + auth + [item]).status
            if status == 404 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(status == 404)
        process.terminate()
        try await ServeHarness.blocking { process.waitUntilExit() }
        #expect(process.terminationReason == .exit)
    }
}
