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

/// Records are never overwritten by another owner, and a policy that tightens retracts.
@Suite struct OwnershipAndPolicyChangeTests {
    static let logger = Logger(label: "test")
    static let at = Timestamp.parse("2026-11-21T00:00:00Z")!

    static func write(_ yaml: String, in folder: URL) throws -> Pipeline {
        let file = folder.appendingPathComponent("p.yml")
        try Data(yaml.utf8).write(to: file)
        return try Pipeline.load(from: file)
    }

    static func feed(_ folder: URL, _ name: String, seed: UInt64, count: Int = 3) throws {
        var g = LandsatFeedGenerator(start: Timestamp.parse("2026-01-01T00:00:00Z")!)
        g.seed = seed
        try g.write(count: count, to: folder.appendingPathComponent(name))
    }

    @Test func anotherOwnersRecordIdIsQuarantinedNotOverwritten() async throws {
        let folder = RepoPaths.temporaryFolder()
        try Self.feed(folder, "nasa", seed: 1)
        try Self.feed(folder, "esa", seed: 1)  // the very same records, claimed by ESA
        let p = try Self.write(
            """
            version: 1
            members: [{id: NASA}, {id: ESA}]
            collections: [{id: landsat-c2-l2}]
            sources:
              - {id: nasa, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: nasa/}
              - {id: esa, owner: ESA, collection: landsat-c2-l2, format: landsat-mtl, url: esa/}
            """,
            in: folder
        )
        let s = try await IngestRun(pipeline: p, at: Self.at, logger: Self.logger).run()
        #expect(s.records == 3 && s.quarantined == 3)
        let ledger = try String(contentsOf: p.ledgerPath, encoding: .utf8)
        #expect(ledger.contains("belongs to NASA; ESA may not replace it"))
        // NASA's items are untouched: still NASA's.
        for found in Trees.items(p.sharedRoot) where found.viewer == "NASA" {
            let item = try JSONValue.parse(Data(contentsOf: found.url))
            #expect(item["properties"]?["consortium:owner"]?.stringValue == "NASA")
        }
    }

    @Test func anObjectThatChangesOwnerIsQuarantined() async throws {
        let folder = RepoPaths.temporaryFolder()
        try Self.feed(folder, "feed", seed: 2, count: 2)
        let yaml = """
            version: 1
            members: [{id: NASA}, {id: ESA}]
            collections: [{id: landsat-c2-l2}]
            sources: [{id: usgs, owner: OWNER, collection: landsat-c2-l2, format: landsat-mtl, url: feed/}]
            """
        let p1 = try Self.write(yaml.replacingOccurrences(of: "OWNER", with: "NASA"), in: folder)
        #expect(try await IngestRun(pipeline: p1, at: Self.at, logger: Self.logger).run().records == 2)
        // The source is reassigned and the objects change: they come back under ESA.
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("feed").path) {
            let url = folder.appendingPathComponent("feed/\(name)")
            try Data((try String(contentsOf: url, encoding: .utf8) + "\n").utf8).write(to: url)
        }
        let p2 = try Self.write(yaml.replacingOccurrences(of: "OWNER", with: "ESA"), in: folder)
        let s = try await IngestRun(pipeline: p2, at: Self.at, logger: Self.logger).run()
        #expect(s.quarantined == 2 && s.records == 0)
        #expect(try String(contentsOf: p2.ledgerPath, encoding: .utf8).contains("belongs to NASA"))
    }

    @Test func aLongerPeriodRetractsAndTheAuditAgrees() async throws {
        let folder = RepoPaths.temporaryFolder()
        try Self.feed(folder, "feed", seed: 3, count: 10)
        let yaml = """
            version: 1
            members: [{id: NASA}, {id: ESA}]
            collections: [{id: landsat-c2-l2}]
            sources: [{id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: feed/}]
            embargo:
              rules: [{clock: acquired, period: PERIOD}]
            """
        let p1 = try Self.write(yaml.replacingOccurrences(of: "PERIOD", with: "P1D"), in: folder)
        let first = try await IngestRun(pipeline: p1, at: Self.at, logger: Self.logger).run()
        #expect(first.published == 20)
        let p2 = try Self.write(yaml.replacingOccurrences(of: "PERIOD", with: "P10Y"), in: folder)
        let second = try await IngestRun(pipeline: p2, at: Self.at, logger: Self.logger).run()
        #expect(second.retracted == 10 && second.fetched == 0)
        let esa = p2.sharedRoot.appendingPathComponent("ESA/landsat-c2-l2")
        #expect(!FileManager.default.fileExists(atPath: esa.path), "ESA's collection is gone with its last item")
        await #expect(try Auditor(pipeline: p2).audit(at: Self.at).compliant)
    }
}
