import EOShare
import Foundation
import Testing

/// stac-api-validator (PyPI) against the served test pipeline, member by member and for the
/// public: Core, Collections, Features, Item Search (with paging), Sort and Filter.
@Suite(.serialized) struct ServeValidatorTests {
    static let conformance = ["core", "collections", "features", "item-search", "item-search#sort", "filter"]

    /// Every viewer on SQLite; on PostgreSQL, a member whose view the embargo filters.
    static let runs: [(String, ServeHarness.Store)] =
        ["NASA", "ESA", "JAXA", "public"].map { ($0, .sqlite) } + (TestPostgres.enabled ? [("ESA", .postgresql)] : [])

    @Test(arguments: runs)
    func stacAPIValidatorPasses(viewer: String, store: ServeHarness.Store) async throws {
        guard let python = PeerTools.python else {
            Issue.record("the peer tools are not installed: run `make venv` (make test does)")
            return
        }
        let folder = try await ServeHarness.ingested(store)
        // An instant at which every viewer sees some records, and some are still hidden.
        let server = try await ServeHarness.start(folder, at: ServeHarness.ingestAt)
        defer { Task { await server.stop() } }
        var arguments = [
            PeerTools.scripts.appendingPathComponent("stac_api_validate.py").path,
            RepoPaths.shared.appendingPathComponent("stac-schemas/schema-config.yaml").path,
            "--root-url", "\(server.base)/\(viewer)/", "--collection", "landsat-c2-l2",
            "--geometry", #"{"type":"Polygon","coordinates":[[[-180,-90],[180,-90],[180,90],[-180,90],[-180,-90]]]}"#,
            "--validate-pagination",
        ]
        for c in Self.conformance { arguments += ["--conformance", c] }
        if let token = ServeHarness.tokens[viewer] { arguments += ["-H", "Authorization: Bearer \(token)"] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PYTHONWARNINGS"] = "ignore"
        p.environment = env
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("validator-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        try await ServeHarness.blocking { p.waitUntilExit() }
        try handle.close()
        let report = try String(contentsOf: output, encoding: .utf8)
        let summary = report.components(separatedBy: "\n").filter { !$0.hasPrefix("INFO") && !$0.contains("Warning") }
        #expect(
            p.terminationStatus == 0 && report.contains("Errors: none"),
            "\(summary.suffix(30).joined(separator: "\n"))"
        )
    }
}
