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

/// The `eoshare` executable as cron and operators run it: outputs and exit codes (CONTRACT §2).
@Suite struct CommandLineTests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ args: [String]) throws -> Result {
        let p = Process()
        p.executableURL = RepoPaths.executable("eoshare")
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(
            status: p.terminationStatus,
            stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self)
        )
    }

    /// The demo pipeline, pointed at a copy of the shipped fixtures in a fresh folder.
    static func demoCopy() throws -> (folder: URL, pipeline: URL) {
        let folder = RepoPaths.temporaryFolder()
        try FileManager.default.copyItem(
            at: RepoPaths.root.appendingPathComponent("Fixtures/landsat"),
            to: folder.appendingPathComponent("feed")
        )
        let yaml = try String(contentsOf: RepoPaths.root.appendingPathComponent("Pipelines/demo.yml"), encoding: .utf8)
            .replacingOccurrences(of: "../demo-out/", with: "out/")
            .replacingOccurrences(of: "../Fixtures/landsat/", with: "feed/")
        let file = folder.appendingPathComponent("demo.yml")
        try Data(yaml.utf8).write(to: file)
        return (folder, file)
    }

    static let at = "2026-11-21T12:00:00Z"

    @Test func validateIsSilentOnAGoodFileAndExits78NamingThePosition() throws {
        let (folder, file) = try Self.demoCopy()
        let ok = try Self.run(["validate", file.path])
        #expect(ok.status == 0 && ok.stdout.isEmpty)
        let bad = folder.appendingPathComponent("bad.yml")
        let text = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(
            of: "owner: NASA",
            with: "owner: NSA"
        )
        try Data(text.utf8).write(to: bad)
        let r = try Self.run(["validate", bad.path])
        #expect(r.status == 78)
        let line = text.components(separatedBy: "owner: NSA")[0].components(separatedBy: "\n").count
        #expect(
            r.stderr.contains("\(bad.path):\(line):12: sources[0].owner: 'NSA' is not a declared member"),
            "\(r.stderr)"
        )
    }

    @Test func demoIngestPublishesExactlyThePolicyAndAuditsClean() throws {
        let (folder, file) = try Self.demoCopy()
        let r = try Self.run(["ingest", file.path, "--at", Self.at, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try JSONValue.parse(Array(r.stdout.utf8))
        #expect(summary["records"]?.doubleValue == 5)
        #expect(summary["quarantined"]?.doubleValue == 0)
        let shared = folder.appendingPathComponent("out/shared")
        func items(_ viewer: String) -> Set<String> { Trees.ids(shared, viewer, collection: "landsat-c2-l2") }
        let publicScene = "LC08_L2SP_171146_20250610_02_T2"
        let july = "LC08_L2SP_017100_20260702_02_T1"
        let october = "LC08_L2SP_156067_20261014_02_T1"
        let held = "LC08_L2SP_215128_20261116_02_T1"
        let jaxaOnly = "LC09_L2SP_053109_20261119_02_T2"
        #expect(items("NASA") == [publicScene, july, october, held, jaxaOnly])
        #expect(items("JAXA") == [publicScene, july, october, jaxaOnly])
        #expect(items("ESA") == [publicScene, july, october])
        #expect(items("CSA") == [publicScene, july])
        #expect(items("ROSCOSMOS") == [publicScene, july])
        #expect(items("public") == [publicScene])
        for viewer in ["NASA", "ESA", "JAXA", "CSA", "ROSCOSMOS", "public"] {
            #expect(
                FileManager.default.fileExists(atPath: shared.appendingPathComponent("\(viewer)/catalog.json").path)
            )
        }

        let plain = try Self.run(["ingest", file.path, "--at", Self.at])
        #expect(plain.status == 0)
        #expect(plain.stdout.hasPrefix("discovered=5 fetched=0 unchanged=5 "), "\(plain.stdout)")
        #expect(plain.stdout.split(separator: "\n").count == 1)

        let audit = try Self.run(["audit", file.path, "--at", Self.at])
        #expect(audit.status == 0, "\(audit.stdout)")
        #expect(audit.stdout.contains("compliant"))

        // Plant an embargoed item in CSA's tree: the audit must say so and exit 1.
        let jaxaCopy = try #require(Trees.item(shared, "JAXA", "landsat-c2-l2", jaxaOnly)).deletingLastPathComponent()
        let csaCopy = URL(fileURLWithPath: jaxaCopy.path.replacingOccurrences(of: "/JAXA/", with: "/CSA/"))
        try FileManager.default.createDirectory(
            at: csaCopy.deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        try FileManager.default.copyItem(at: jaxaCopy, to: csaCopy)
        let caught = try Self.run(["audit", file.path, "--at", Self.at, "--json"])
        #expect(caught.status == 1)
        let report = try JSONValue.parse(Array(caught.stdout.utf8))
        #expect(report["compliant"] == .bool(false))
        let kinds = report["findings"]?.arrayValue?.map {
            "\($0["kind"]?.stringValue ?? "") \($0["member"]?.stringValue ?? "") \($0["record"]?.stringValue ?? "")"
        }
        #expect(kinds == ["violation CSA \(jaxaOnly)"])

        let explain = try Self.run(["explain", file.path, held, "--at", Self.at])
        #expect(explain.status == 0)
        #expect(
            explain.stdout.contains("JAXA       hidden  until 2027-01-01T00:00:00Z — hold legal-1"),
            "\(explain.stdout)"
        )
    }

    @Test func exitCodesForQuarantineLockAndBadArguments() throws {
        let (folder, file) = try Self.demoCopy()
        try Data(Deflater.gzip(Array("GROUP = LANDSAT_METADATA_FILE\n".utf8)).dropLast(4)).write(
            to: folder.appendingPathComponent("feed/LC08_L2SP_001001_20260101_20260102_02_T1_MTL.txt.gz")
        )
        let r = try Self.run(["ingest", file.path, "--at", Self.at])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.contains("quarantined=1"))
        #expect(r.stderr.contains("LC08_L2SP_001001_20260101_20260102_02_T1_MTL.txt.gz: unpack: gzip:"), "\(r.stderr)")

        let bad = try Self.run(["ingest", file.path, "--at", "yesterday"])
        #expect(bad.status == 64, "\(bad.stderr)")

        // Another ingest holds the lock: exit 75 at once.
        let pipeline = try Pipeline.load(from: file)
        let fd = open(pipeline.lockPath.path, O_RDWR | O_CREAT, 0o644)
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        let locked = try Self.run(["ingest", file.path, "--at", Self.at])
        #expect(locked.status == 75, "\(locked.stderr)")
        close(fd)
        let after = try Self.run(["ingest", file.path, "--at", Self.at])
        // The lock is free again; the bad object, unchanged, is not quarantined a second time.
        #expect(after.status == 0, "\(after.stderr)")
        #expect(after.stdout.contains("unchanged=6") && after.stdout.contains("quarantined=0"), "\(after.stdout)")
    }

    @Test func twoIngestsAtOnceOneRunsOneExits75AndAKilledRunLeavesTheLockUsable() async throws {
        let (folder, file) = try Self.demoCopy()
        var g = LandsatFeedGenerator(start: Timestamp.parse("2026-01-01T00:00:00Z")!)
        g.gzip = true
        try g.write(count: 400, to: folder.appendingPathComponent("feed"))
        func start() throws -> Process {
            let p = Process()
            p.executableURL = RepoPaths.executable("eoshare")
            p.arguments = ["ingest", file.path, "--at", Self.at]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        let first = try start()
        // The first run holds the lock once its work folder exists (made after the lock is taken).
        let work = try Pipeline.load(from: file).workFolder.appendingPathComponent("run-1")
        var held = false
        // Polled on this thread (usleep), not with Task.sleep: other tests' blocking waits can
        // starve the cooperative pool for longer than the whole first run.
        for _ in 0..<800 where !held {
            usleep(10_000)
            held = FileManager.default.fileExists(atPath: work.path)
        }
        #expect(
            held,
            "the first run never started: \(first.isRunning ? "running" : "exited \(first.terminationStatus)")"
        )
        let second = try Self.run(["ingest", file.path, "--at", Self.at])
        #expect(first.isRunning, "the first run should still hold the lock")
        #expect(second.status == 75, "\(second.stderr)")
        #expect(second.stderr.contains("another ingest holds the lock"))
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let third = try Self.run(["ingest", file.path, "--at", Self.at, "--wait"])
        #expect(third.status == 0, "\(third.stderr)")
        #expect(third.stdout.contains("quarantined=0"))
    }

    @Test func metricsJsonLogsStatusAndIOErrors() throws {
        let (folder, file) = try Self.demoCopy()
        let metrics = folder.appendingPathComponent("eoshare.prom")
        let r = try Self.run([
            "ingest", file.path, "--at", Self.at, "--metrics", metrics.path, "--log-format", "json", "-v",
        ])
        #expect(r.status == 0)
        let prom = try String(contentsOf: metrics, encoding: .utf8)
        #expect(prom.contains("eoshare_ingest_last_run_records{pipeline=\"demo\"} 5"))
        let logLines = r.stderr.split(separator: "\n")
        #expect(!logLines.isEmpty)
        for line in logLines {
            let entry = try JSONValue.parse(Array(line.utf8))
            #expect(entry["level"] != nil && entry["message"] != nil && entry["time"] != nil)
        }

        let status = try Self.run(["status", file.path, "--json"])
        #expect(status.status == 0)
        let report = try JSONValue.parse(Array(status.stdout.utf8))
        #expect(report["collections"]?.arrayValue?.first?["records"]?.doubleValue == 5)
        #expect(report["runs"]?.arrayValue?.count == 1)
        let text = try Self.run(["status", file.path])
        #expect(text.stdout.contains("landsat-c2-l2: 5 records"))

        // The shared root cannot be created (a file is in the way): exit 74.
        let blocked = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(
            of: "out/shared/",
            with: "blocker/shared/"
        )
        try Data("not a folder".utf8).write(to: folder.appendingPathComponent("blocker"))
        let blockedFile = folder.appendingPathComponent("blocked.yml")
        try Data(blocked.utf8).write(to: blockedFile)
        let io = try Self.run(["ingest", blockedFile.path, "--at", Self.at])
        #expect(io.status == 74, "\(io.stderr)")
    }
}
