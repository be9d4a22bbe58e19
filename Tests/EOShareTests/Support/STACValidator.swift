import Foundation
import Testing

/// Runs stac-validator (from the test venv `make test` prepares) offline against the schema
/// copies in ../shared/stac-schemas.
enum STACValidator {
    static var executable: String? {
        if let path = ProcessInfo.processInfo.environment["EOSHARE_STAC_VALIDATOR"],
            FileManager.default.isExecutableFile(atPath: path)
        {
            return path
        }
        let venv = RepoPaths.root.appendingPathComponent(".venv/bin/stac-validator").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    /// Validates a catalog and everything it links (recursively). Returns the failures.
    static func validateRecursively(_ catalog: URL) throws -> [String] {
        guard let exe = executable else {
            Issue.record("stac-validator is not installed: run `make venv` (make test does)")
            return ["stac-validator missing"]
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = [
            "validate", catalog.path, "--recursive", "--no-assets-urls", "--schema-config",
            RepoPaths.shared.appendingPathComponent("stac-schemas/schema-config.yaml").path,
        ]
        var env = ProcessInfo.processInfo.environment
        env["PYTHONWARNINGS"] = "ignore"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = Pipe()
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        var failures: [String] = []
        if p.terminationStatus != 0 { failures.append("exit \(p.terminationStatus): \(text.prefix(2000))") }
        if text.contains("\"valid_stac\": false") { failures.append(String(text.prefix(2000))) }
        if !text.contains("\"valid_stac\": true") { failures.append("no valid object reported: \(text.prefix(500))") }
        return failures
    }
}
