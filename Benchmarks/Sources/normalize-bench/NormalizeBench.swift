import BenchSupport
import EOShare
import Foundation
import Synchronization

/// Normalize-stage benchmark (issue 5): the Landsat MTL fixtures (with their `_ANG.txt`) and
/// the Sentinel-2 SAFE fixtures that stactools can read (with `MTD_TL.xml`), taken round-robin
/// to N records (default 10,000). eoshare reads each input from disk, builds the record and
/// writes the STAC item file; in the same run stactools does `create_item` + `save_object` on
/// the same inputs (`Tests/PeerScripts/bench_stactools.py`, the venv of `make venv`). Reports
/// records/s of both, the ratio, and eoshare's peak memory at N/10 and at N (flat = no growth).
///
/// EOSHARE_BENCH_RECORDS=N sets N; EOSHARE_BENCH_PEER_RECORDS=M runs stactools on M records
/// only (its rate is then taken from M); EOSHARE_PEER_PYTHON names the venv's python.
@main
struct NormalizeBench {
    static func main() throws {
        let env = ProcessInfo.processInfo.environment
        let count = Int(env["EOSHARE_BENCH_RECORDS"] ?? "") ?? 10_000
        let peerCount = Int(env["EOSHARE_BENCH_PEER_RECORDS"] ?? "") ?? count
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let fixtures = repository.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
        // Items go to memory-backed /dev/shm when there is one (EOSHARE_BENCH_OUT overrides):
        // on this machine's ext4 each new inode costs ~0.5 ms of allocator scanning after heavy
        // churn, a cost of the disk that both sides pay alike and that would hide the stage.
        let base =
            env["EOSHARE_BENCH_OUT"].map { URL(fileURLWithPath: $0) }
            ?? (FileManager.default.isWritableFile(atPath: "/dev/shm")
                ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory)
        let root = base.appendingPathComponent("eoshare-normalize-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }

        try mtlJSONParse(fixtures: fixtures, count: count)
        let inputs = try Input.all(fixtures: fixtures, staging: root.appendingPathComponent("inputs"))
        let landsat = inputs.filter { if case .landsat = $0 { return true } else { return false } }.count
        print(
            "normalize benchmark: \(count) records round-robin over \(inputs.count) inputs "
                + "(\(landsat) Landsat MTL, \(inputs.count - landsat) Sentinel-2 SAFE), items written under \(base.path)"
        )

        // eoshare: read, normalize, write one item file per record.
        let out = root.appendingPathComponent("eoshare")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let ingested = Date()
        let idle = Memory.currentRSS()
        Memory.resetPeak()
        var peakAtTenth: Int64 = 0
        let t0 = Date()
        for i in 0..<count {
            let record = try inputs[i % inputs.count].read()
            let item = STACItemWriter.item(for: record, ingested: ingested)
            try write(item.serialized(), to: out.appendingPathComponent("\(i).json").path)
            if i + 1 == max(1, count / 10) { peakAtTenth = Memory.peakRSS() }
        }
        let seconds = Date().timeIntervalSince(t0)
        let peak = Memory.peakRSS()
        let rate = Double(count) / seconds

        // The pipeline's normalize stage is a pool of one worker per core: the same work on
        // that many threads (stactools has no such pool; it is measured single-threaded).
        let workers = max(2, ProcessInfo.processInfo.activeProcessorCount)
        let pooled = root.appendingPathComponent("eoshare-pool")
        try FileManager.default.createDirectory(at: pooled, withIntermediateDirectories: true)
        let failures = Counter()
        let t1 = Date()
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for i in stride(from: worker, to: count, by: workers) {
                do {
                    let item = STACItemWriter.item(for: try inputs[i % inputs.count].read(), ingested: ingested)
                    try write(item.serialized(), to: pooled.appendingPathComponent("\(i).json").path)
                } catch {
                    failures.add()
                }
            }
        }
        let pooledSeconds = Date().timeIntervalSince(t1)
        let pooledRate = Double(count) / pooledSeconds

        // stactools on the same inputs, same machine, same run.
        let python =
            env["EOSHARE_PEER_PYTHON"] ?? repository.appendingPathComponent(".venv/bin/python").path
        let peer = try runStactools(
            python: python,
            script: repository.appendingPathComponent("Tests/PeerScripts/bench_stactools.py"),
            out: root.appendingPathComponent("stactools"),
            count: peerCount,
            inputs: inputs.map(\.peerArgument)
        )

        print(String(format: "  eoshare    %8.2f s  %9.0f records/s", seconds, rate))
        print(
            String(
                format:
                    "  eoshare peak memory above idle: %.1f MiB after %d records, %.1f MiB after %d (idle %.1f MiB)",
                Double(peakAtTenth - idle) / 1_048_576,
                max(1, count / 10),
                Double(peak - idle) / 1_048_576,
                count,
                Double(idle) / 1_048_576
            )
        )
        print(
            String(
                format: "  eoshare, %d workers %6.2f s  %9.0f records/s  (failures %d)",
                workers,
                pooledSeconds,
                pooledRate,
                failures.value
            )
        )
        if let peer {
            let peerRate = Double(peer.records) / peer.seconds
            print(
                String(
                    format: "  stactools  %8.2f s  %9.1f records/s  (%d records, peak RSS %.1f MiB)",
                    peer.seconds,
                    peerRate,
                    peer.records,
                    Double(peer.peakKiB) / 1024
                )
            )
            print(String(format: "  ratio eoshare / stactools: %.1f× (one thread; target ≥ 20×)", rate / peerRate))
            print(
                String(
                    format: "  ratio eoshare pool of %d / stactools: %.1f× (the pipeline's normalize pool)",
                    workers,
                    pooledRate / peerRate
                )
            )
        } else {
            print("  stactools: not run (no venv python at \(python); run `make venv`)")
        }
    }

    /// The MTL JSON encoding alone (stactools reads .txt and .xml, so the run below has no
    /// JSON MTL): `MTLDocument(parsing:)` over the JSON fixtures, round-robin, `count` times,
    /// bytes already in memory. Measures the JSON lexer the MTL reader shares with `JSONValue`.
    static func mtlJSONParse(fixtures: URL, count: Int) throws {
        let folder = fixtures.appendingPathComponent("landsat-c2-mtl")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix("_MTL.json") }.sorted()
        let documents = try files.map { [UInt8](try Data(contentsOf: folder.appendingPathComponent($0))) }
        guard !documents.isEmpty else { return }
        var keys = 0
        let t0 = Date()
        for i in 0..<count {
            let document = try MTLDocument(parsing: documents[i % documents.count])
            keys += document.values(in: "PRODUCT_CONTENTS").count
        }
        let seconds = Date().timeIntervalSince(t0)
        let bytes = documents.map(\.count).reduce(0, +) * count / documents.count
        print(
            String(
                format:
                    "MTL JSON parse: %d documents (%d files) in %.3f s, %.0f documents/s, %.1f MiB/s (%d keys read)",
                count,
                documents.count,
                seconds,
                Double(count) / seconds,
                Double(bytes) / seconds / 1_048_576,
                keys
            )
        )
    }

    /// Writes a file as pystac's `save_object` does: open, write, close, no fsync (Foundation's
    /// `Data.write` syncs each file on Linux, which would measure the disk, not the stage).
    static func write(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + done, bytes.count - done) }
            guard n > 0 else { throw CocoaError(.fileWriteUnknown) }
            done += n
        }
    }

    static func runStactools(
        python: String,
        script: URL,
        out: URL,
        count: Int,
        inputs: [String]
    ) throws -> (records: Int, seconds: Double, peakKiB: Int)? {
        guard FileManager.default.isExecutableFile(atPath: python), count > 0 else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script.path, out.path, String(count)] + inputs
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
            let answer = try? JSONValue.parse([UInt8](data)),
            let records = answer["records"]?.doubleValue, let seconds = answer["seconds"]?.doubleValue
        else { return nil }
        return (Int(records), seconds, Int(answer["peak_rss_kib"]?.doubleValue ?? 0))
    }
}

/// Failures of the pooled run (there should be none: every input reads in the single run).
final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// One benchmark input, read from disk on every use as a pipeline would.
enum Input {
    case landsat(mtl: URL, angle: URL?)
    case sentinel2(safe: URL, product: String, granule: String)

    static let context = ReaderContext(
        owner: "NASA",
        collection: "bench",
        source: "bench",
        objectURL: URL(string: "https://feed.example.test/x")!
    )

    /// The Landsat MTLs (.txt and .xml) staged beside their angle files (stactools finds the
    /// ANG beside the MTL), and the SAFE products that have their granule metadata.
    static func all(fixtures: URL, staging: URL) throws -> [Input] {
        let fm = FileManager.default
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        let mtlFolder = fixtures.appendingPathComponent("landsat-c2-mtl")
        let angFolder = fixtures.appendingPathComponent("landsat-c2-ang")
        for name in try fm.contentsOfDirectory(atPath: angFolder.path) {
            try fm.copyItem(at: angFolder.appendingPathComponent(name), to: staging.appendingPathComponent(name))
        }
        var inputs: [Input] = []
        for name in try fm.contentsOfDirectory(atPath: mtlFolder.path).sorted()
        where name.hasSuffix("_MTL.txt") || name.hasSuffix("_MTL.xml") {
            let staged = staging.appendingPathComponent(name)
            try fm.copyItem(at: mtlFolder.appendingPathComponent(name), to: staged)
            let angle = staging.appendingPathComponent(name.components(separatedBy: "_MTL.")[0] + "_ANG.txt")
            inputs.append(.landsat(mtl: staged, angle: fm.fileExists(atPath: angle.path) ? angle : nil))
        }
        let s2 = fixtures.appendingPathComponent("sentinel2")
        for product in try fm.contentsOfDirectory(atPath: s2.path).sorted() where product.hasSuffix(".SAFE") {
            let safe = s2.appendingPathComponent(product)
            let top = try fm.contentsOfDirectory(atPath: safe.path)
            guard let meta = top.first(where: { $0.hasPrefix("MTD_MSIL") }), top.contains("GRANULE"),
                let granule = try fm.contentsOfDirectory(atPath: safe.appendingPathComponent("GRANULE").path).first
            else { continue }
            inputs.append(.sentinel2(safe: safe, product: meta, granule: "GRANULE/\(granule)/MTD_TL.xml"))
        }
        return inputs
    }

    var peerArgument: String {
        switch self {
        case .landsat(let mtl, _): return mtl.path
        case .sentinel2(let safe, _, _): return safe.path
        }
    }

    func read() throws -> Record {
        switch self {
        case .landsat(let mtl, let angle):
            return try LandsatMTLReader.read(
                try FileBytes.read(mtl),
                angle: try angle.map { try FileBytes.read($0) },
                context: Self.context
            )
        case .sentinel2(let safe, let product, let granule):
            let name = safe.lastPathComponent
            return try Sentinel2SAFEReader.read(
                Sentinel2SAFEReader.Input(
                    productName: "\(name)/\(product)",
                    product: try FileBytes.read(safe.appendingPathComponent(product)),
                    manifest: try FileBytes.read(safe.appendingPathComponent("manifest.safe")),
                    granuleName: "\(name)/\(granule)",
                    granule: try FileBytes.read(safe.appendingPathComponent(granule))
                ),
                context: Self.context
            )
        }
    }
}
