import Foundation
import Logging
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

/// A temporary pipeline around one source, for the fetch tests: real SQLite, real files, a
/// real server. Retries are paced in milliseconds and stalls cut after a second, so faults
/// cost little time.
struct FetchHarness {
    /// A real Landsat MTL (about 15 kB) whose record id is `recordID`.
    static let scene = "LC08_L2SP_005009_20150710_20200908_02_T2_MTL.txt"
    static let recordID = "LC08_L2SP_005009_20150710_02_T2"
    static let at = Timestamp.parse("2022-05-01T00:00:00Z")!

    let folder: URL
    /// Served files live here (the HTTP server's root, or the FTP/SFTP root).
    let www: URL

    init(_ name: String = #function) throws {
        LoopbackProxy.bypass()
        folder = RepoPaths.temporaryFolder(name)
        www = folder.appendingPathComponent("www")
        try FileManager.default.createDirectory(
            at: www.appendingPathComponent("feed"),
            withIntermediateDirectories: true
        )
    }

    static func sceneBytes(_ name: String = scene) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: RepoPaths.shared.appendingPathComponent("fixtures/landsat-c2-mtl/\(name)")))
    }

    /// The scene with another cloud cover: a valid record with other bytes.
    static func changedSceneBytes() throws -> [UInt8] {
        let text = String(decoding: try sceneBytes(), as: UTF8.self)
        // A leading zero: new bytes, and still a percentage (a leading 1 made it 154.65).
        return Array(text.replacingOccurrences(of: "CLOUD_COVER = ", with: "CLOUD_COVER = 0").utf8)
    }

    /// Writes `bytes` as `feed/<name>` under the served root, modified at `modified`. The
    /// default, a little ahead of the clock, keeps an object "just changed" for the whole
    /// test: an index page's entry for it then never proves it unchanged (see
    /// `HTTPDate.settled`), so later runs ask conditionally, whatever minute it is.
    @discardableResult
    func serve(_ name: String, _ bytes: [UInt8], modified: Date = Date(timeIntervalSinceNow: 300)) throws -> URL {
        let file = www.appendingPathComponent("feed/\(name)")
        try Data(bytes).write(to: file)
        try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: file.path)
        return file
    }

    /// A pipeline with one source `src` (owner NASA) at `url`; `source` adds keys to it.
    func pipeline(
        url: String,
        source: String = "",
        limits: String = "fetch_workers: 2, retries: 3"
    ) throws
        -> Pipeline
    {
        let yaml = """
            version: 1
            state: state/test.sqlite
            shared: shared/
            members:
              - {id: NASA, name: NASA}
              - {id: ESA, name: ESA}
            collections:
              - {id: landsat-c2-l2, title: Landsat Collection 2 Level-2}
            sources:
              - id: src
                owner: NASA
                collection: landsat-c2-l2
                format: landsat-mtl
                url: "\(url)"
            \(source.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            limits: {\(limits)}
            embargo:
              rules:
                - match: {owner: NASA}
                  clock: acquired
                  period: P30D
            """
        let file = folder.appendingPathComponent("pipeline.yml")
        try Data(yaml.utf8).write(to: file)
        var p = try Pipeline.load(from: file)
        p.limits.backoff = Backoff(base: 0.005, cap: 0.05, retryAfterCap: 5)
        p.limits.timeouts.connect = 5
        p.limits.timeouts.total = 60
        p.limits.timeouts.stallSeconds = 1
        p.limits.timeouts.stallBytesPerSecond = 2_000
        p.environment = [:]
        return p
    }

    static let logger = Logger(label: "test")

    static func ingest(_ p: Pipeline, logger: Logger = logger) async throws -> IngestSummary {
        try await IngestRun(pipeline: p, at: at, logger: logger).run()
    }

    /// The quarantine reasons the ledger holds.
    static func quarantineReasons(_ p: Pipeline) -> [String] {
        let text = (try? String(contentsOf: p.ledgerPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let event = try? JSONValue.parse(Array(line.utf8)), event["event"]?.stringValue == "quarantine"
            else { return nil }
            return event["reason"]?.stringValue
        }
    }

    /// Expects the run's one object to be a record when `verified`, else quarantined for a
    /// reason that contains `reason`.
    static func expectOneObject(
        _ summary: IngestSummary,
        of p: Pipeline,
        verified: Bool,
        elseReason reason: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        if verified {
            #expect(
                summary.records == 1 && summary.quarantined == 0,
                "\(quarantineReasons(p))",
                sourceLocation: sourceLocation
            )
        } else {
            #expect(summary.records == 0 && summary.quarantined == 1, sourceLocation: sourceLocation)
            let found = quarantineReasons(p).first ?? ""
            #expect(found.contains(reason), "\(found)", sourceLocation: sourceLocation)
        }
    }

    /// The object's row in the state, by URL.
    static func object(_ p: Pipeline, url: URL) async throws -> StoredObject? {
        try await SQLiteStateStore(path: p.statePath).object(url: url.absoluteString)
    }

    /// Whether the scene's record is in the state and published to its owner.
    static func recordPublished(_ p: Pipeline) async throws -> Bool {
        let records = try await SQLiteStateStore(path: p.statePath).records(id: recordID)
        guard let item = Trees.item(p.sharedRoot, "NASA", "landsat-c2-l2", recordID) else { return false }
        return records.count == 1 && FileManager.default.fileExists(atPath: item.path)
    }
}

/// libcurl honours http_proxy, https_proxy, ALL_PROXY… from the environment, as eoshare must
/// for operators; the tests' servers are on 127.0.0.1, which a proxy cannot reach. When a
/// proxy is configured, `no_proxy` gains the loopback addresses, once, before the first
/// transfer of the process.
enum LoopbackProxy {
    private static let done: Bool = {
        let env = ProcessInfo.processInfo.environment
        let proxies = ["http_proxy", "https_proxy", "ftp_proxy", "all_proxy"]
        guard env.keys.contains(where: { proxies.contains($0.lowercased()) }) else { return true }
        let current = env["no_proxy"] ?? env["NO_PROXY"] ?? ""
        let value = ([current, "127.0.0.1", "localhost"].filter { !$0.isEmpty }).joined(separator: ",")
        setenv("no_proxy", value, 1)
        setenv("NO_PROXY", value, 1)
        return true
    }()

    static func bypass() { _ = done }
}
