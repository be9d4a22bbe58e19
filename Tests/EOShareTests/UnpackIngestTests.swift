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

/// The unpack stage inside a real ingest: a `.tar.gz` product bundle and a zipped one are
/// published from their entries; a bundle with an escaping entry and a zip bomb are
/// quarantined with their one-line reason, and nothing of them reaches a member's tree.
@Suite struct UnpackIngestTests {
    static let fixtures = RepoPaths.shared.appendingPathComponent("fixtures/landsat-c2-mtl")
    static let good = "LC08_L2SP_008059_20191201_20200825_02_T1"
    static let zipped = "LC08_L2SP_005009_20150710_20200908_02_T2"
    static let hostile = "LC09_L2SP_010065_20220129_20220131_02_T1"

    static func mtl(_ scene: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("\(scene)_MTL.txt")))
    }

    @Test func bundlesArePublishedAndHostileOnesQuarantined() async throws {
        let folder = RepoPaths.temporaryFolder()
        let feed = folder.appendingPathComponent("feed")
        try FileManager.default.createDirectory(at: feed, withIntermediateDirectories: true)

        let bundle = TarBuilder.archive([("\(Self.good)_MTL.txt", try Self.mtl(Self.good))])
        try Data(Deflater.gzip(bundle)).write(to: feed.appendingPathComponent("\(Self.good).tar.gz"))
        var zip = ZipBuilder()
        zip.add(ZipBuilder.Entry("\(Self.zipped)_MTL.txt", try Self.mtl(Self.zipped), method: 8))
        try Data(zip.build()).write(to: feed.appendingPathComponent("\(Self.zipped).zip"))

        var evil = TarBuilder()
        evil.file("\(Self.hostile)_MTL.txt", try Self.mtl(Self.hostile))
        evil.file("../../shared/NASA/planted.txt", Array("planted".utf8))
        evil.end()
        try Data(Deflater.gzip(evil.bytes)).write(to: feed.appendingPathComponent("\(Self.hostile).tar.gz"))
        var bomb = ZipBuilder()
        bomb.add(
            ZipBuilder.Entry(
                "LC08_L2SP_001001_20260101_20260102_02_T1_MTL.txt",
                [UInt8](repeating: 0x20, count: 50 << 20)
            )
        )
        try Data(bomb.build()).write(to: feed.appendingPathComponent("bomb.zip"))

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
              - id: usgs
                owner: NASA
                collection: landsat-c2-l2
                format: landsat-mtl
                url: feed/
                match: ["*.tar.gz", "*.zip"]
            embargo:
              rules:
                - {match: {owner: NASA}, clock: acquired, period: P0D}
            """
        let file = folder.appendingPathComponent("pipeline.yml")
        try Data(yaml.utf8).write(to: file)
        let pipeline = try Pipeline.load(from: file)
        let summary = try await IngestRun(
            pipeline: pipeline,
            at: Timestamp.parse("2026-01-01T00:00:00Z")!,
            logger: Logger(label: "test")
        ).run()

        #expect(summary.discovered == 4)
        #expect(summary.records == 2)
        #expect(summary.quarantined == 2)
        #expect(
            Trees.ids(pipeline.sharedRoot, "ESA", collection: "landsat-c2-l2")
                == ["LC08_L2SP_008059_20191201_02_T1", "LC08_L2SP_005009_20150710_02_T2"]
        )

        let ledger = try String(contentsOf: pipeline.ledgerPath, encoding: .utf8)
        let reasons = ledger.components(separatedBy: "\n").filter { $0.contains("\"quarantine\"") }
        #expect(reasons.count == 2)
        #expect(
            reasons.contains {
                $0.contains("unpack: tar.gz entry '../../shared/NASA/planted.txt': ")
                    && $0.contains("path escapes the record's folder through '..'")
            },
            "\(reasons)"
        )
        #expect(reasons.contains { $0.contains("bomb.zip") && $0.contains("max_expansion_ratio (200)") }, "\(reasons)")
        // Nothing planted anywhere, nothing of the hostile record published, the work folder gone.
        let everything = FileManager.default.enumerator(atPath: folder.path)?.allObjects as? [String] ?? []
        #expect(!everything.contains { $0.hasSuffix("planted.txt") })
        #expect(!everything.contains { $0.contains("LC09_L2SP_010065") && $0.hasPrefix("shared/") })
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: pipeline.workFolder.path)) ?? []).isEmpty)
    }
}
