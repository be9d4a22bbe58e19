import Foundation
import Testing

@testable import EOShare

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
}
