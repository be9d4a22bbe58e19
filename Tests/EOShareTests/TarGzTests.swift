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

/// `.tar.gz` / `.tgz`: gzip then tar in one stream, with no intermediate file; the gzip
/// trailer is still checked after the tar's end.
@Suite struct TarGzTests {
    /// A product bundle as `tar czf` writes it, read back file for file.
    @Test func systemTarCzfBundleReadsBack() throws {
        let bench = UnpackBench()
        let bundle = "LC09_L2SP_010065_20220129_20220131_02_T1"
        var expected: [String: [UInt8]] = [:]
        for i in 0..<60 {
            let name = i == 0 ? "\(bundle)/\(bundle)_MTL.txt" : "\(bundle)/\(bundle)_SR_B\(i).TIF"
            let url = bench.folder.appendingPathComponent("tree/" + name)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            let bytes = UnpackBench.text(i * 3_001, seed: i)
            try Data(bytes).write(to: url)
            expected[name] = bytes
        }
        try bench.run("tar", ["czf", "bundle.tgz", "-C", "tree", bundle])
        let unpacked = try bench.unpack(try bench.bytes(of: "bundle.tgz"), name: "bundle.tgz")
        #expect(try UnpackBench.contents(unpacked) == expected)
    }

    /// A tar split across gzip members (as concatenating `.gz` parts makes) is one stream.
    @Test func aTarSpreadOverSeveralMembers() throws {
        let tar = TarBuilder.archive([("a.txt", UnpackBench.text(5000)), ("b.txt", UnpackBench.text(9000, seed: 5))])
        let gz =
            Deflater.gzip(Array(tar.prefix(777))) + Deflater.gzip(Array(tar[777..<4000]))
            + Deflater.gzip(Array(tar[4000...]))
        let files = try UnpackBench.contents(try UnpackBench().unpack(gz, name: "parts.tar.gz"))
        #expect(files == ["a.txt": UnpackBench.text(5000), "b.txt": UnpackBench.text(9000, seed: 5)])
    }

    @Test func truncatedGzipInsideATarNamesTheEntryAndTheCompressedOffset() throws {
        let bench = UnpackBench()
        let tar = TarBuilder.archive([
            ("first.txt", UnpackBench.text(10_000)), ("second.bin", UnpackBench.text(400_000)),
        ])
        let gz = Deflater.gzip(tar)
        let cut = Array(gz.prefix(gz.count * 2 / 3))
        let e = try bench.refusal(cut, name: "cut.tar.gz")
        #expect(e?.description == "tar.gz entry 'second.bin': compressed stream truncated at byte \(cut.count)")
    }

    /// A complete gzip member holding a cut tar: the tar's own offset, in the decompressed stream.
    @Test func aTruncatedTarInsideACompleteGzip() throws {
        let tar = TarBuilder.archive([("a.txt", UnpackBench.text(600)), ("b/c.txt", UnpackBench.text(2000))])
        let e = try UnpackBench().refusal(Deflater.gzip(Array(tar.prefix(2148))), name: "cut.tgz")
        #expect(e?.description == "tar.gz entry 'b/c.txt': archive truncated at byte 2148 of the decompressed stream")
    }

    @Test func aCorruptTarHeaderInsideGzipNamesTheDecompressedOffset() throws {
        var tar = TarBuilder.archive([("a.txt", Array("a".utf8)), ("b.txt", Array("b".utf8))])
        tar[1024 + 10] ^= 0x20  // inside b.txt's header name
        let e = try UnpackBench().refusal(Deflater.gzip(tar), name: "x.tgz")
        #expect(
            e?.description == "tar.gz: corrupt tar header at byte 1024 of the decompressed stream: checksum mismatch"
        )
    }

    @Test func theGzipTrailerIsCheckedAfterTheTarEnds() throws {
        // More than one output buffer: the tar is known as such before the trailer is reached.
        var gz = Deflater.gzip(
            TarBuilder.archive([("a.txt", UnpackBench.text(2_000_000))]) + [UInt8](repeating: 0, count: 8192)
        )
        gz[gz.count - 5] ^= 0x01  // CRC-32 of the member
        let e = try UnpackBench().refusal(gz, name: "crc.tar.gz")
        #expect(e?.container == "tar.gz")
        #expect(e?.description.contains("corrupt compressed data at byte") == true, "\(e?.description ?? "")")
        #expect(e?.description.hasSuffix("incorrect data check") == true)
    }

    /// A gzip holding something that is not a tar is one file, as before.
    @Test func aGzipOfSomethingElseStaysOneFile() throws {
        let zip: [UInt8] = {
            var z = ZipBuilder()
            z.add("a", "a")
            return z.build()
        }()
        let unpacked = try UnpackBench().unpack(Deflater.gzip(zip), name: "inner.zip.gz")
        #expect(try UnpackBench.contents(unpacked) == ["inner.zip": zip])
    }
}
