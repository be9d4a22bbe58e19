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

/// The stages together on Sentinel-2 bundles as ESA delivers them: a SAFE product zipped,
/// and one as .tar.gz, unpacked, read by the SAFE reader and published with their files.
@Suite struct SentinelBundleIngestTests {
    static func run(_ tool: String, _ args: [String], in folder: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.currentDirectoryURL = folder
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(tool) \(args)")
    }

    @Test func zippedAndTarredSAFEProductsPublish() async throws {
        let folder = RepoPaths.temporaryFolder()
        let feed = folder.appendingPathComponent("feed")
        try FileManager.default.createDirectory(at: feed, withIntermediateDirectories: true)
        let safes = RepoPaths.shared.appendingPathComponent("fixtures/sentinel2")
        let zipped = "S2B_MSIL2A_20220413T150759_N0400_R025_T33XWJ_20220414T082126.SAFE"
        let tarred = "S2A_MSIL2A_20230625T234621_N0509_R073_T01WCS_20230626T022157.SAFE"
        try Self.run(
            "/usr/bin/env",
            [
                "python3", "-c", "import shutil,sys; shutil.make_archive(sys.argv[1], 'zip', sys.argv[2], sys.argv[3])",
                feed.appendingPathComponent(zipped).path, safes.path, zipped,
            ],
            in: folder
        )
        try Self.run(
            "/bin/tar",
            ["czf", feed.appendingPathComponent("\(tarred).tar.gz").path, "-C", safes.path, tarred],
            in: folder
        )
        let file = folder.appendingPathComponent("p.yml")
        try Data(
            """
            version: 1
            members: [{id: ESA}, {id: NASA}]
            collections: [{id: sentinel-2-l2a}]
            sources: [{id: s2, owner: ESA, collection: sentinel-2-l2a, format: sentinel2-safe, url: feed/}]
            embargo:
              rules: [{clock: acquired, period: P30D}]
            """.utf8
        ).write(to: file)
        let p = try Pipeline.load(from: file)
        let s = try await IngestRun(
            pipeline: p,
            at: Timestamp.parse("2026-11-21T00:00:00Z")!,
            logger: Logger(label: "test")
        ).run()
        #expect(s.records == 2 && s.quarantined == 0 && s.published == 4)
        for id in ["S2B_T33XWJ_20220413T150756_L2A", "S2A_T01WCS_20230625T234624_L2A"] {
            let itemURL = try #require(Trees.item(p.sharedRoot, "NASA", "sentinel-2-l2a", id))
            let dir = itemURL.deletingLastPathComponent()
            let item = try JSONValue.parse(Data(contentsOf: itemURL))
            let local = (item["assets"]?.objectValue?.entries ?? []).filter { $0.value["file:checksum"] != nil }
            #expect(local.count >= 2, "\(id): metadata files travel with the item")
            for (_, asset) in local {
                let name = try #require(asset["href"]?.stringValue)
                #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), "\(name)")
            }
        }
        let failures = try STACValidator.validateRecursively(p.sharedRoot.appendingPathComponent("NASA/catalog.json"))
        #expect(failures.isEmpty, "\(failures)")
    }
}
