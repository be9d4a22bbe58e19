import Foundation
import Logging
import Testing

@testable import EOShareCore
@testable import EOShareFetch
@testable import EOShareState

/// A local folder is listed a chunk at a time (issue 17: memory flat in the record count):
/// nothing is lost or doubled across chunks, sidecars in another chunk are still found, and
/// what is not a wanted regular file is left out.
@Suite struct LocalDiscoveryTests {
    /// The fetch stage of a one-source pipeline over the local folder `url` (relative to `folder`).
    static func stage(_ folder: URL, url: String) async throws -> (Pipeline, FetchStage) {
        try Data(
            """
            version: 1
            state: state/s.sqlite
            shared: shared/
            members: [{id: NASA}]
            collections: [{id: landsat-c2-l2}]
            sources:
              - {id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: \(url), checksum: sidecar}
            embargo: {rules: [{match: {owner: NASA}, clock: acquired, period: P0D}]}
            """.utf8
        ).write(to: folder.appendingPathComponent("p.yml"))
        let pipeline = try Pipeline.load(from: folder.appendingPathComponent("p.yml"))
        let stage = FetchStage(
            pipeline: pipeline,
            state: try await openState(pipeline),
            workFolder: folder.appendingPathComponent("work"),
            logger: Logger(label: "test")
        )
        return (pipeline, stage)
    }

    @Test func aFolderOfManyChunksIsListedWholeWithEverySidecar() async throws {
        let folder = RepoPaths.temporaryFolder()
        let feed = folder.appendingPathComponent("feed")
        try FileManager.default.createDirectory(
            at: feed.appendingPathComponent("sub"),
            withIntermediateDirectories: true
        )
        // More than two chunks of objects, each with a sidecar (so sidecars land in other chunks).
        let count = Discovery.chunkSize * 2 + 300
        for i in 0..<count {
            let name = String(format: "scene-%05d_MTL.txt", i)
            try Data("x".utf8).write(to: feed.appendingPathComponent(name))
            let kind = i % 7 == 0 ? "md5" : "sha256"
            if i % 11 != 0 { try Data("0".utf8).write(to: feed.appendingPathComponent("\(name).\(kind)")) }
        }
        try Data().write(to: feed.appendingPathComponent(".hidden_MTL.txt"))
        try FileManager.default.createSymbolicLink(
            atPath: feed.appendingPathComponent("link_MTL.txt").path,
            withDestinationPath: "/etc/hostname"
        )
        let (pipeline, stage) = try await Self.stage(folder, url: "feed/")
        defer { Task { await stage.close() } }

        var chunks: [[ObjectRef]] = []
        try await Discovery(downloader: stage.downloader, settings: stage.settings)
            .discover(pipeline.sources[0]) { chunks.append($0) }
        #expect(chunks.count >= 3)
        #expect(chunks.allSatisfy { $0.count <= Discovery.chunkSize })
        #expect(chunks.allSatisfy { $0.map(\.name) == $0.map(\.name).sorted() }, "each chunk is in name order")
        let refs = chunks.flatMap { $0 }
        #expect(refs.count == count, "every object once, no sidecar, hidden file or symlink")
        #expect(Set(refs.map(\.name)).count == count)
        for ref in refs {
            let i = Int(ref.name.dropFirst("scene-".count).prefix(5))!
            let expected: Sidecar.Kind? = i % 11 == 0 ? nil : (i % 7 == 0 ? .md5 : .sha256)
            #expect(ref.sidecar?.kind == expected, "\(ref.name)")
            #expect(ref.sidecar.map { $0.url.lastPathComponent } == expected.map { "\(ref.name).\($0.rawValue)" })
            #expect(ref.listed && ref.size == 1 && ref.modified != nil)
        }
    }

    @Test func aMissingFolderIsNamedPlainly() async throws {
        let folder = RepoPaths.temporaryFolder()
        let (pipeline, stage) = try await Self.stage(folder, url: "absent/")
        defer { Task { await stage.close() } }
        do {
            _ = try await stage.discover(pipeline.sources[0])
            Issue.record("an absent folder is an error")
        } catch {
            #expect(error.reason.hasPrefix("cannot list \(folder.path)/absent"), "\(error.reason)")
            #expect(error.reason.hasSuffix("No such file or directory"), "\(error.reason)")
        }
    }
}
