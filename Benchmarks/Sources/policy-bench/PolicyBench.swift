import EOShare
import EOShareFeedGeneration
import Foundation
import Logging

/// Embargo and publisher benchmarks (issue: embargo engine and publisher):
/// policy decisions per second on one core; a release pass that opens 10,000 known records
/// to the other members; and the disk SHARED takes for five members seeing the same records.
@main
struct PolicyBench {
    static func main() async throws {
        try decisions()
        try await releasePassAndDisk()
    }

    static let policyYAML = """
        embargo:
          rules:
            - match: {owner: ESA, collection: "sentinel-*"}
              clock: {latest: [acquired, processed]}
              period: P6M
              grants: {NASA: P1M}
            - match: {owner: NASA, collection: "landsat-*"}
              clock: acquired
              period: P90D
              grants: {ESA: P30D, JAXA: P0D}
              public: P1Y
            - match: {owner: "*"}
              clock: ingested
              period: P1Y
          releases:
            - {id: charter, effective: 2026-09-02T00:00:00Z, bbox: [5, 45, 15, 50], acquired: 2026-09-01T00:00:00Z/2026-09-30T23:59:59Z, to: [all]}
          holds:
            - {id: legal, records: ["LC08_*_2026111*"], until: 2027-01-01T00:00:00Z}
        """

    static func pipeline(in root: URL, records: String = "feed/") throws -> Pipeline {
        let file = root.appendingPathComponent("bench.yml")
        try Data(
            """
            version: 1
            state: state/bench.sqlite
            shared: shared/
            members: [{id: NASA}, {id: ESA}, {id: JAXA}, {id: CSA}, {id: ROSCOSMOS}]
            collections: [{id: landsat-c2-l2}, {id: sentinel-2-l2a}]
            sources: [{id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: \(records)}]
            \(policyYAML)
            """.utf8
        ).write(to: file)
        return try Pipeline.load(from: file)
    }

    /// Decisions per second on one core: every (record, viewer) pair at an instant.
    static func decisions() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("policy-bench-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let p = try pipeline(in: root)
        let engine = EmbargoEngine(policy: p.policy, members: p.members.map(\.id))
        var rng = SystemRandomNumberGenerator()
        let base = Timestamp.parse("2026-01-01T00:00:00Z")!
        let subjects = (0..<10_000).map { i -> EmbargoSubject in
            let acquired = base.addingTimeInterval(Double.random(in: 0...(330 * 86_400), using: &rng))
            return EmbargoSubject(
                id: "LC0\(8 + i % 2)_L2SP_\(i)_2026\(String(format: "%02d%02d", 1 + i % 12, 1 + i % 28))_02_T1",
                collection: i % 3 == 0 ? "sentinel-2-l2a" : "landsat-c2-l2",
                owner: i % 3 == 0 ? "ESA" : "NASA",
                bbox: [Double(i % 40), 40, Double(i % 40) + 2, 42],
                acquired: acquired,
                processed: acquired.addingTimeInterval(86_400 * 3),
                ingested: acquired.addingTimeInterval(86_400 * 5)
            )
        }
        let viewers = engine.viewers
        let at = Timestamp.parse("2026-11-21T12:00:00Z")!
        var visible = 0
        var count = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<40 {
            for s in subjects {
                for v in viewers where engine.decide(s, for: v, at: at).visible {
                    visible += 1
                }
                count += viewers.count
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print(
            "policy decisions: \(count) in \(String(format: "%.2f", seconds)) s on one core = \(String(format: "%.0f", Double(count) / seconds)) decisions/s (\(visible) visible)"
        )
    }

    /// 10,000 records ingested while only their owner and JAXA may see them, then a run at
    /// an instant when every member may: the release pass alone, records/s.
    static func releasePassAndDisk() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("release-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        var generator = LandsatFeedGenerator(start: Timestamp.parse("2026-01-01T00:00:00Z")!)
        generator.days = 14
        generator.gzip = true
        try generator.write(count: 10_000, to: root.appendingPathComponent("feed"))
        let p = try pipeline(in: root)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        // Acquired 2026-01-01…14: on 2026-01-15 NASA and JAXA (P0D) see them; on 2026-06-01
        // ESA, CSA and ROSCOSMOS too (P90D), not yet the public (P1Y).
        _ = try await IngestRun(pipeline: p, at: Timestamp.parse("2026-01-15T00:00:00Z")!, logger: logger).run()
        let t0 = Date()
        let release = try await IngestRun(pipeline: p, at: Timestamp.parse("2026-06-01T00:00:00Z")!, logger: logger)
            .run()
        let seconds = Date().timeIntervalSince(t0)
        print(
            String(
                format: "release pass: 10000 records released into %d member trees in %.2f s = %.0f records/s",
                release.released,
                seconds,
                10_000 / seconds
            )
        )

        // Disk, after a run when all six trees see every record: asset bytes stored once.
        _ = try await IngestRun(pipeline: p, at: Timestamp.parse("2027-06-01T00:00:00Z")!, logger: logger).run()
        var seen = Set<UInt64>()
        var logical: Int64 = 0
        var physical: Int64 = 0
        var onDisk: Int64 = 0
        var store: Int64 = 0
        let e = FileManager.default.enumerator(atPath: p.sharedRoot.path)
        while let rel = e?.nextObject() as? String {
            var st = stat()
            guard lstat(p.sharedRoot.appendingPathComponent(rel).path, &st) == 0 else { continue }
            let isFile = (st.st_mode & S_IFMT) == S_IFREG
            let fresh = seen.insert(UInt64(st.st_ino)).inserted
            if fresh { onDisk += Int64(st.st_blocks) * 512 }
            guard isFile else { continue }
            if rel.hasPrefix(".store/") {
                if !rel.hasPrefix(".store/.tmp") { store += Int64(st.st_size) }
            } else if rel.hasSuffix("_MTL.txt") || rel.hasSuffix("_MTL.json") || rel.hasSuffix("_MTL.xml") {
                logical += Int64(st.st_size)
                if fresh { physical += Int64(st.st_size) }
            }
        }
        print(
            String(
                format:
                    "disk: 6 trees × 10000 records: asset bytes seen through the trees %.1f MiB, stored %.1f MiB (%.2f × one copy); SHARED on disk %.1f MiB including folders and item JSON",
                Double(logical) / 1_048_576,
                Double(physical) / 1_048_576,
                Double(physical) / Double(max(store, 1)),
                Double(onDisk) / 1_048_576
            )
        )
    }
}
