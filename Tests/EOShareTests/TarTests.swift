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

/// tar as a pure stream: ustar (with its name prefix), pax extended headers, GNU long names,
/// the formats system tar writes, and every way a tar can end too early or lie.
@Suite struct TarTests {
    static let safePath =
        "S2B_MSIL1C_20260101T101010_N0511_R022_T32TQM_20260101T120000.SAFE/GRANULE/"
        + "L1C_T32TQM_A045678_20260101T101010/QI_DATA/MSK_DETFOO_B01.jp2"

    @Test func ustarFilesFoldersAndTheNamePrefix() throws {
        var tar = TarBuilder()
        tar.folder("LC08_bundle/")
        tar.file("LC08_bundle/LC08_MTL.txt", "GROUP = L1\n")
        tar.file("B1.TIF", Array(repeating: 7, count: 1500), prefix: "LC08_bundle/bands")
        tar.folder("LC08_bundle/empty/")
        tar.end()
        let bench = UnpackBench()
        let unpacked = try bench.unpack(tar.bytes, name: "bundle.tar")
        #expect(
            try UnpackBench.contents(unpacked) == [
                "LC08_bundle/LC08_MTL.txt": Array("GROUP = L1\n".utf8),
                "LC08_bundle/bands/B1.TIF": Array(repeating: 7, count: 1500),
            ]
        )
        let root = WorkFiles.unpacked(bench.folder.appendingPathComponent("bundle.tar"))
        #expect(unpacked.files.allSatisfy { $0.url.path == root.path + "/" + $0.name })
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("LC08_bundle/empty").path))
    }

    @Test func paxPathAndSizeOverrideTheHeader() throws {
        var tar = TarBuilder()
        let payload = UnpackBench.text(3000)
        tar.pax([("path", Self.safePath), ("size", String(payload.count)), ("mtime", "1767225600.5")])
        tar.header(Array("truncated-name".utf8), type: UInt8(ascii: "0"), size: 0)
        tar.data(payload)
        tar.pax([("path", "first.txt")])
        tar.pax([("path", ""), ("SCHILY.xattr.user.x", "y")])  // an empty value cancels the earlier path
        tar.file("second.txt", "2")
        tar.end()
        let unpacked = try UnpackBench().unpack(tar.bytes, name: "s2.tar")
        #expect(try UnpackBench.contents(unpacked) == [Self.safePath: payload, "second.txt": Array("2".utf8)])
    }

    @Test func gnuLongNamesAndLongLinkTargets() throws {
        var tar = TarBuilder()
        tar.magic = .gnu
        tar.gnuLong("L", Self.safePath)
        tar.file("ignored-short-name", "jp2")
        tar.end()
        let bench = UnpackBench()
        #expect(
            try UnpackBench.contents(try bench.unpack(tar.bytes, name: "gnu.tar")) == [Self.safePath: Array("jp2".utf8)]
        )

        var link = TarBuilder()
        link.magic = .gnu
        link.gnuLong("K", "/etc/" + String(repeating: "x", count: 120))
        link.hardLink("innocent", to: "short")
        link.end()
        let e = try bench.refusal(link.bytes, name: "link.tar")
        #expect(e?.cause == .link(hard: true, target: "/etc/" + String(repeating: "x", count: 120)))
        #expect(e?.entry == "innocent")
    }

    /// What GNU tar writes in each of its formats reads back byte for byte.
    @Test(arguments: ["pax", "gnu", "ustar", "v7"])
    func systemTarArchivesReadBack(format: String) throws {
        let bench = UnpackBench()
        let tree = bench.folder.appendingPathComponent("tree")
        let longFolder = format == "v7" ? "short" : String(repeating: "granule_", count: 10)
        // ustar splits a long path over its prefix field, but each part has its limit (155, 100).
        let longName = format == "v7" ? "b.jp2" : String(repeating: "band", count: format == "ustar" ? 20 : 30) + ".jp2"
        var expected: [String: [UInt8]] = [:]
        for (i, name) in ["MTD.xml", "\(longFolder)/\(longName)", "\(longFolder)/QI/mask.gml", "empty.txt"].enumerated()
        {
            let url = tree.appendingPathComponent(name)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            let bytes = name == "empty.txt" ? [] : UnpackBench.text(700 * i + 1, seed: i)
            try Data(bytes).write(to: url)
            expected[name] = bytes
        }
        try bench.run("tar", ["--format=\(format)", "-cf", "t.tar", "-C", "tree", "."])
        let unpacked = try bench.unpack(try bench.bytes(of: "t.tar"), name: "t.tar")
        #expect(try UnpackBench.contents(unpacked) == expected)
    }

    @Test func base256SizeFieldsAreRead() throws {
        var tar = TarBuilder()
        tar.magic = .gnu
        let payload = UnpackBench.text(700)
        tar.header(
            Array("big.bin".utf8),
            type: UInt8(ascii: "0"),
            sizeField: [0x80] + [UInt8](repeating: 0, count: 9) + [0x02, 0xBC]
        )
        tar.data(payload)
        tar.end()
        #expect(try UnpackBench.contents(try UnpackBench().unpack(tar.bytes, name: "b.tar")) == ["big.bin": payload])
    }

    @Test func truncatedTarFailsWithTheOffsetAndTheEntry() throws {
        let bench = UnpackBench()
        let tar = TarBuilder.archive([("a.txt", UnpackBench.text(600)), ("b/c.txt", UnpackBench.text(2000))])
        // Inside b/c.txt's data: header a (512) + data a (1024) + header b (512) + 100.
        let inData = Array(tar.prefix(2148))
        let e = try bench.refusal(inData, name: "cut.tar")
        #expect(e?.description == "tar entry 'b/c.txt': archive truncated at byte 2148")
        // Inside a header block.
        let inHeader = Array(tar.prefix(1536 + 200))
        #expect(try bench.refusal(inHeader, name: "h.tar")?.cause == .truncated("archive", at: .object(1736)))
        // At a block boundary with no end-of-archive block: the rest could be missing.
        let noEnd = Array(tar.prefix(tar.count - 1024))
        #expect(
            try bench.refusal(noEnd, name: "e.tar")?.cause == .truncated("archive", at: .object(Int64(noEnd.count)))
        )
    }

    @Test func aLoneZeroBlockEndsTheArchive() throws {
        let tar = TarBuilder.archive([("a.txt", Array("a".utf8))])
        let unpacked = try UnpackBench().unpack(Array(tar.prefix(tar.count - 512)), name: "lone.tar")
        #expect(try UnpackBench.contents(unpacked) == ["a.txt": Array("a".utf8)])
    }

    @Test func malformedOrUnsupportedExtendedHeadersAreRefused() throws {
        let bench = UnpackBench()
        var badRecord = TarBuilder()
        badRecord.header(Array("pax".utf8), type: UInt8(ascii: "x"), size: 12)
        badRecord.data(Array("99 path=x\n\n\n".utf8))
        badRecord.file("a.txt", "a")
        badRecord.end()
        let e1 = try bench.refusal(badRecord.bytes, name: "bad.tar")
        #expect(e1?.description == "tar entry 'pax': corrupt pax header at byte 0: bad record length")

        var sparse = TarBuilder()
        sparse.pax([("GNU.sparse.size", "1000")])
        sparse.file("s.bin", "s")
        sparse.end()
        #expect(try bench.refusal(sparse.bytes, name: "sparse.tar")?.cause == .unsupported("GNU sparse file (pax)"))

        var dangling = TarBuilder()
        dangling.pax([("path", "x")])
        dangling.end()
        #expect(
            try bench.refusal(dangling.bytes, name: "dangling.tar")?.cause
                == .corrupt(
                    "archive",
                    detail: "extended header not followed by an entry",
                    at: .object(1024)
                )
        )

        var huge = TarBuilder()
        huge.header(Array("pax".utf8), type: UInt8(ascii: "x"), size: 2 << 20)
        huge.end()
        #expect(
            try bench.refusal(huge.bytes, name: "huge.tar")?.cause
                == .unsupported(
                    "extended header of 2097152 bytes (more than 1048576)"
                )
        )

        var sparseType = TarBuilder()
        sparseType.header(Array("old-sparse".utf8), type: UInt8(ascii: "S"))
        sparseType.end()
        #expect(try bench.refusal(sparseType.bytes, name: "S.tar")?.cause == .unsupported("GNU sparse file"))
    }
}
