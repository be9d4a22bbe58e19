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

/// Every named crash point (`EOSHARE_CRASH_AT`) of publish, release, retract, catalog
/// writing, reconciliation and the ledger, hit for real: the process kills itself with
/// SIGKILL there. After each kill no tree holds an item its viewer may not see (under the
/// policy before or after the run) nor a partial file; the next run converges to the tree
/// of a run that was never killed, the audit finds nothing, and the ledger matches the trees.
@Suite struct CrashPointTests {
    static let t1 = "2026-06-01T00:00:00Z"
    static let t2 = "2026-09-01T00:00:00Z"

    /// Phase 1: four members. Phase 2: OLD has left, a hold hides the Landsat 9 scenes from
    /// everyone but NASA, time moved on (releases) and new records arrived.
    static func pipeline(_ folder: URL, phase: Int) throws -> URL {
        // The state a folder's runs share: SQLite beside it, or the PostgreSQL database named in it.
        let postgres = try? String(contentsOf: folder.appendingPathComponent("postgres-url"), encoding: .utf8)
        let yaml = """
            version: 1
            state: \(postgres ?? "state/crash.sqlite")
            spool: spool/
            shared: shared/
            members: [{id: NASA}, {id: ESA}, {id: JAXA}\(phase == 1 ? ", {id: OLD}" : "")]
            collections: [{id: landsat-c2-l2}]
            sources: [{id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: feed/}]
            embargo:
              rules: [{match: {owner: NASA}, clock: acquired, period: P90D, grants: {ESA: P30D}, public: P1Y}]
            \(phase == 2 ? "  holds: [{id: review, records: [\"LC09_*\"], reason: review}]" : "")
            """
        let file = folder.appendingPathComponent("p\(phase).yml")
        try Data(yaml.utf8).write(to: file)
        return file
    }

    /// A feed in `folder`, and the state its runs keep: SQLite, or a new PostgreSQL database.
    static func prepare(_ folder: URL, store: String) async throws {
        if store == "postgresql" {
            let url = try await TestPostgres.freshDatabase("crash")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data("\(url)".utf8).write(to: folder.appendingPathComponent("postgres-url"))
        }
        try prepare(folder)
    }

    static func prepare(_ folder: URL) throws {
        var g = LandsatFeedGenerator(start: Timestamp.parse("2026-01-01T00:00:00Z")!)
        g.seed = 5
        g.days = 240
        let names = try g.write(count: 14, to: folder.appendingPathComponent("feed"))
        let later = folder.appendingPathComponent("later")
        try FileManager.default.createDirectory(at: later, withIntermediateDirectories: true)
        for name in names.suffix(4) {
            try FileManager.default.moveItem(
                at: folder.appendingPathComponent("feed/\(name)"),
                to: later.appendingPathComponent(name)
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

    static let lease = 1.0

    /// Runs `eoshare ingest`; returns (exit status, killed by SIGKILL).
    static func ingest(
        _ pipeline: URL,
        at: String,
        crashAt: String? = nil,
        reconcile: Bool = false
    ) throws -> (Int32, Bool) {
        let p = Process()
        p.executableURL = RepoPaths.executable("eoshare")
        p.arguments = ["ingest", pipeline.path, "--at", at] + (reconcile ? ["--reconcile"] : [])
        var env = ProcessInfo.processInfo.environment.merging(TestPostgres.passwordEnvironment) { $1 }
        env["EOSHARE_CRASH_AT"] = crashAt
        // A killed worker's unfinished work is the others' once its lease ran out (CONTRACT §7).
        env["EOSHARE_WORK_LEASE_SECONDS"] = "\(lease)"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL)
    }

    /// Every file of the member trees (not the store), relative path → SHA-256.
    static func tree(_ shared: URL) throws -> [String: String] {
        var out: [String: String] = [:]
        let e = FileManager.default.enumerator(atPath: shared.path)
        while let rel = e?.nextObject() as? String {
            if rel.hasPrefix(".store") {
                e?.skipDescendants()
                continue
            }
            let url = shared.appendingPathComponent(rel)
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir)
            if !isDir.boolValue { out[rel] = try Digest.sha256Hex(ofFile: url) }
        }
        return out
    }

    /// The files of the folder's trees that are not as in `expected` (missing, extra, other bytes).
    static func differing(_ folder: URL, from expected: [String: String]) throws -> Set<String> {
        let tree = try tree(folder.appendingPathComponent("shared"))
        return Set(expected.keys).union(tree.keys).filter { tree[$0] != expected[$0] }
    }

    /// Items and catalog links no viewer may see under either phase, and partial files.
    static func problems(_ folder: URL) throws -> [String] {
        let shared = folder.appendingPathComponent("shared")
        let before = try TrustUnderFaultsTests.forbidden(
            shared: shared,
            pipeline: try Pipeline.load(from: pipeline(folder, phase: 1)),
            at: Timestamp.parse(t1)!
        )
        let after = try TrustUnderFaultsTests.forbidden(
            shared: shared,
            pipeline: try Pipeline.load(from: pipeline(folder, phase: 2)),
            at: Timestamp.parse(t2)!
        )
        var problems = Array(Set(before).intersection(after)).sorted()
        for rel in try tree(shared).keys where rel.split(separator: "/").last?.hasPrefix(".") == true {
            problems.append("temporary file \(rel) in a tree")
        }
        return problems
    }

    /// The last ledger event of each (member, collection, record) that put it in or took it
    /// out of a tree: the copies the ledger says are there.
    static func ledgerCopies(_ pipeline: URL) throws -> Set<String> {
        // As an operator reads it, from either store.
        let ledger = try OperatorTests.run(["ledger", pipeline.path], environment: TestPostgres.passwordEnvironment)
        var there = Set<String>()
        for line in ledger.stdout.split(separator: "\n") {
            let e = try JSONValue.parse(Array(line.utf8))
            guard let event = e["event"]?.stringValue, let member = e["member"]?.stringValue,
                let collection = e["collection"]?.stringValue, let record = e["record"]?.stringValue
            else { continue }
            let key = "\(member)/\(collection)/\(record)"
            switch event {
            case "publish", "release": there.insert(key)
            case "retract": there.remove(key)
            default: break
            }
        }
        return there
    }

    /// On a PostgreSQL state too (CONTRACT §7): a worker killed at any of these points.
    @Test(.timeLimit(.minutes(10)), arguments: ["sqlite", "postgresql"])
    func everyCrashPointLeavesTheTreesSafeAndTheNextRunConverges(store: String) async throws {
        if store == "postgresql" && !TestPostgres.enabled { return }
        // The run that is never killed (its trees are the same on either store).
        let clean = RepoPaths.temporaryFolder("crash-clean-\(store)")
        try await Self.prepare(clean, store: store)
        #expect(try Self.ingest(try Self.pipeline(clean, phase: 1), at: Self.t1).0 == 0)
        let expectedFirst = try Self.tree(clean.appendingPathComponent("shared"))
        try Self.startPhase2(clean)
        #expect(try Self.ingest(try Self.pipeline(clean, phase: 2), at: Self.t2).0 == 0)
        let expected = try Self.tree(clean.appendingPathComponent("shared"))
        #expect(expected.keys.contains { $0.hasPrefix("ESA/") } && !expected.keys.contains { $0.hasPrefix("OLD") })

        // Catalogs written after their changes committed (a first run retracts nothing): the
        // state still asks for them after the kill, and the next run writes them.
        for point in CrashPoint.all where point.hasPrefix("catalogs.") {
            let folder = RepoPaths.temporaryFolder("crash-first-\(store)-\(point)")
            try await Self.prepare(folder, store: store)
            let p1 = try Self.pipeline(folder, phase: 1)
            #expect(try Self.ingest(p1, at: Self.t1, crashAt: point).1, "\(point) was never reached")
            #expect(try Self.ingest(p1, at: Self.t1).0 == 0)
            let differing = try Self.differing(folder, from: expectedFirst)
            #expect(
                differing.isEmpty,
                "after a first run killed at \(point), \(differing.count) files differ: \(differing.sorted().prefix(4))"
            )
        }

        // The ledger file's points are SQLite's: on PostgreSQL a line is a row of the
        // transaction that confirms its change, with no file to append to.
        for point in CrashPoint.all where store == "sqlite" || !point.hasPrefix("ledger.") {
            let folder = RepoPaths.temporaryFolder("crash-\(store)-\(point)")
            try await Self.prepare(folder, store: store)
            #expect(try Self.ingest(try Self.pipeline(folder, phase: 1), at: Self.t1).0 == 0)
            try Self.startPhase2(folder)
            let p2 = try Self.pipeline(folder, phase: 2)
            let (_, killed) = try Self.ingest(p2, at: Self.t2, crashAt: point, reconcile: point.hasPrefix("reconcile"))
            #expect(killed, "\(point) was never reached")
            let afterKill = try Self.problems(folder)
            #expect(afterKill.isEmpty, "after a crash at \(point): \(afterKill.prefix(4))")
            if store == "postgresql" { try await Task.sleep(for: .seconds(Self.lease * 1.5)) }

            let (status, _) = try Self.ingest(p2, at: Self.t2)
            #expect(status == 0, "the run after a crash at \(point) exits \(status)")
            let differing = try Self.differing(folder, from: expected)
            #expect(
                differing.isEmpty,
                "after a crash at \(point), \(differing.count) files differ: \(differing.sorted().prefix(4))"
            )
            let p = try Pipeline.load(from: p2)
            let report = try await Auditor(pipeline: p).audit(at: Timestamp.parse(Self.t2)!)
            #expect(report.compliant, "after a crash at \(point): \(report.findings.prefix(3))")
            let inTrees = Set(
                Trees.items(folder.appendingPathComponent("shared")).map { "\($0.viewer)/\($0.collection)/\($0.id)" }
            )
            #expect(
                try Self.ledgerCopies(p2) == inTrees,
                "after a crash at \(point) the ledger disagrees with the trees"
            )
        }
    }
}
