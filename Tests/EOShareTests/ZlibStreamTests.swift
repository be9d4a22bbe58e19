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

/// zlib streams (RFC 1950): recognised by the CMF/FLG check plus a trial inflate, Adler-32
/// checked, nothing allowed after the end; text that merely starts like one passes through.
@Suite struct ZlibStreamTests {
    @Test func inflatesAZlibStreamToOneFile() throws {
        let bench = UnpackBench()
        let plain = UnpackBench.text(500_000)
        let unpacked = try bench.unpack(Deflater.compress(plain, format: .zlib), name: "scene_MTL.txt.zz")
        #expect(try UnpackBench.contents(unpacked) == ["scene_MTL.txt": plain])
        #expect(unpacked.files[0].url.lastPathComponent == "scene_MTL.txt.zz.out")
    }

    @Test func everyCompressionLevelIsRecognised() throws {
        let bench = UnpackBench()
        let plain = UnpackBench.text(20_000)
        for level: Int32 in [0, 1, 6, 9] {
            let stream = Deflater.compress(plain, format: .zlib, level: level)
            #expect(ContainerFormat.hasZlibHeader(stream), "level \(level)")
            let unpacked = try bench.unpack(stream, name: "l\(level).zz")
            #expect(try UnpackBench.contents(unpacked) == ["l\(level)": plain])
        }
    }

    @Test(arguments: [100, 50_000])
    func aBadAdler32IsRefused(size: Int) throws {
        let bench = UnpackBench()
        var stream = Deflater.compress(UnpackBench.text(size), format: .zlib)
        stream[stream.count - 1] ^= 0x40
        let e = try bench.refusal(stream, name: "bad.zz")
        #expect(e?.description == "zlib: corrupt compressed data at byte \(stream.count): incorrect data check")
    }

    @Test func dataAfterTheEndOfTheStreamIsRefused() throws {
        let bench = UnpackBench()
        let stream = Deflater.compress(UnpackBench.text(1000), format: .zlib)
        let e = try bench.refusal(stream + [0, 0], name: "trailing.zz")
        #expect(
            e?.cause
                == .corrupt(
                    "compressed data",
                    detail: "data follows the end of the zlib stream",
                    at: .object(Int64(stream.count))
                )
        )
    }

    @Test func truncatedStreamFailsWithOffset() throws {
        let bench = UnpackBench()
        let stream = Deflater.compress(UnpackBench.text(100_000), format: .zlib)
        let cut = Array(stream.prefix(stream.count - 3))
        let e = try bench.refusal(cut, name: "cut.zz")
        #expect(e?.description == "zlib: compressed stream truncated at byte \(cut.count)")
    }

    /// `x^` passes the two-byte check (0x785E is a multiple of 31), as do CCSDS packets of
    /// APID 29 with a secondary header (0x08 0x1D): neither inflates, so both stay as they are.
    @Test(arguments: [
        Array("x^ marks the spot: GROUP = L1_METADATA_FILE\n".utf8),
        [0x08, 0x1D, 0xC0, 0x00, 0x00, 0x3F] + [UInt8](repeating: 0xA5, count: 200),
    ])
    func textThatStartsLikeAZlibHeaderPassesThrough(bytes: [UInt8]) throws {
        #expect(ContainerFormat.hasZlibHeader(bytes))
        let bench = UnpackBench()
        let unpacked = try bench.unpack(bytes, name: "plain.dat")
        #expect(unpacked.files.map(\.url) == [bench.folder.appendingPathComponent("plain.dat")])
    }

    @Test func aTarInsideZlibIsUnpackedAsTar() throws {
        let bench = UnpackBench()
        let tar = TarBuilder.archive([("a/b.txt", Array("b".utf8)), ("c.txt", Array("c".utf8))])
        let unpacked = try bench.unpack(Deflater.compress(tar, format: .zlib), name: "bundle.tar.zz")
        #expect(try UnpackBench.contents(unpacked) == ["a/b.txt": Array("b".utf8), "c.txt": Array("c".utf8)])
    }
}
