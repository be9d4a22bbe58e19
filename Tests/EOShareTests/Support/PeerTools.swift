import EOShare
import Foundation
import Testing

/// The peer tools of the test venv (`make venv`): stactools-landsat, stactools-sentinel2,
/// ccsdspy and stac-validator, driven through the scripts in `Tests/PeerScripts`, each run
/// once over a whole set of files. Their answers are one JSON object per input line.
enum PeerTools {
    /// The venv's python: `EOSHARE_PEER_PYTHON` (set by `make test`) or `.venv/bin/python`.
    static var python: String? {
        if let path = ProcessInfo.processInfo.environment["EOSHARE_PEER_PYTHON"],
            FileManager.default.isExecutableFile(atPath: path)
        {
            return path
        }
        let venv = RepoPaths.root.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    static let scripts = RepoPaths.root.appendingPathComponent("Tests/PeerScripts")

    /// Runs `script` with `arguments`; each stdout line parsed as JSON. Records an issue and
    /// returns nothing when the venv is missing or the script fails.
    static func run(_ script: String, _ arguments: [String]) -> [JSONValue] {
        guard let python else {
            Issue.record("the peer tools are not installed: run `make venv` (make test does)")
            return []
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [scripts.appendingPathComponent(script).path] + arguments
        var env = ProcessInfo.processInfo.environment
        env["PYTHONWARNINGS"] = "ignore"
        p.environment = env
        // stderr goes to a file: a chatty peer cannot block on a full pipe.
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("peer-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = try? FileHandle(forWritingTo: errorFile)
        do { try p.run() } catch {
            Issue.record("cannot run \(script): \(error)")
            return []
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            let errors = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            Issue.record("\(script) exited \(p.terminationStatus): \(errors.suffix(2000))")
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONValue.parse(Array($0.utf8))
        }
    }

    /// Answers keyed by their `input` argument.
    static func byInput(_ answers: [JSONValue]) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for a in answers { if let input = a["input"]?.stringValue { out[input] = a } }
        return out
    }
}

extension STACValidator {
    /// Writes each item to `folder/<id>.json` and validates them all in one stac-validator
    /// process, offline against the shared schema copies. Returns the failures.
    static func validateItems(_ items: [JSONValue], in folder: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var paths: [String] = []
        for var item in items {
            let id = item["id"]?.stringValue ?? "item\(paths.count)"
            // The links the publisher adds: an item naming its collection links to it.
            if case .object(var o) = item {
                o["links"] = .array([
                    .object(["rel": "collection", "href": "./collection.json", "type": "application/json"])
                ])
                item = .object(o)
            }
            let url = folder.appendingPathComponent("\(id).json")
            try Data(item.serialized()).write(to: url)
            paths.append(url.path)
        }
        let config = RepoPaths.shared.appendingPathComponent("stac-schemas/schema-config.yaml").path
        let answers = PeerTools.byInput(PeerTools.run("validate.py", [config] + paths))
        var failures: [String] = []
        for path in paths {
            guard let answer = answers[path] else {
                failures.append("\(path): no answer from stac-validator")
                continue
            }
            if answer["valid"] != .bool(true) {
                failures.append("\(path): \(answer["error"]?.stringValue ?? "invalid")")
            }
        }
        return failures
    }
}
