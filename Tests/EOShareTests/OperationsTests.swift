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

/// The operator's, the member state's and the compliance officer's uses: audit findings,
/// exports, the lock, metrics and status.
@Suite struct OperationsTests {
    static let logger = Logger(label: "test")
    static let at = Timestamp.parse("2026-11-21T12:00:00Z")!

    /// 60 generated records plus one without a processing time, ingested for five members.
    static func ingested(processedClock: Bool = false) async throws -> Pipeline {
        let folder = RepoPaths.temporaryFolder("ops")
        var g = LandsatFeedGenerator(start: Timestamp.parse("2025-06-01T00:00:00Z")!)
        g.seed = 42
        g.days = 530
        g.processedWithin = 5
        try g.write(count: 60, to: folder.appendingPathComponent("feed"))
        // A record whose product states no processing time.
        let sample = try String(
            contentsOf: RepoPaths.shared.appendingPathComponent(
                "fixtures/landsat-c2-mtl/LC08_L2SP_008059_20191201_20200825_02_T1_MTL.txt"
            ),
            encoding: .utf8
        )
        let noProcessed = sample.components(separatedBy: "\n").filter { !$0.contains("DATE_PRODUCT_GENERATED") }
            .joined(separator: "\n")
        try Data(noProcessed.utf8).write(
            to: folder.appendingPathComponent("feed/LC08_L2SP_008059_20191201_20200825_02_T1_MTL.txt")
        )
        let clock = processedClock ? "processed" : "acquired"
        let yaml = """
            version: 1
            members: [{id: NASA}, {id: ESA}, {id: JAXA}, {id: CSA}, {id: ROSCOSMOS}]
            collections: [{id: landsat-c2-l2, title: Landsat}]
            sources: [{id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: feed/}]
            embargo:
              rules:
                - match: {owner: NASA}
                  clock: \(clock)
                  period: P90D
                  grants: {ESA: P30D, JAXA: P0D}
                  public: P1Y
              releases:
                - {id: charter, effective: 2026-09-02T00:00:00Z, bbox: [-60, -30, 60, 30], to: [CSA, public]}
              holds:
                - {id: review, records: ["LC09_*_2026*"], until: 2026-12-01T00:00:00Z}
            """
        let file = folder.appendingPathComponent("ops.yml")
        try Data(yaml.utf8).write(to: file)
        let p = try Pipeline.load(from: file)
        let s = try await IngestRun(pipeline: p, at: at, logger: logger).run()
        #expect(s.records == 61 && s.quarantined == 0)
        return p
    }

    static func kinds(_ r: AuditReport) -> [String] {
        r.findings.map { "\($0.kind.rawValue) \($0.member ?? "-")" }.sorted()
    }

    @Test func auditReportsACorrectTreeCompliantAndCatchesEveryPlantedFinding() async throws {
        let p = try await Self.ingested()
        let auditor = Auditor(pipeline: p)
        await #expect(try auditor.audit(at: Self.at).compliant)
        let shared = p.sharedRoot
        func items(_ v: String) throws -> [String] { Trees.ids(shared, v, collection: "landsat-c2-l2").sorted() }
        func folder(_ v: String, _ id: String) throws -> URL {
            try #require(Trees.item(shared, v, "landsat-c2-l2", id)).deletingLastPathComponent()
        }
        // violation: an item NASA has and ROSCOSMOS may not see, copied into ROSCOSMOS's tree.
        let embargoed = try #require(Set(try items("NASA")).subtracting(try items("ROSCOSMOS")).sorted().first)
        let source = try folder("NASA", embargoed)
        let planted = URL(fileURLWithPath: source.path.replacingOccurrences(of: "/NASA/", with: "/ROSCOSMOS/"))
        try FileManager.default.createDirectory(
            at: planted.deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        try FileManager.default.copyItem(at: source, to: planted)
        await #expect(Self.kinds(try auditor.audit(at: Self.at)) == ["violation ROSCOSMOS"])
        try FileManager.default.removeItem(at: planted)

        // missing: an item ESA may see, deleted (its day catalog's link now leads nowhere too).
        let esaItem = try folder("ESA", try #require(try items("ESA").first))
        let moved = p.stateFolder.appendingPathComponent("aside")
        try FileManager.default.moveItem(at: esaItem, to: moved)
        await #expect(Set(Self.kinds(try auditor.audit(at: Self.at))) == ["missing ESA"])
        try FileManager.default.moveItem(at: moved, to: esaItem)
        await #expect(try auditor.audit(at: Self.at).compliant)

        // tampered: one flipped byte in an asset (hard-linked: every tree that holds it).
        let folder = try folder("JAXA", try items("JAXA")[0])
        let asset = try #require(
            try FileManager.default.contentsOfDirectory(atPath: folder.path).first {
                !$0.hasSuffix("_T1.json") && !$0.hasSuffix("_T2.json")
            }
        )
        let assetURL = folder.appendingPathComponent(asset)
        chmod(assetURL.path, 0o644)
        var published = stat()
        stat(assetURL.path, &published)
        var bytes = [UInt8](try Data(contentsOf: assetURL))
        bytes[10] ^= 0x01
        let h = try FileHandle(forWritingTo: assetURL)
        try h.write(contentsOf: Data(bytes))
        try h.close()
        // The size is the same and the mtime is put back: only the ctime tells the cache.
        var times = [published.st_atim, published.st_mtim]
        utimensat(AT_FDCWD, assetURL.path, &times, 0)
        let tampered = try await auditor.audit(at: Self.at)
        #expect(!tampered.findings.isEmpty && tampered.findings.allSatisfy { $0.kind == .tampered })
        bytes[10] ^= 0x01
        let h2 = try FileHandle(forWritingTo: assetURL)
        try h2.write(contentsOf: Data(bytes))
        try h2.close()
        await #expect(try auditor.audit(at: Self.at).compliant)

        // orphan: a stray file in a member's tree.
        try Data("x".utf8).write(to: shared.appendingPathComponent("CSA/landsat-c2-l2/notes.txt"))
        await #expect(Self.kinds(try auditor.audit(at: Self.at)) == ["orphan CSA"])
        try FileManager.default.removeItem(at: shared.appendingPathComponent("CSA/landsat-c2-l2/notes.txt"))

        // ledger: an edited line, then a truncated one.
        let original = try Data(contentsOf: p.ledgerPath)
        var text = String(decoding: original, as: UTF8.self)
        text = text.replacingOccurrences(of: "\"member\":\"ESA\"", with: "\"member\":\"CSA\"")
        try Data(text.utf8).write(to: p.ledgerPath)
        await #expect(Self.kinds(try auditor.audit(at: Self.at)).contains("ledger -"))
        try original.dropLast(20).write(to: p.ledgerPath)
        await #expect(Self.kinds(try auditor.audit(at: Self.at)).contains("ledger -"))
        try original.write(to: p.ledgerPath)
        await #expect(try auditor.audit(at: Self.at).compliant)
    }

    @Test func auditNamesRecordsWhoseClockIsUnknown() async throws {
        let p = try await Self.ingested(processedClock: true)
        let report = try await Auditor(pipeline: p).audit(at: Self.at)
        #expect(Self.kinds(report) == ["undeterminable NASA"])
        #expect(report.findings.first?.record == "LC08_L2SP_008059_20191201_02_T1")
        let status = try await StatusReport.build(
            pipeline: p,
            state: try SQLiteStateStore(path: p.statePath),
            now: Self.at
        )
        #expect(status.unknownClock == ["landsat-c2-l2/LC08_L2SP_008059_20191201_02_T1"])
    }

    /// The HTML page: the verdict, each finding escaped, and one dot per member and day with
    /// releases in the next 30 days, as the status report counts them.
    @Test func auditHTMLReportShowsFindingsAndTheReleaseTimeline() async throws {
        let p = try await Self.ingested()
        try Data("x".utf8).write(to: p.sharedRoot.appendingPathComponent("CSA/landsat-c2-l2/<notes>.txt"))
        let report = try await Auditor(pipeline: p).audit(at: Self.at)
        let page = p.stateFolder.appendingPathComponent("audit.html")
        try await AuditHTMLReport.write(report, pipeline: p, to: page)
        let html = try String(contentsOf: page, encoding: .utf8)
        #expect(
            html.contains("NOT compliant")
                && html.contains("CSA/landsat-c2-l2/&lt;notes&gt;.txt is explained by no record")
        )
        let releases = try await StatusReport.build(
            pipeline: p,
            state: SQLiteStateStore(path: p.statePath),
            now: Self.at
        ).releases
        // One dot per member and calendar day (UTC).
        let dots = Set(releases.flatMap { r in r.viewers.map { "\($0) \(Timestamp.format(r.at).prefix(10))" } })
        #expect(!dots.isEmpty, "the fixture has releases due within 30 days")
        #expect(html.components(separatedBy: "<circle").count - 1 == dots.count)
        #expect(AuditHTMLReport.escape(#"<a href="x">&'"#) == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;")
    }

    /// The timeline counts calendar days, not 24-hour spans from the audit's instant: a
    /// release at 11:26 the next day is on the next day's date.
    @Test func auditTimelinePlacesReleasesOnTheirCalendarDate() {
        let audit = Timestamp.parse("2026-12-18T12:00:00Z")!
        let release = StatusReport.Release(
            record: "LC08_X",
            collection: "c",
            at: Timestamp.parse("2026-12-19T11:26:00Z")!,
            viewers: ["ESA"]
        )
        let svg = AuditHTMLReport.timeline([release], from: audit, days: 30)
        #expect(svg.contains("ESA: 1 release on 2026-12-19"), "\(svg)")
        #expect(!svg.contains("on 2026-12-18"))
    }

    @Test func exportIsExactlyWhatANaiveReadingAllows() async throws {
        let p = try await Self.ingested()
        let state = try SQLiteStateStore(path: p.statePath)
        let exporter = Exporter(pipeline: p)
        var all: [EmbargoSubject] = []
        try await state.forEachRecord { all.append($0.subject) }
        for member in ["ESA", "JAXA", "CSA", "public"] {
            for at in ["2026-01-01T00:00:00Z", "2026-09-02T00:00:00Z", "2026-11-21T12:00:00Z", "2027-12-01T00:00:00Z"] {
                let t = Timestamp.parse(at)!
                let expected = Set(
                    all.filter {
                        EmbargoPropertyTests.naiveVisible(
                            p.policy,
                            $0,
                            member: member == "public" ? nil : member,
                            at: t
                        )
                    }.map(\.id)
                )
                let request = ExportRequest(
                    member: Viewer(folder: member),
                    out: URL(fileURLWithPath: "/unused"),
                    format: .geojson,
                    at: t
                )
                let got = await Set(try exporter.select(request, state: state).map(\.subject.id))
                #expect(got == expected, "\(member) at \(at)")
            }
        }
    }

    @Test func exportFormatsArchiveAndManifest() async throws {
        let p = try await Self.ingested()
        let out = RepoPaths.temporaryFolder("export")
        let exporter = Exporter(pipeline: p)
        var request = ExportRequest(
            member: .member("ESA"),
            out: out.appendingPathComponent("esa"),
            format: .stac,
            at: Self.at
        )
        let stac = try await exporter.run(request)
        #expect(stac.records > 0)
        let failures = try STACValidator.validateRecursively(out.appendingPathComponent("esa/catalog.json"))
        #expect(failures.isEmpty, "\(failures)")

        request.format = .csv
        request.out = out.appendingPathComponent("esa.csv")
        request.bbox = [-180, -90, 0, 90]
        let csv = try await exporter.run(request)
        let lines = try String(contentsOf: request.out, encoding: .utf8).components(separatedBy: "\r\n").filter {
            !$0.isEmpty
        }
        #expect(lines.first == "id,collection,owner,datetime,bbox,cloud_cover,asset_hrefs")
        #expect(lines.count == csv.records + 1)
        #expect(csv.records < stac.records)

        request.format = .geojson
        request.bbox = nil
        request.interval = (Timestamp.parse("2026-01-01T00:00:00Z"), nil)
        request.archive = true
        request.out = out.appendingPathComponent("esa.tar.gz")
        let archived = try await exporter.run(request)
        let unpack = out.appendingPathComponent("unpacked")
        try FileManager.default.createDirectory(at: unpack, withIntermediateDirectories: true)
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/bin/tar")
        tar.arguments = ["xzf", request.out.path, "-C", unpack.path]
        try tar.run()
        tar.waitUntilExit()
        #expect(tar.terminationStatus == 0)
        // Everything is under one folder named after the archive.
        #expect(try FileManager.default.contentsOfDirectory(atPath: unpack.path) == ["esa"])
        let top = unpack.appendingPathComponent("esa")
        let sum = Process()
        sum.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        sum.arguments = ["-c", "--strict", "MANIFEST.sha256"]
        sum.currentDirectoryURL = top
        sum.standardOutput = FileHandle.nullDevice
        try sum.run()
        sum.waitUntilExit()
        #expect(sum.terminationStatus == 0)
        let fc = try JSONValue.parse(Data(contentsOf: top.appendingPathComponent("items.geojson")))
        #expect(fc["features"]?.arrayValue?.count == archived.records)
        // Every export is in the ledger, and the chain holds.
        let ledger = try String(contentsOf: p.ledgerPath, encoding: .utf8)
        #expect(ledger.components(separatedBy: "\"event\":\"export\"").count - 1 == 3)
        #expect(LedgerVerifier.verify(p.ledgerPath).isEmpty)
    }

    @Test func metricsAreWrittenAtomicallyInPrometheusText() async throws {
        let p = try await Self.ingested()
        let file = p.stateFolder.appendingPathComponent("eoshare.prom")
        // A run that failed before it counted anything, then one that went well: the counters
        // carry on from the file, the per-run gauges are the last run's.
        let failedAt = Timestamp.parse("2026-11-21T12:15:00Z")!
        try IngestMetrics.write(nil, exitCode: 74, pipeline: "ops", to: file, finished: failedAt)
        let failed = try String(contentsOf: file, encoding: .utf8)
        #expect(failed.contains("eoshare_ingest_last_exit_code{pipeline=\"ops\"} 74"))
        #expect(failed.contains("eoshare_ingest_failures_total{pipeline=\"ops\"} 1"))
        #expect(
            failed.contains(
                "eoshare_ingest_last_failure_timestamp_seconds{pipeline=\"ops\"} \(Int(failedAt.timeIntervalSince1970))"
            )
        )
        #expect(!failed.contains("eoshare_ingest_last_success_timestamp_seconds"))
        let again = try await IngestRun(pipeline: p, at: Self.at, logger: Self.logger).run()
        try IngestMetrics.write(again, exitCode: 0, pipeline: "ops", to: file)
        let text = try String(contentsOf: file, encoding: .utf8)
        #expect(text.contains("eoshare_ingest_runs_total{pipeline=\"ops\"} 2"))
        #expect(text.contains("eoshare_ingest_failures_total{pipeline=\"ops\"} 1"))
        #expect(text.contains("eoshare_ingest_last_exit_code{pipeline=\"ops\"} 0"))
        #expect(
            text.contains(
                "eoshare_ingest_last_failure_timestamp_seconds{pipeline=\"ops\"} \(Int(failedAt.timeIntervalSince1970))"
            )
        )
        #expect(text.contains("eoshare_ingest_last_run_objects{pipeline=\"ops\",state=\"unchanged\"} 61"))
        #expect(text.contains("eoshare_ingest_last_run_bytes{pipeline=\"ops\"} 0"))
        #expect(text.contains("# TYPE eoshare_ingest_last_success_timestamp_seconds gauge"))
        // Per-run gauges say so in their names; quarantined objects are counted once.
        #expect(!text.contains("eoshare_ingest_quarantined"))
        #expect(text.components(separatedBy: "state=\"quarantined\"").count == 2)
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(
                line.range(
                    of: #"^eoshare_[a-z_]+\{pipeline="ops"(,[a-z]+="[a-z]+")?\} [0-9.e+]+$"#,
                    options: .regularExpression
                ) != nil,
                "\(line)"
            )
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: p.stateFolder.path).filter {
            $0.hasSuffix(".tmp")
        }
        #expect(leftovers.isEmpty)
    }

    /// A catalog link the audit follows stays inside the viewer's tree: a URL, an absolute
    /// path, a backslash or a climb above the tree resolves to nothing (a violation).
    @Test func catalogLinksResolveOnlyInsideTheTree() {
        let base = ["c", "2026", "01"]
        #expect(Auditor.resolve("./05/catalog.json", from: base) == "c/2026/01/05/catalog.json")
        #expect(Auditor.resolve("../../collection.json", from: base) == "c/collection.json")
        #expect(Auditor.resolve("./a:b/a:b.json", from: base) == "c/2026/01/a:b/a:b.json")
        for outside in [
            "https://evil.example.org/x.json", "file:///etc/passwd", "./x://y", "/etc/passwd", "..\\x",
            "../../../../catalog.json",
        ] {
            #expect(Auditor.resolve(outside, from: base) == nil, "\(outside)")
        }
    }
}
