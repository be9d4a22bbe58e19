import EOShare
import Foundation

/// The benchmark's inputs, made once per folder (kept with EOSHARE_BENCH_KEEP=1) and
/// compressed by the system tools, as a member's feed would be.
enum Inputs {
    struct Scene {
        var gz: URL
        var rawBytes: Int64
        var gzBytes: Int64
        var sha256: String
    }

    struct Bundle {
        var tgz: URL
        var files: Int
        var tarBytes: Int64
        var tgzBytes: Int64
    }

    /// A Landsat-like product file of `bytes`: MTL-style text, then a 16-bit band.
    static func scene(bytes: Int64, in folder: URL) throws -> Scene {
        let gz = folder.appendingPathComponent("scene.raw.gz")
        let facts = folder.appendingPathComponent("scene.facts")
        if let text = try? String(contentsOf: facts, encoding: .utf8), FileManager.default.fileExists(atPath: gz.path) {
            let parts = text.split(separator: " ")
            if parts.count == 2, let raw = Int64(parts[0]), raw == bytes {
                return Scene(gz: gz, rawBytes: raw, gzBytes: size(gz), sha256: String(parts[1]))
            }
        }
        print("  making a \(bytes >> 20) MiB scene and compressing it with gzip -6 …")
        let raw = folder.appendingPathComponent("scene.raw")
        let fd = open(raw.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot write \(raw.path)")
        let digest = StreamingDigest(.sha256)
        var written: Int64 = 0
        func emit(_ chunk: UnsafeRawBufferPointer) {
            let count = Int(min(Int64(chunk.count), bytes - written))
            let part = UnsafeRawBufferPointer(rebasing: chunk[0..<count])
            digest.update(part)
            precondition(write(fd, part.baseAddress, count) == count, "short write")
            written += Int64(count)
        }
        metadataText(lines: 400, seed: 1).withUnsafeBytes { emit($0) }
        var band = SyntheticBand(width: 7_861, seed: 42)
        var row = [UInt16](repeating: 0, count: band.width)
        while written < bytes {
            band.nextRow(into: &row)
            row.withUnsafeBytes { emit($0) }
        }
        close(fd)
        try UnpackBench.shell("gzip -6 -c '\(raw.path)' > '\(gz.path)' && rm '\(raw.path)'")
        let sha = digest.finalizeHex()
        try Data("\(bytes) \(sha)".utf8).write(to: facts)
        return Scene(gz: gz, rawBytes: bytes, gzBytes: size(gz), sha256: sha)
    }

    /// `files` files as product bundles of 20 (metadata text, bands, QA masks, a thumbnail),
    /// tarred and compressed by `tar cf` and `gzip -6`.
    static func bundle(files: Int, in folder: URL) throws -> Bundle {
        let tgz = folder.appendingPathComponent("bundle.tar.gz")
        let facts = folder.appendingPathComponent("bundle.facts")
        if let text = try? String(contentsOf: facts, encoding: .utf8), FileManager.default.fileExists(atPath: tgz.path)
        {
            let parts = text.split(separator: " ").compactMap { Int64($0) }
            if parts.count == 2, parts[0] == Int64(files) {
                return Bundle(tgz: tgz, files: files, tarBytes: parts[1], tgzBytes: size(tgz))
            }
        }
        print("  making \(files) files in product bundles and compressing them with tar and gzip -6 …")
        let tree = folder.appendingPathComponent("tree")
        try? FileManager.default.removeItem(at: tree)
        var rng = Random(seed: 7)
        var made = 0
        var scene = 0
        while made < files {
            let id = String(format: "LC08_L2SP_%03d%03d_2026%04d_02_T1", 1 + scene % 233, 1 + scene % 248, 101 + scene)
            let dir = tree.appendingPathComponent(id)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var contents: [(String, [UInt8])] = [
                ("\(id)_MTL.txt", metadataText(lines: 300, seed: scene)),
                ("\(id)_MTL.xml", metadataText(lines: 500, seed: scene + 1)),
                ("\(id)_ANG.txt", metadataText(lines: 3000, seed: scene + 2)),
                (
                    "\(id)_thumb_small.jpeg",
                    (0..<(30_000 + Int(rng.next() % 40_000))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                ),
                ("\(id)_stac.json", metadataText(lines: 200, seed: scene + 3)),
            ]
            for band in [
                "SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7", "ST_B10", "ST_TRAD", "ST_URAD", "ST_QA",
                "ST_DRAD",
            ] {
                var synthetic = SyntheticBand(width: 1_000, seed: rng.next())
                contents.append(("\(id)_\(band).TIF", synthetic.rows(100 + Int(rng.next() % 250))))
            }
            for mask in ["QA_PIXEL", "QA_RADSAT", "SR_QA_AEROSOL"] {
                var bytes = [UInt8](repeating: 0, count: 200_000 + Int(rng.next() % 100_000))
                for i in stride(from: 0, to: bytes.count, by: 97) {
                    bytes[i] = UInt8(truncatingIfNeeded: rng.next() & 0x3)
                }
                contents.append(("\(id)_\(mask).TIF", bytes))
            }
            for (name, bytes) in contents.prefix(files - made) {
                try Data(bytes).write(to: dir.appendingPathComponent(name))
            }
            made += min(contents.count, files - made)
            scene += 1
        }
        let tar = folder.appendingPathComponent("bundle.tar")
        try UnpackBench.shell("tar cf '\(tar.path)' -C '\(tree.path)' . && rm -rf '\(tree.path)'")
        let tarBytes = size(tar)
        try UnpackBench.shell("gzip -6 -f '\(tar.path)'")
        try Data("\(files) \(tarBytes)".utf8).write(to: facts)
        return Bundle(tgz: tgz, files: files, tarBytes: tarBytes, tgzBytes: size(tgz))
    }

    static func size(_ url: URL) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: url.path)[.size]) as? NSNumber)?.int64Value ?? 0
    }

    /// MTL-style `KEY = value` lines, different for each seed.
    static func metadataText(lines: Int, seed: Int) -> [UInt8] {
        var rng = Random(seed: UInt64(seed) &+ 1)
        var text = "GROUP = LANDSAT_METADATA_FILE\n"
        for i in 0..<lines {
            let value = Double(rng.next() % 10_000_000) / 1000
            let key = ["CORNER_UL_LAT_PRODUCT", "REFLECTANCE_MULT_BAND_", "RADIANCE_ADD_BAND_", "K1_CONSTANT_BAND_"][
                i % 4
            ]
            text += "    \(key)\(i % 11) = \(value)\n"
        }
        return Array((text + "END_GROUP = LANDSAT_METADATA_FILE\nEND\n").utf8)
    }
}

/// xorshift64*: fast, deterministic, good enough for test data.
struct Random {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// A Landsat-like band: 16-bit reflectance over smooth terrain with sensor noise in the low
/// bits, and zero fill around the tilted footprint of the scene, so it compresses about as
/// a real band does (2 to 3 times with gzip -6).
struct SyntheticBand {
    let width: Int
    private var rng: Random
    private var profile: [Int32]
    private var level: Int32 = 0
    private var row = 0

    init(width: Int, seed: UInt64) {
        self.width = width
        rng = Random(seed: seed)
        profile = []
        profile.reserveCapacity(width)
        var value: Int32 = 9_000
        for _ in 0..<width {
            value = min(max(value + Int32(rng.next() % 33) - 16, 2_000), 30_000)
            profile.append(value)
        }
    }

    mutating func nextRow(into buffer: inout [UInt16]) {
        level = min(max(level + Int32(rng.next() % 9) - 4, -3_000), 3_000)
        let shift = (row / 8) % max(width / 4, 1)
        let left = width / 10 + shift / 2
        let right = min(width, left + width * 7 / 10)
        var noise = rng.next()
        var bitsLeft = 10
        for c in 0..<width {
            if c < left || c >= right {
                buffer[c] = 0
                continue
            }
            if bitsLeft == 0 {
                noise = rng.next()
                bitsLeft = 10
            }
            buffer[c] = UInt16(truncatingIfNeeded: profile[c] + level + Int32(noise & 0x3F))
            noise >>= 6
            bitsLeft -= 1
        }
        row += 1
    }

    /// `count` rows as little-endian bytes.
    mutating func rows(_ count: Int) -> [UInt8] {
        var buffer = [UInt16](repeating: 0, count: width)
        var out: [UInt8] = []
        out.reserveCapacity(count * width * 2)
        for _ in 0..<count {
            nextRow(into: &buffer)
            buffer.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        return out
    }
}
