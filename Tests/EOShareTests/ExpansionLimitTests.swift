import Foundation
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

/// Bombs stop at `max_expansion_ratio` or `max_object_bytes` after a bounded amount of
/// work: the refusal comes while the compressed input is still near its start, whatever the
/// bomb would have grown to, and nothing it wrote is left.
@Suite struct ExpansionLimitTests {
    /// 64 MiB of zeros deflate to about 64 KiB; deflate never exceeds about 1032:1, so a limit
    /// of L output bytes is reached within about L / 1032 bytes of input.
    static let zeros = [UInt8](repeating: 0, count: 64 << 20)
    static let deflatedZeros = Deflater.compress(zeros, format: .rawDeflate, level: 9)

    static func zipBomb(entries: Int) -> [UInt8] {
        var zip = ZipBuilder()
        for i in 0..<entries { zip.add(ZipBuilder.Entry("layer\(i).bin", zeros, method: 8)) }
        return zip.build()
    }

    static func inputOffset(_ e: UnpackError?) -> Int64? {
        switch e?.cause {
        case .expansionRatio(_, let offset)?, .outputLimit(_, let offset)?: return offset
        default: return nil
        }
    }

    @Test(arguments: ["gzip", "tar.gz", "zlib", "zip"])
    func aBombStopsAtTheExpansionRatio(container: String) throws {
        let bench = UnpackBench()
        let bytes: [UInt8]
        switch container {
        case "gzip": bytes = Deflater.gzip(Self.zeros, level: 9)
        case "tar.gz": bytes = Deflater.gzip(TarBuilder.archive([("zeros.bin", Self.zeros)]), level: 9)
        case "zlib": bytes = Deflater.compress(Self.zeros, format: .zlib, level: 9)
        default: bytes = Self.zipBomb(entries: 2)
        }
        var limits = Limits()
        limits.maxExpansionRatio = 50
        let e = try bench.refusal(bytes, name: "bomb.\(container)", limits: limits)
        #expect(e?.container == container)
        #expect(
            e?.cause == .expansionRatio(limit: 50, inputOffset: Self.inputOffset(e) ?? -1),
            "\(e?.description ?? "")"
        )
        // Stopped at 50 × the object's size, long before the end of the input.
        let limit = Int64(bytes.count) * 50
        #expect(Self.inputOffset(e)! < limit / 1000 + 64 << 10, "\(e?.description ?? "")")
        #expect(Self.inputOffset(e)! < Int64(bytes.count) / 2)
    }

    @Test(arguments: ["gzip", "tar.gz", "zip"])
    func aBombStopsAtMaxObjectBytes(container: String) throws {
        let bench = UnpackBench()
        let bytes: [UInt8]
        switch container {
        case "gzip": bytes = Deflater.gzip(Self.zeros, level: 9)
        case "tar.gz": bytes = Deflater.gzip(TarBuilder.archive([("a.bin", Self.zeros)]), level: 9)
        default: bytes = Self.zipBomb(entries: 3)
        }
        var limits = Limits()
        limits.maxObjectBytes = 5_000_000
        limits.maxExpansionRatio = 1_000_000
        let e = try bench.refusal(bytes, name: "big.\(container)", limits: limits)
        #expect(
            e?.description.contains("output exceeds max_object_bytes (5000000 bytes) at input byte") == true,
            "\(e?.description ?? "")"
        )
        #expect(Self.inputOffset(e).map { $0 < 5_000_000 / 1000 + 64 << 10 } == true)
    }

    /// The limit counts every member and every entry of the object, not each one alone.
    @Test func theLimitIsForTheWholeObject() throws {
        let bench = UnpackBench()
        let member = Deflater.gzip([UInt8](repeating: 7, count: 3_000_000))
        var limits = Limits()
        limits.maxObjectBytes = 10_000_000
        limits.maxExpansionRatio = 1_000_000
        _ = try bench.unpack(member + member + member, name: "three.gz", limits: limits)
        let e = try bench.refusal(member + member + member + member, name: "four.gz", limits: limits)
        #expect(e?.description.contains("max_object_bytes") == true, "\(e?.description ?? "")")

        var zip = ZipBuilder()
        for i in 0..<4 { zip.add(ZipBuilder.Entry("e\(i)", [UInt8](repeating: 7, count: 3_000_000), method: 8)) }
        let z = try bench.refusal(zip.build(), name: "four.zip", limits: limits)
        #expect(z?.entry == "e3", "\(z?.description ?? "")")
    }

    /// A zip entry that inflates past its own declared size stops there, before any limit.
    @Test func aZipEntryStopsAtItsDeclaredSize() throws {
        var zip = ZipBuilder()
        var entry = ZipBuilder.Entry("liar.bin", Self.zeros, method: 8)
        entry.centralUncompressedSize = 1000
        entry.dataDescriptor = true
        zip.add(entry)
        let bytes = zip.build()
        let e = try UnpackBench().refusal(bytes, name: "liar.zip")
        #expect(e?.description.hasPrefix("zip entry 'liar.bin': corrupt entry data at byte") == true)
        #expect(
            e?.description.hasSuffix("more than the 1000 bytes the archive says") == true,
            "\(e?.description ?? "")"
        )
    }

    @Test func tooManyEntriesStopTheArchive() throws {
        let bench = UnpackBench()
        let tar = TarBuilder.archive((0..<20).map { ("f\($0)", [UInt8]()) })
        let url = bench.folder.appendingPathComponent("many.tar")
        try Data(tar).write(to: url)
        let unpacking = Unpacking(limits: UnpackLimits(maxObjectBytes: 1 << 30, maxExpansionRatio: 200, maxEntries: 10))
        let e = #expect(throws: UnpackError.self) {
            try unpacking.unpack(file: url.path, name: "many.tar", into: url.path + ".out")
        }
        #expect(e?.description == "tar entry 'f10': more than 10 entries")
        #expect(!FileManager.default.fileExists(atPath: url.path + ".out"))
    }
}
