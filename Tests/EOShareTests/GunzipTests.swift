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

/// The streaming gunzip of the unpack stage: exact bytes, multi-member files, and every
/// corruption or bomb refused with its byte offset.
@Suite struct GunzipTests {
    func write(_ bytes: [UInt8], _ name: String, in folder: URL) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func object(_ url: URL) throws -> FetchedObject {
        let size = Int64(try Data(contentsOf: url).count)
        let ref = ObjectRef(source: "s", url: url, name: url.lastPathComponent)
        return FetchedObject(ref: ref, file: url, size: size, sha256: try Digest.sha256Hex(ofFile: url))
    }

    static func text(_ n: Int) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while out.count < n {
            out += Array("    CORNER_UL_LAT_PRODUCT = \(Double(i) * 0.001)\n".utf8)
            i += 1
        }
        return Array(out.prefix(n))
    }

    @Test func matchesSystemGzipOutputAndDigest() throws {
        let folder = RepoPaths.temporaryFolder()
        let plain = Self.text(3_000_000)
        let src = try write(plain, "a_MTL.txt", in: folder)
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gz.arguments = ["-k", "-9", src.path]
        try gz.run()
        gz.waitUntilExit()
        try FileManager.default.removeItem(at: src)
        let unpacked = try Unpacker(limits: Limits()).unpack(try object(folder.appendingPathComponent("a_MTL.txt.gz")))
        #expect(unpacked.files.count == 1)
        let f = unpacked.files[0]
        #expect(f.name == "a_MTL.txt")
        #expect(f.size == Int64(plain.count))
        #expect(f.sha256 == Digest.sha256Hex(plain))
        #expect([UInt8](try Data(contentsOf: f.url)) == plain)
    }

    @Test func readsEveryMemberOfAMultiMemberFile() throws {
        let folder = RepoPaths.temporaryFolder()
        let a = Self.text(100_000)
        let b = Array("second member\n".utf8)
        let url = try write(Deflater.gzip(a) + Deflater.gzip(b), "x.gz", in: folder)
        let f = try Unpacker(limits: Limits()).unpack(try object(url)).files[0]
        #expect([UInt8](try Data(contentsOf: f.url)) == a + b)
    }

    @Test func recognisesGzipByMagicNotByName() throws {
        let folder = RepoPaths.temporaryFolder()
        let plain = Self.text(1000)
        let url = try write(Deflater.gzip(plain), "named_MTL.txt", in: folder)
        let f = try Unpacker(limits: Limits()).unpack(try object(url)).files[0]
        #expect([UInt8](try Data(contentsOf: f.url)) == plain)
        let raw = try write(plain, "raw.gz", in: folder)
        let passthrough = try Unpacker(limits: Limits()).unpack(try object(raw)).files[0]
        #expect(passthrough.url == raw)
    }

    @Test func truncatedStreamFailsWithOffset() throws {
        let folder = RepoPaths.temporaryFolder()
        let gz = Deflater.gzip(Self.text(200_000))
        let url = try write(Array(gz.prefix(gz.count / 2)), "t.gz", in: folder)
        let e = #expect(throws: UnpackError.self) { try Unpacker(limits: Limits()).unpack(try object(url)) }
        #expect(e?.reason.contains("truncated at byte") == true, "\(e?.reason ?? "")")
    }

    @Test func corruptCRCFails() throws {
        let folder = RepoPaths.temporaryFolder()
        var gz = Deflater.gzip(Self.text(10_000))
        gz[gz.count - 6] ^= 0xFF  // inside the CRC-32 trailer
        let url = try write(gz, "c.gz", in: folder)
        let e = #expect(throws: UnpackError.self) { try Unpacker(limits: Limits()).unpack(try object(url)) }
        #expect(e?.reason.contains("corrupt compressed data at byte") == true, "\(e?.reason ?? "")")
    }

    @Test func bombStopsAtTheExpansionRatio() throws {
        let folder = RepoPaths.temporaryFolder()
        let zeros = [UInt8](repeating: 0, count: 50_000_000)
        let url = try write(Deflater.gzip(zeros, level: 9), "bomb.gz", in: folder)
        var limits = Limits()
        limits.maxExpansionRatio = 100
        let e = #expect(throws: UnpackError.self) { try Unpacker(limits: limits).unpack(try object(url)) }
        #expect(e?.reason.contains("max_expansion_ratio") == true, "\(e?.reason ?? "")")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("bomb").path))
        limits.maxExpansionRatio = 10_000
        limits.maxObjectBytes = 1_000_000
        let e2 = #expect(throws: UnpackError.self) { try Unpacker(limits: limits).unpack(try object(url)) }
        #expect(e2?.reason.contains("max_object_bytes") == true, "\(e2?.reason ?? "")")
    }

    /// FTEXT, FHCRC, FEXTRA, FNAME and FCOMMENT all set: zlib reads past them (and checks the
    /// header CRC); the output is named after the object, never after FNAME.
    @Test func readsPastEveryHeaderField() throws {
        let bench = UnpackBench()
        let plain = Array("GROUP = LANDSAT_METADATA_FILE\n".utf8)
        var header: [UInt8] = [0x1F, 0x8B, 8, 0x1F, 0, 0, 0, 0, 0, 3]
        header += [4, 0] + Array("EO\u{2}\u{0}".utf8)
        header += Array("../../etc/passwd".utf8) + [0] + Array("a comment".utf8) + [0]
        let headerCRC = CRC32.checksum(header)
        header += [UInt8(headerCRC & 0xFF), UInt8((headerCRC >> 8) & 0xFF)]
        let crc = CRC32.checksum(plain)
        let trailer = (0..<4).map { UInt8((crc >> ($0 * 8)) & 0xFF) } + [UInt8(plain.count), 0, 0, 0]
        let gz = header + Deflater.compress(plain, format: .rawDeflate) + trailer
        let unpacked = try bench.unpack(gz, name: "x_MTL.txt.gz")
        #expect(try UnpackBench.contents(unpacked) == ["x_MTL.txt": plain])

        var badHeaderCRC = gz
        badHeaderCRC[header.count - 1] ^= 0xFF
        let e = try bench.refusal(badHeaderCRC, name: "y_MTL.txt.gz")
        #expect(e?.description.hasPrefix("gzip: corrupt compressed data at byte") == true, "\(e?.description ?? "")")
        #expect(e?.description.contains("header crc mismatch") == true, "\(e?.description ?? "")")
    }

    @Test func badISIZEAndBadCRCAreEachReported() throws {
        let bench = UnpackBench()
        let gz = Deflater.gzip(Self.text(10_000))
        var badSize = gz
        badSize[gz.count - 2] ^= 0x01
        let size = try bench.refusal(badSize, name: "size.gz")
        #expect(size?.description == "gzip: corrupt compressed data at byte \(gz.count): incorrect length check")
        var badCRC = gz
        badCRC[gz.count - 8] ^= 0x01
        let crc = try bench.refusal(badCRC, name: "crc.gz")
        #expect(crc?.description.hasSuffix("incorrect data check") == true, "\(crc?.description ?? "")")
    }

    @Test func truncationNamesTheExactOffsetWhereTheDataEnds() throws {
        let bench = UnpackBench()
        let gz = Deflater.gzip(Self.text(300_000)) + Deflater.gzip(Self.text(1000))
        for cut in [gz.count - 1, gz.count - 9, gz.count / 2, 11] {
            let e = try bench.refusal(Array(gz.prefix(cut)), name: "cut\(cut).gz")
            #expect(e?.cause == .truncated("compressed stream", at: .object(Int64(cut))), "\(e?.description ?? "")")
        }
    }

    @Test func trailingGarbageAfterTheLastMemberIsRefused() throws {
        let bench = UnpackBench()
        let gz = Deflater.gzip(Self.text(1000)) + Array("garbage!".utf8)
        let e = try bench.refusal(gz, name: "g.gz")
        #expect(e?.description.contains("incorrect header check") == true, "\(e?.description ?? "")")
    }

    @Test func namesTheContentAfterTheObjectWithoutItsSuffix() throws {
        #expect(Unpacking.decompressedName("a_MTL.txt.gz", .gzip) == "a_MTL.txt")
        #expect(Unpacking.decompressedName("a_MTL.txt.gzip", .gzip) == "a_MTL.txt")
        #expect(Unpacking.decompressedName("named_MTL.txt", .gzip) == "named_MTL.txt.out")
        #expect(Unpacking.decompressedName(".gz", .gzip) == ".gz.out")
        #expect(Unpacking.decompressedName("x.zz", .zlib) == "x")
        #expect(Unpacking.decompressedName("x.gz", .zlib) == "x.gz.out")
    }
}
