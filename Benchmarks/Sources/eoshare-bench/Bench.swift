import BenchSupport
import EOShare
import EOShareFeedGeneration
import Foundation
import Logging

/// End-to-end ingest benchmark: N generated Landsat records (gzip, mixed encodings) from a
/// local feed through every stage into five members' trees. Reports records/s, peak memory
/// above idle, the nothing-new re-run, and a reference run of `gzip -dc` over the same
/// files in the same script, as a ratio, the layout's bare system calls (the floor), and a run
/// that adds ten records to the whole collection.
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
            total
                + Int64(
                    (try? FileManager.default.attributesOfItem(atPath: feed.appendingPathComponent(name).path)[.size]
                        as? Int) ?? 0
                )
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

        // Ten new records on top of the collection: a run should cost what changed.
        var more = generator
        more.seed = 99
        more.encoding = .txt
        let added = try more.write(count: 10, to: root.appendingPathComponent("more"))
        for name in added {
            try? FileManager.default.moveItem(
                at: root.appendingPathComponent("more/\(name)"),
                to: feed.appendingPathComponent("ten-\(name)")
            )
        }
        let t4 = Date()
        let third = try await IngestRun(pipeline: pipeline, at: at, logger: logger).run()
        let tenSeconds = Date().timeIntervalSince(t4)

        // Reference: gzip -dc over the same files, one process, output discarded.
        let t2 = Date()
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gzip.arguments = ["-c", "cd '\(feed.path)' && find . -name '*.gz' -print0 | xargs -0 gzip -dc > /dev/null"]
        try gzip.run()
        gzip.waitUntilExit()
        let gzipSeconds = Date().timeIntervalSince(t2)

        // Reference: the layout's floor on this filesystem, the system calls any writer of
        // CONTRACT §6's trees must make and nothing else: per record one stored asset; per
        // published copy the day and item folders (mkdir), the asset hard-linked in, the item
        // JSON written to a temporary name and renamed.
        let floorSeconds = try Floor.run(
            root: root.appendingPathComponent("floor"),
            records: first.records,
            copies: first.published
        )

        let rate = Double(first.records) / firstSeconds
        let floorRate = Double(first.records) / floorSeconds
        let gzipRate = Double(count) / gzipSeconds
        print(
            "eoshare ingest benchmark: \(count) Landsat records (\(feedBytes / 1024) KiB gzip, mixed txt/json/xml), 5 members + public"
        )
        print(
            String(
                format: "  first run          %8.2f s  %9.0f records/s  published=%d quarantined=%d failed=%d",
                firstSeconds,
                rate,
                first.published,
                first.quarantined,
                first.failed
            )
        )
        print(
            String(
                format: "  peak memory        %8.1f MiB above idle (idle %.1f MiB, peak %.1f MiB)",
                Double(peak - idle) / 1_048_576,
                Double(idle) / 1_048_576,
                Double(peak) / 1_048_576
            )
        )
        print(
            String(
                format: "  re-run, nothing new %7.2f s  (%.1f%% of the first run; fetched=%d)",
                secondSeconds,
                100 * secondSeconds / firstSeconds,
                second.fetched
            )
        )
        print(
            String(
                format: "  re-run, 10 new      %7.2f s  (%.2f x the nothing-new run; records=%d)",
                tenSeconds,
                tenSeconds / secondSeconds,
                third.records
            )
        )
        print(String(format: "  reference gzip -dc %8.2f s  %9.0f files/s", gzipSeconds, gzipRate))
        print(
            String(
                format: "  reference floor    %8.2f s  %9.0f records/s  (%d copies: mkdir, link, write+rename)",
                floorSeconds,
                floorRate,
                first.published
            )
        )
        print(
            String(
                format: "  ratio eoshare / gzip -dc: %.3f (records/s over files/s; gzip only decompresses)",
                rate / gzipRate
            )
        )
        print(
            String(
                format: "  ratio eoshare / floor:    %.3f (records/s over the layout's bare system calls)",
                rate / floorRate
            )
        )
        if let biggest = Floor.largestCatalog(root.appendingPathComponent("shared")) {
            print("  largest catalog file: \(biggest.bytes / 1024) KiB (\(biggest.path))")
        }
    }
}

/// The layout's bare system calls, as C would make them.
enum Floor {
    static func run(root: URL, records: Int, copies: Int) throws -> Double {
        let trees = max(1, copies / max(1, records))
        let payload = [UInt8](repeating: 0x20, count: 3_000)
        let asset = [UInt8](repeating: 0x41, count: 12_000)
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("store"),
            withIntermediateDirectories: true
        )
        let t = Date()
        func write(_ bytes: [UInt8], _ path: String) {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        var made = Set<String>()
        func mkdirs(_ path: String) {
            guard !made.contains(path) else { return }
            if mkdir(path, 0o755) != 0 && errno == ENOENT {
                mkdirs((path as NSString).deletingLastPathComponent)
                mkdir(path, 0o755)
            }
            made.insert(path)
        }
        var done = 0
        for r in 0..<records {
            let stored = root.path + "/store/\(r)"
            write(asset, stored)
            let day = String(format: "%04d/%02d/%02d", 2026, r % 12 + 1, r % 28 + 1)
            for v in 0..<trees where done < copies {
                done += 1
                let folder = root.path + "/v\(v)/c/\(day)/item\(r)"
                mkdirs(folder)
                link(stored, folder + "/asset.txt")
                write(payload, folder + "/.tmp")
                rename(folder + "/.tmp", folder + "/item\(r).json")
            }
        }
        return Date().timeIntervalSince(t)
    }

    /// The largest catalog or collection file under SHARED.
    static func largestCatalog(_ shared: URL) -> (path: String, bytes: Int)? {
        var best: (String, Int)?
        let e = FileManager.default.enumerator(atPath: shared.path)
        while let rel = e?.nextObject() as? String {
            guard rel.hasSuffix("catalog.json") || rel.hasSuffix("collection.json") else { continue }
            let size =
                (try? FileManager.default.attributesOfItem(atPath: shared.appendingPathComponent(rel).path)[.size]
                    as? Int) ?? 0
            if size > (best?.1 ?? -1) { best = (rel, size) }
        }
        return best.map { (path: $0.0, bytes: $0.1) }
    }
}
