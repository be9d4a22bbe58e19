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

/// zip: stored and deflate entries, data descriptors, zip64, archives made by `zip` and by
/// Python's zipfile; the central directory is the index and every local header must agree
/// with it; each entry's CRC-32 and size are checked.
@Suite struct ZipTests {
    static let manifest = UnpackBench.text(40_000)
    static let jp2 = (0..<30_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }

    static func safeZip(_ configure: (inout ZipBuilder.Entry) -> Void = { _ in }) -> [UInt8] {
        var zip = ZipBuilder()
        var a = ZipBuilder.Entry("S2A.SAFE/manifest.safe", manifest, method: 8)
        var b = ZipBuilder.Entry("S2A.SAFE/GRANULE/L1C_T32/IMG_DATA/B01.jp2", jp2, method: 0)
        configure(&a)
        configure(&b)
        zip.add(ZipBuilder.Entry("S2A.SAFE/", [], method: 0))
        zip.add(a)
        zip.add(b)
        return zip.build()
    }

    static let expected = ["S2A.SAFE/manifest.safe": manifest, "S2A.SAFE/GRANULE/L1C_T32/IMG_DATA/B01.jp2": jp2]

    @Test func storedAndDeflateEntries() throws {
        let files = try UnpackBench.contents(try UnpackBench().unpack(Self.safeZip(), name: "S2A.zip"))
        #expect(files == Self.expected)
    }

    @Test(arguments: [true, false])
    func dataDescriptorsWithAndWithoutSignature(signature: Bool) throws {
        let zip = Self.safeZip {
            $0.dataDescriptor = true
            $0.descriptorSignature = signature
        }
        #expect(try UnpackBench.contents(try UnpackBench().unpack(zip, name: "dd.zip")) == Self.expected)
    }

    @Test(arguments: [false, true])
    func zip64RecordsAndExtraFields(descriptor: Bool) throws {
        let zip = Self.safeZip {
            $0.zip64 = true
            $0.dataDescriptor = descriptor
        }
        #expect(try UnpackBench.contents(try UnpackBench().unpack(zip, name: "z64.zip")) == Self.expected)
    }

    /// Info-ZIP's `zip -r`, and Python's zipfile streaming (data descriptors) and forcing zip64.
    @Test func archivesMadeByRealToolsReadBack() throws {
        let bench = UnpackBench()
        let tree = bench.folder.appendingPathComponent("tree/S2B.SAFE/GRANULE/L1C")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try Data(Self.manifest).write(to: tree.appendingPathComponent("MTD_TL.xml"))
        try Data(Self.jp2).write(to: tree.appendingPathComponent("B02.jp2"))
        let expected = ["S2B.SAFE/GRANULE/L1C/MTD_TL.xml": Self.manifest, "S2B.SAFE/GRANULE/L1C/B02.jp2": Self.jp2]

        try bench.run("sh", ["-c", "cd tree && zip -q -r ../info.zip S2B.SAFE"])
        #expect(
            try UnpackBench.contents(try bench.unpack(try bench.bytes(of: "info.zip"), name: "info.zip")) == expected
        )

        let script = """
            import io, sys, zipfile
            class Stream(io.RawIOBase):
                def __init__(self): self.out = open(sys.argv[2], 'wb')
                def writable(self): return True
                def write(self, b): return self.out.write(b)
            mode = sys.argv[1]
            target = Stream() if mode == 'stream' else sys.argv[2]
            with zipfile.ZipFile(target, 'w', compression=zipfile.ZIP_DEFLATED) as z:
                for name in ['S2B.SAFE/GRANULE/L1C/MTD_TL.xml', 'S2B.SAFE/GRANULE/L1C/B02.jp2']:
                    data = open('tree/' + name, 'rb').read()
                    with z.open(name, 'w', force_zip64=(mode == 'zip64')) as f:
                        f.write(data)
            """
        try Data(script.utf8).write(to: bench.folder.appendingPathComponent("mkzip.py"))
        for mode in ["stream", "zip64"] {
            try bench.run("python3", ["mkzip.py", mode, "\(mode).zip"])
            let unpacked = try bench.unpack(try bench.bytes(of: "\(mode).zip"), name: "\(mode).zip")
            #expect(try UnpackBench.contents(unpacked) == expected, "\(mode)")
        }
    }

    @Test func aCorruptCRCIsRefusedWithTheEntryAndOffset() throws {
        var zip = ZipBuilder()
        zip.add("first.txt", "first")
        var bad = ZipBuilder.Entry("bad.xml", Self.manifest, method: 8)
        bad.centralCRC = 0xDEAD_BEEF
        zip.add(bad)
        let bytes = zip.build()
        let e = try UnpackBench().refusal(bytes, name: "crc.zip")
        #expect(e?.entry == "bad.xml")
        guard
            case .corrupt("local header", detail: "CRC-32 differs from the central directory", at: .object(let at))? =
                e?.cause
        else {
            Issue.record("\(e?.description ?? "no error")")
            return
        }
        #expect(at > 0)
    }

    /// The data's own CRC-32 is checked, not just the headers' agreement: a flipped byte of
    /// stored data, and deflate data whose headers all state another CRC.
    @Test(arguments: [UInt16(0), 8])
    func corruptDataFailsItsCRC(method: UInt16) throws {
        var zip = ZipBuilder()
        var entry = ZipBuilder.Entry("a.bin", Self.jp2, method: method)
        if method == 8 { entry.statedCRC = CRC32.checksum(Self.jp2) ^ 0x0100_0000 }
        zip.add(entry)
        var bytes = zip.build()
        if method == 0 { bytes[35 + 1000] ^= 0x01 }
        let e = try UnpackBench().refusal(bytes, name: "data.zip")
        #expect(
            e?.description.hasPrefix("zip entry 'a.bin': corrupt entry data at byte 35: CRC-32 mismatch") == true,
            "\(e?.description ?? "")"
        )
    }

    @Test func aLocalHeaderThatDisagreesWithTheDirectoryIsRefused() throws {
        let bench = UnpackBench()
        var renamed = ZipBuilder()
        var entry = ZipBuilder.Entry("safe.txt", Array("x".utf8), method: 0)
        entry.localName = Array("../evil".utf8)
        renamed.add(entry)
        let e = try bench.refusal(renamed.build(), name: "renamed.zip")
        #expect(
            e?.description
                == "zip entry 'safe.txt': corrupt local header at byte 0: name differs from the central directory"
        )

        var resized = ZipBuilder()
        var big = ZipBuilder.Entry("big.bin", Self.jp2, method: 8)
        big.centralUncompressedSize = 10
        resized.add(big)
        #expect(
            try bench.refusal(resized.build(), name: "resized.zip")?.cause
                == .corrupt(
                    "local header",
                    detail: "size differs from the central directory",
                    at: .object(0)
                )
        )
    }

    /// Central directory entries that share one local header: the overlapping-entries bomb.
    @Test func overlappingEntriesAreRefused() throws {
        var zip = ZipBuilder()
        zip.add("kernel.bin", String(repeating: "A", count: 10_000))
        zip.extraCentralCopiesOfFirst = 3
        let e = try UnpackBench().refusal(zip.build(), name: "overlap.zip")
        #expect(e?.description == "zip entry 'kernel.bin': corrupt archive at byte 0: entry overlaps the previous one")
    }

    @Test func truncatedOrDirectorylessZipIsRefused() throws {
        let bench = UnpackBench()
        var cut = ZipBuilder()
        cut.add("a.txt", "hello")
        cut.truncateBy = 10
        let e = try bench.refusal(cut.build(), name: "cut.zip")
        #expect(e?.description.hasPrefix("zip: corrupt archive at byte") == true, "\(e?.description ?? "")")
        #expect(e?.description.hasSuffix("no end of central directory record") == true)

        // Local entries only (a zip cut before its directory).
        var full = ZipBuilder()
        full.add(ZipBuilder.Entry("a.bin", Self.jp2, method: 0))
        let bytes = full.build()
        let localOnly = Array(bytes.prefix(30 + 5 + Self.jp2.count / 2))
        #expect(
            try bench.refusal(localOnly, name: "half.zip")?.cause
                == .corrupt(
                    "archive",
                    detail: "no end of central directory record",
                    at: .object(Int64(localOnly.count))
                )
        )
    }

    @Test func unsupportedMethodsAndEncryptionAreRefused() throws {
        let bench = UnpackBench()
        var bzip2 = ZipBuilder()
        bzip2.add(ZipBuilder.Entry("a.txt", Array("a".utf8), method: 12))
        #expect(try bench.refusal(bzip2.build(), name: "bz.zip")?.cause == .unsupported("compression method 12"))
        var encrypted = ZipBuilder()
        var entry = ZipBuilder.Entry("a.txt", Array("a".utf8), method: 0)
        entry.flags |= 1
        encrypted.add(entry)
        #expect(try bench.refusal(encrypted.build(), name: "enc.zip")?.cause == .unsupported("encrypted entry"))
    }
}
