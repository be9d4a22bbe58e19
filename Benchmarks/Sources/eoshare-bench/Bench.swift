import BenchSupport
import EOShare
import Foundation
import Logging

/// End-to-end ingest benchmark: N generated Landsat records (gzip, mixed encodings) from a
/// local feed through every stage into five members' trees. Reports records/s, peak memory
/// above idle, the nothing-new re-run, and a reference run of `gzip -dc` over the same
/// files in the same script, as a ratio.
@main
struct Bench {
    static func main() async throws {
        let count = Int(ProcessInfo.processInfo.environment["EOSHARE_BENCH_RECORDS"] ?? "") ?? 10_000
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("eoshare-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        let feed = root.appendingPathComponent("feed")
        var generator = LandsatFeedGenerator(start: Timestamp.parse("2026-01-01T00:00:00Z")!)
        generator.encoding = .mixed
        generator.gzip = true
        generator.days = 300
        let names = try generator.write(count: count, to: feed)
        let feedBytes = names.reduce(Int64(0)) { total, name in
            total + Int64((try? FileManager.default.attributesOfItem(atPath: feed.appendingPathComponent(name).path)[.size] as? Int) ?? 0)
        }
        let pipelineFile = root.appendingPathComponent("bench.yml")
        try Data(
            """
            version: 1
            state: state/bench.sqlite
            shared: shared/
            members:
              - {id: NASA}
              - {id: ESA}
              - {id: JAXA}
              - {id: CSA}
              - {id: ROSCOSMOS}
            collections:
              - {id: landsat-c2-l2}
            sources:
              - {id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: feed/}
            embargo:
              rules:
                - match: {owner: NASA}
                  clock: acquired
                  period: P90D
                  grants: {ESA: P30D, JAXA: P0D}
                  public: P1Y
            """.utf8
        ).write(to: pipelineFile)
        let pipeline = try Pipeline.load(from: pipelineFile)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let at = Timestamp.parse("2026-11-21T12:00:00Z")!

        let idle = Memory.currentRSS()
        Memory.resetPeak()
        let t0 = Date()
        let first = try await IngestRun(pipeline: pipeline, at: at, logger: logger).run()
        let firstSeconds = Date().timeIntervalSince(t0)
        let peak = Memory.peakRSS()

        let t1 = Date()
        let second = try await IngestRun(pipeline: pipeline, at: at, logger: logger).run()
        let secondSeconds = Date().timeIntervalSince(t1)

        // Reference: gzip -dc over the same files, one process, output discarded.
        let t2 = Date()
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gzip.arguments = ["-c", "cd '\(feed.path)' && find . -name '*.gz' -print0 | xargs -0 gzip -dc > /dev/null"]
        try gzip.run()
        gzip.waitUntilExit()
        let gzipSeconds = Date().timeIntervalSince(t2)

        // Reference: the layout's floor on this filesystem — one folder and one small file per
        // published item, nothing else (what any writer of CONTRACT §6's tree must do).
        let floorRoot = root.appendingPathComponent("floor")
        let payload = Data(repeating: 0x20, count: 3_000)
        let t3 = Date()
        for i in 0..<first.published {
            let dir = floorRoot.appendingPathComponent("v\(i % 6)/c/item\(i)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try payload.write(to: dir.appendingPathComponent("item.json"))
        }
        let floorSeconds = Date().timeIntervalSince(t3)

        let rate = Double(first.records) / firstSeconds
        let gzipRate = Double(count) / gzipSeconds
        print("eoshare ingest benchmark: \(count) Landsat records (\(feedBytes / 1024) KiB gzip, mixed txt/json/xml), 5 members + public")
        print(String(format: "  first run          %8.2f s  %9.0f records/s  published=%d quarantined=%d", firstSeconds, rate, first.published, first.quarantined))
        print(String(format: "  peak memory        %8.1f MiB above idle (idle %.1f MiB, peak %.1f MiB)", Double(peak - idle) / 1_048_576, Double(idle) / 1_048_576, Double(peak) / 1_048_576))
        print(String(format: "  re-run, nothing new %7.2f s  (%.1f%% of the first run; fetched=%d)", secondSeconds, 100 * secondSeconds / firstSeconds, second.fetched))
        print(String(format: "  reference gzip -dc %8.2f s  %9.0f files/s", gzipSeconds, gzipRate))
        print(String(format: "  reference tree floor %6.2f s  (%d folders + files written bare)", floorSeconds, first.published))
        print(String(format: "  ratio eoshare / gzip -dc: %.3f (records/s over files/s; gzip only decompresses)", rate / gzipRate))
        print(String(format: "  ratio tree floor / eoshare: %.2f (share of the run the layout's folders and files alone take)", floorSeconds / firstSeconds))
    }
}
