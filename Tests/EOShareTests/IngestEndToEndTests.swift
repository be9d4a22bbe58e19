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

/// `eoshare ingest` end to end over a real HTTP server on 127.0.0.1, with the real Landsat
/// MTL files of ../shared/fixtures, real SQLite and real files.
@Suite struct IngestEndToEndTests {
    /// One scene per acquisition instant; the policy below turns these into different audiences.
    static let scenes = [
        "LC08_L2SP_005009_20150710_20200908_02_T2_MTL.txt",
        "LC08_L2SR_099120_20191129_20201016_02_T2_MTL.txt",
        "LC08_L2SP_008059_20191201_20200825_02_T1_MTL.txt",
        "LC09_L2SP_010065_20220129_20220131_02_T1_MTL.txt",
    ]

    static let policy = """
        embargo:
          rules:
            - match: {owner: NASA, collection: "landsat-*"}
              clock: acquired
              period: P90D
              grants: {ESA: P30D, JAXA: P0D}
              public: P1Y
        """

    /// Serves gzip-compressed copies of the fixture MTLs (and one plain) from a temp folder.
    static func makeFeed(_ folder: URL) throws -> URL {
        let feed = folder.appendingPathComponent("www/landsat")
        try FileManager.default.createDirectory(at: feed, withIntermediateDirectories: true)
        for (i, name) in scenes.enumerated() {
            let bytes = [UInt8](
                try Data(contentsOf: RepoPaths.shared.appendingPathComponent("fixtures/landsat-c2-mtl/\(name)"))
            )
            if i == 0 {
                try Data(bytes).write(to: feed.appendingPathComponent(name))
            } else {
                try Data(Deflater.gzip(bytes)).write(to: feed.appendingPathComponent(name + ".gz"))
            }
        }
        try Data("not a landsat file".utf8).write(to: feed.appendingPathComponent("README.txt"))
        // Modified "just now" for the whole test (a little ahead of the clock): an index
        // page's entry then never proves them unchanged, and re-runs ask conditionally.
        for name in try FileManager.default.contentsOfDirectory(atPath: feed.path) {
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: 300)],
                ofItemAtPath: feed.appendingPathComponent(name).path
            )
        }
        return folder.appendingPathComponent("www")
    }

    static func pipeline(_ folder: URL, url: String, extra: String = "") throws -> Pipeline {
        let yaml = """
            version: 1
            state: state/test.sqlite
            shared: shared/
            members:
              - {id: NASA, name: NASA}
              - {id: ESA, name: ESA}
              - {id: JAXA, name: JAXA}
              - {id: CSA, name: CSA}
            collections:
              - {id: landsat-c2-l2, title: Landsat Collection 2 Level-2}
            sources:
              - id: usgs
                owner: NASA
                collection: landsat-c2-l2
                format: landsat-mtl
                url: \(url)
                match: ["*_MTL.txt", "*_MTL.txt.gz"]
            limits: {fetch_workers: 3, retries: 2}
            \(policy)
            \(extra)
            """
        let file = folder.appendingPathComponent("pipeline.yml")
        try Data(yaml.utf8).write(to: file)
        return try Pipeline.load(from: file)
    }

    static func items(_ shared: URL, _ viewer: String) -> Set<String> {
        Trees.ids(shared, viewer, collection: "landsat-c2-l2")
    }

    static let logger = Logger(label: "test")

    @Test func ingestPublishesPerPolicyThenReleasesAndReRunsConditionally() async throws {
        let folder = RepoPaths.temporaryFolder()
        let server = try TestHTTPServer(root: try Self.makeFeed(folder))
        defer { server.stop() }
        let p = try Self.pipeline(folder, url: server.baseURL.absoluteString + "landsat/")

        // 2022-02-15: the 2022-01-29 scene is 17 days old: JAXA (P0D) sees it, ESA (P30D) does not yet.
        let t1 = Timestamp.parse("2022-02-15T00:00:00Z")!
        let first = try await IngestRun(pipeline: p, at: t1, logger: Self.logger).run()
        #expect(first.discovered == 4)
        #expect(first.fetched == 4)
        #expect(first.records == 4)
        #expect(first.quarantined == 0)
        let new = "LC09_L2SP_010065_20220129_02_T1"
        #expect(Self.items(p.sharedRoot, "NASA").count == 4)
        #expect(Self.items(p.sharedRoot, "JAXA").contains(new))
        #expect(!Self.items(p.sharedRoot, "ESA").contains(new))
        #expect(!Self.items(p.sharedRoot, "CSA").contains(new))
        #expect(Self.items(p.sharedRoot, "CSA").count == 3)
        #expect(Self.items(p.sharedRoot, "public").count == 3)  // all older than a year
        #expect(first.published == 4 + 4 + 3 + 3 + 3)

        // Item content: contract fields and checksummed local assets, hard-linked from the store.
        let itemURL = try #require(Trees.item(p.sharedRoot, "JAXA", "landsat-c2-l2", new))
        let item = try JSONValue.parse(Data(contentsOf: itemURL))
        #expect(item["stac_version"]?.stringValue == "1.1.0")
        #expect(item["properties"]?["consortium:owner"]?.stringValue == "NASA")
        #expect(item["properties"]?["consortium:source"]?.stringValue == "usgs")
        #expect(item["properties"]?["consortium:ingested"]?.stringValue == "2022-02-15T00:00:00Z")
        #expect(item["properties"]?["consortium:processed"] != nil)
        let local = item["assets"]?.objectValue?.entries.filter { $0.value["file:checksum"] != nil } ?? []
        #expect(local.count == 1)
        let assetName = try #require(local.first?.value["href"]?.stringValue)
        var a = stat()
        var b = stat()
        stat(itemURL.deletingLastPathComponent().appendingPathComponent(assetName).path, &a)
        stat(
            try #require(Trees.item(p.sharedRoot, "NASA", "landsat-c2-l2", new)).deletingLastPathComponent()
                .appendingPathComponent(assetName).path,
            &b
        )
        #expect(a.st_ino == b.st_ino && a.st_nlink >= 3, "one stored copy, hard-linked into each tree")

        // Every published catalog, collection and item validates offline.
        for viewer in ["NASA", "ESA", "JAXA", "CSA", "public"] {
            let failures = try STACValidator.validateRecursively(
                p.sharedRoot.appendingPathComponent("\(viewer)/catalog.json")
            )
            #expect(failures.isEmpty, "\(viewer): \(failures)")
        }

        // Nothing new: only conditional requests, nothing fetched or published.
        server.resetLog()
        let second = try await IngestRun(pipeline: p, at: t1, logger: Self.logger).run()
        #expect(second.fetched == 0)
        #expect(second.unchanged == 4)
        #expect(second.published == 0 && second.released == 0 && second.retracted == 0)
        let objectRequests = server.requests().filter { $0.path.contains("_MTL") }
        #expect(objectRequests.count == 4)
        #expect(objectRequests.allSatisfy { $0.isConditional && $0.status == 304 })

        // 2022-05-01: past P90D for everyone: CSA and ESA get the new scene, without a fetch.
        let t2 = Timestamp.parse("2022-05-01T00:00:00Z")!
        let third = try await IngestRun(pipeline: p, at: t2, logger: Self.logger).run()
        #expect(third.fetched == 0)
        #expect(third.released == 2)  // ESA and CSA
        #expect(Self.items(p.sharedRoot, "CSA").contains(new))
        #expect(!Self.items(p.sharedRoot, "public").contains(new))

        let report = try await Auditor(pipeline: p, rehash: true).audit(at: t2)
        #expect(report.compliant, "\(report.findings)")
        #expect(report.items == 4 + 4 + 4 + 4 + 3)
    }

    @Test func badObjectsAreQuarantinedAndTheRunGoesOn() async throws {
        let folder = RepoPaths.temporaryFolder()
        let www = try Self.makeFeed(folder)
        let feed = www.appendingPathComponent("landsat")
        var truncated = Deflater.gzip(
            [UInt8](
                try Data(
                    contentsOf: RepoPaths.shared.appendingPathComponent(
                        "fixtures/landsat-c2-mtl/LC08_L2SP_017036_20130419_20200913_02_T2_MTL.txt"
                    )
                )
            )
        )
        truncated.removeLast(truncated.count / 2)
        try Data(truncated).write(
            to: feed.appendingPathComponent("LC08_L2SP_017036_20130419_20200913_02_T2_MTL.txt.gz")
        )
        let noDate = try String(
            contentsOf: RepoPaths.shared.appendingPathComponent(
                "fixtures/landsat-c2-mtl/LC08_L2SP_047027_20201204_20210313_02_T1_MTL.txt"
            ),
            encoding: .utf8
        )
        .components(separatedBy: "\n").filter { !$0.contains("DATE_ACQUIRED") }.joined(separator: "\n")
        try Data(noDate.utf8).write(to: feed.appendingPathComponent("LC08_L2SP_047027_20201204_20210313_02_T1_MTL.txt"))
        // Ahead of the clock like the rest of the feed, so the index page's entries never
        // prove them unchanged and the second run below has to ask.
        for name in [
            "LC08_L2SP_017036_20130419_20200913_02_T2_MTL.txt.gz", "LC08_L2SP_047027_20201204_20210313_02_T1_MTL.txt",
        ] {
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: 300)],
                ofItemAtPath: feed.appendingPathComponent(name).path
            )
        }
        let server = try TestHTTPServer(root: www)
        defer { server.stop() }
        server.inject(
            path: "/landsat/LC08_L2SR_099120_20191129_20201016_02_T2_MTL.txt.gz",
            faults: [.htmlErrorPage, .htmlErrorPage, .htmlErrorPage]
        )
        let p = try Self.pipeline(folder, url: server.baseURL.absoluteString + "landsat/")

        let summary = try await IngestRun(
            pipeline: p,
            at: Timestamp.parse("2022-05-01T00:00:00Z")!,
            logger: Self.logger
        ).run()
        #expect(summary.discovered == 6)
        #expect(summary.quarantined == 3)
        #expect(summary.records == 3)
        #expect(Self.items(p.sharedRoot, "NASA").count == 3)
        let reasons = try String(contentsOf: p.ledgerPath, encoding: .utf8).components(separatedBy: "\n")
            .filter { $0.contains("\"quarantine\"") }
        #expect(reasons.count == 3)
        #expect(reasons.contains { $0.contains("017036") && $0.contains("truncated at byte") })
        #expect(reasons.contains { $0.contains("047027") && $0.contains("DATE_ACQUIRED") })
        #expect(reasons.contains { $0.contains("099120") && $0.contains("HTML page") })
        // The bad bytes are kept aside with their reason.
        let kept = try FileManager.default.contentsOfDirectory(
            atPath: p.quarantineFolder.appendingPathComponent("usgs").path
        )
        #expect(kept.contains { $0.hasSuffix(".reason") })
        #expect(LedgerVerifier.verify(p.ledgerPath).isEmpty)

        // Again, nothing changed: the objects that arrived whole but were refused (bad gzip,
        // no acquisition date) cost a conditional request and are not quarantined again; the
        // error page is asked for in full (the transfer may do better), and the same page
        // counts as unchanged too: every refusal of the same bad bytes behaves alike.
        server.resetLog()
        let second = try await IngestRun(pipeline: p, at: Timestamp.parse("2022-05-02T00:00:00Z")!, logger: Self.logger)
            .run()
        #expect(second.fetched == 0)
        #expect(second.unchanged == 6)
        #expect(second.quarantined == 0)
        let requests = server.requests().filter { $0.path.contains("_MTL") }
        for scene in ["017036", "047027"] {
            let asked = requests.filter { $0.path.contains(scene) }
            #expect(asked.count == 1 && asked.allSatisfy { $0.isConditional && $0.status == 304 }, "\(scene): \(asked)")
        }
        #expect(requests.filter { $0.path.contains("099120") }.allSatisfy { !$0.isConditional })
    }

    @Test func localFolderSourceThroughFileURLs() async throws {
        let folder = RepoPaths.temporaryFolder()
        let www = try Self.makeFeed(folder)
        let p = try Self.pipeline(folder, url: "www/landsat/")
        let at = Timestamp.parse("2022-05-01T00:00:00Z")!
        let first = try await IngestRun(pipeline: p, at: at, logger: Self.logger).run()
        #expect(first.records == 4 && first.quarantined == 0)
        // Relocatable: no published JSON names a path on this machine.
        let files = FileManager.default.enumerator(atPath: p.sharedRoot.path)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".json") {
            let text = try String(contentsOf: p.sharedRoot.appendingPathComponent(file), encoding: .utf8)
            #expect(!text.contains("file://") && !text.contains("\"\(folder.path)"), "\(file) names a local path")
        }
        let again = try await IngestRun(pipeline: p, at: at, logger: Self.logger).run()
        #expect(again.fetched == 0 && again.unchanged == 4 && again.published == 0)
        // A changed object replaces its record.
        let name = Self.scenes[0]
        var text = try String(contentsOf: www.appendingPathComponent("landsat/\(name)"), encoding: .utf8)
        text = text.replacingOccurrences(of: "CLOUD_COVER = ", with: "CLOUD_COVER = 0")
        try Data(text.utf8).write(to: www.appendingPathComponent("landsat/\(name)"))
        let changed = try await IngestRun(pipeline: p, at: at, logger: Self.logger).run()
        #expect(changed.fetched == 1 && changed.records == 1 && changed.unchanged == 3)
    }

    /// An object refused while fetching (here an HTML page where a metadata file belongs)
    /// is remembered by its bytes only, never by its listed size and time: when the right
    /// file takes its place with the same size and time (a copy that keeps times), the next
    /// run reads it and publishes its record instead of calling it unchanged.
    @Test func objectRefusedWhileFetchingIsReadAgainNextRun() async throws {
        let folder = RepoPaths.temporaryFolder()
        let www = try Self.makeFeed(folder)
        let name = Self.scenes[0]
        let path = www.appendingPathComponent("landsat/\(name)").path
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        let html = "<!DOCTYPE html><html><body>Service unavailable</body></html>"
        let page = Data((html + String(repeating: " ", count: good.count - html.utf8.count)).utf8)
        #expect(page.count == good.count)
        let time = Date(timeIntervalSince1970: 1_650_000_000)
        try page.write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.modificationDate: time], ofItemAtPath: path)
        let p = try Self.pipeline(folder, url: "www/landsat/")
        let at = Timestamp.parse("2022-05-01T00:00:00Z")!

        let first = try await IngestRun(pipeline: p, at: at, logger: Self.logger).run()
        #expect(first.records == 3 && first.quarantined == 1)
        // Remembered by the digest of the bytes that arrived, not by the listing's size.
        let remembered = try await SQLiteStateStore(path: p.statePath).object(
            url: URL(fileURLWithPath: path).absoluteString
        )
        #expect(remembered?.sha256 == Digest.sha256Hex([UInt8](page)) && remembered?.size == nil)
        #expect(remembered?.outcome == .refused)
        try good.write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.modificationDate: time], ofItemAtPath: path)
        let second = try await IngestRun(pipeline: p, at: at, logger: Self.logger).run()
        #expect(second.fetched == 1 && second.records == 1 && second.quarantined == 0)
        #expect(Self.items(p.sharedRoot, "NASA").count == 4)
    }
}
