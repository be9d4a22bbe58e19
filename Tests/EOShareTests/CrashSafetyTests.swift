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

/// CONTRACT §5 under SIGKILL: `eoshare ingest` runs as a child process and is killed at
/// random moments of a run that publishes, releases and retracts. After every kill no tree
/// holds an item its member may not see and no partial file; a clean re-run then converges
/// to the same tree as an uninterrupted run.
@Suite struct CrashSafetyTests {
    static let t1 = "2026-06-01T00:00:00Z"
    static let t2 = "2026-09-01T00:00:00Z"
    static let rules = """
        embargo:
          rules:
            - match: {owner: NASA}
              clock: acquired
              period: P90D
              grants: {ESA: P30D, JAXA: P0D}
              public: P1Y
        """
    /// Phase 2 adds a hold: the Landsat 9 scenes leave every tree but NASA's.
    static let hold = """
          holds:
            - {id: review, records: ["LC09_*"], reason: "under review"}
        """

    static func pipeline(_ folder: URL, phase: Int) throws -> URL {
        let yaml = """
            version: 1
            state: state/crash.sqlite
            shared: shared/
            members: [{id: NASA}, {id: ESA}, {id: JAXA}, {id: CSA}]
            collections: [{id: landsat-c2-l2}]
            sources: [{id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: feed/}]
            limits: {fetch_workers: 2}
            \(rules)
            \(phase == 2 ? hold : "")
            """
        let file = folder.appendingPathComponent("p\(phase).yml")
        try Data(yaml.utf8).write(to: file)
        return file
    }

    /// A feed of `total` records of which the last `later` arrive only in phase 2.
    static func prepare(_ folder: URL, total: Int, later: Int) throws {
        var generator = LandsatFeedGenerator(start: Timestamp.parse("2026-01-01T00:00:00Z")!)
        generator.seed = 7
        generator.gzip = true
        generator.days = 240
        let names = try generator.write(count: total, to: folder.appendingPathComponent("feed"))
        let laterFolder = folder.appendingPathComponent("later")
        try FileManager.default.createDirectory(at: laterFolder, withIntermediateDirectories: true)
        for name in names.suffix(later) {
            try FileManager.default.moveItem(
                at: folder.appendingPathComponent("feed/\(name)"),
                to: laterFolder.appendingPathComponent(name)
            )
        }
    }

    static func startPhase2(_ folder: URL) throws {
        let later = folder.appendingPathComponent("later")
        for name in try FileManager.default.contentsOfDirectory(atPath: later.path) {
            try FileManager.default.moveItem(
                at: later.appendingPathComponent(name),
                to: folder.appendingPathComponent("feed/\(name)")
            )
        }
    }

    static func ingest(_ pipeline: URL, at: String) throws -> Process {
        let p = Process()
        p.executableURL = RepoPaths.executable("eoshare")
        p.arguments = ["ingest", pipeline.path, "--at", at]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Every file under the member trees, relative path → SHA-256.
    static func tree(_ shared: URL) throws -> [String: String] {
        var out: [String: String] = [:]
        let e = FileManager.default.enumerator(atPath: shared.path)
        while let rel = e?.nextObject() as? String {
            if rel.hasPrefix(".store") { continue }
            let url = shared.appendingPathComponent(rel)
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir)
            if !isDir.boolValue { out[rel] = try Digest.sha256Hex(ofFile: url) }
        }
        return out
    }

    /// No partial file, and no item a member may not see under either the old policy at t1
    /// (not yet retracted) or the new one at t2.
    static func checkInvariants(_ folder: URL, engines: [(EmbargoEngine, Date)]) throws -> [String] {
        let shared = folder.appendingPathComponent("shared")
        var problems: [String] = []
        let e = FileManager.default.enumerator(atPath: shared.path)
        while let rel = e?.nextObject() as? String {
            if rel.hasPrefix(".store") { continue }
            if rel.split(separator: "/").last?.hasPrefix(".") == true {
                problems.append("hidden or temporary file \(rel)")
            }
        }
        for found in Trees.items(shared) {
            let data = try Data(contentsOf: found.url)
            guard let item = try? JSONValue.parse(data), let props = item["properties"] else {
                problems.append("partial item \(found.url.path)")
                continue
            }
            let subject = EmbargoSubject(
                id: found.id,
                collection: found.collection,
                owner: props["consortium:owner"]?.stringValue ?? "",
                bbox: nil,
                acquired: props["datetime"]?.stringValue.flatMap(Timestamp.parse),
                processed: nil,
                ingested: props["consortium:ingested"]?.stringValue.flatMap(Timestamp.parse)
            )
            let viewer = Viewer(folder: found.viewer)
            if !engines.contains(where: { $0.0.decide(subject, for: viewer, at: $0.1).visible }) {
                problems.append("\(found.viewer) holds \(found.id), which it may not see")
            }
        }
        return problems
    }

    /// Runs the phase-2 ingest, killing it at random moments until `kills` kills have landed
    /// mid-run, checking the invariants after each.
    static func killRepeatedly(_ folder: URL, kills: Int, engines: [(EmbargoEngine, Date)]) async throws -> Int {
        let p2 = try pipeline(folder, phase: 2)
        var landed = 0
        var attempts = 0
        var rng = SystemRandomNumberGenerator()
        while landed < kills && attempts < kills * 4 {
            attempts += 1
            let child = try ingest(p2, at: t2)
            usleep(UInt32.random(in: 20_000...150_000, using: &rng))  // real time, not the cooperative pool's
            if child.isRunning {
                kill(child.processIdentifier, SIGKILL)
                landed += 1
            }
            child.waitUntilExit()
            let problems = try checkInvariants(folder, engines: engines)
            #expect(problems.isEmpty, "after kill \(landed): \(problems.prefix(5))")
            if !problems.isEmpty { break }
        }
        return landed
    }

    @Test(.timeLimit(.minutes(5)))
    func sigkillAtRandomMomentsNeverLeaksAndConverges() async throws {
        let crash = RepoPaths.temporaryFolder("crash")
        let clean = RepoPaths.temporaryFolder("clean")
        for folder in [crash, clean] {
            try Self.prepare(folder, total: 700, later: 300)
            let p1 = try Self.ingest(try Self.pipeline(folder, phase: 1), at: Self.t1)
            p1.waitUntilExit()
            #expect(p1.terminationStatus == 0)
        }
        let before = try Pipeline.load(from: try Self.pipeline(crash, phase: 1))
        let after = try Pipeline.load(from: try Self.pipeline(crash, phase: 2))
        let engines = [
            (EmbargoEngine(policy: before.policy, members: before.members.map(\.id)), Timestamp.parse(Self.t1)!),
            (EmbargoEngine(policy: after.policy, members: after.members.map(\.id)), Timestamp.parse(Self.t2)!),
        ]

        // The uninterrupted runs: releases and retractions (new hold, later instant), then new records.
        for stage in 0..<2 {
            if stage == 1 { try Self.startPhase2(clean) }
            let run = try Self.ingest(try Self.pipeline(clean, phase: 2), at: Self.t2)
            run.waitUntilExit()
            #expect(run.terminationStatus == 0)
        }

        // The same runs, killed again and again.
        var landed = try await Self.killRepeatedly(crash, kills: 25, engines: engines)
        try Self.startPhase2(crash)
        landed += try await Self.killRepeatedly(crash, kills: 25, engines: engines)
        #expect(landed >= 50, "only \(landed) kills landed mid-run")

        let last = try Self.ingest(try Self.pipeline(crash, phase: 2), at: Self.t2)
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)
        let crashedTree = try Self.tree(crash.appendingPathComponent("shared"))
        let cleanTree = try Self.tree(clean.appendingPathComponent("shared"))
        #expect(crashedTree.count == cleanTree.count)
        let differing = cleanTree.keys.filter { crashedTree[$0] != cleanTree[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.count) files differ, e.g. \(differing.prefix(5))")
        #expect(Set(crashedTree.keys).subtracting(cleanTree.keys).isEmpty)
        // And the audit agrees with the final tree.
        let report = try await Auditor(pipeline: after, rehash: false).audit(at: Timestamp.parse(Self.t2)!)
        #expect(report.findings.filter { $0.kind != .ledger }.isEmpty, "\(report.findings.prefix(5))")
    }
}
