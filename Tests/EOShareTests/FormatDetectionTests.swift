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

/// Formats are told by their first bytes, never by the object's name: a zip called `.txt`
/// is unpacked as zip, a plain file called `.tar.gz` stays as it is.
@Suite struct FormatDetectionTests {
    static let tar = TarBuilder.archive([("LC08_MTL.txt", Array("GROUP = L1\n".utf8))])
    static let zip: [UInt8] = {
        var zip = ZipBuilder()
        zip.add("LC08_MTL.txt", "GROUP = L1\n")
        return zip.build()
    }()

    @Test(arguments: [
        ("tar", "misnamed.zip"), ("zip", "misnamed.txt"), ("tar.gz", "misnamed.xml"), ("gzip", "misnamed.tar"),
    ])
    func aContainerIsReadAsWhatItIsWhateverItsName(kind: String, name: String) throws {
        let bench = UnpackBench()
        let bytes: [UInt8]
        switch kind {
        case "tar": bytes = Self.tar
        case "zip": bytes = Self.zip
        case "tar.gz": bytes = Deflater.gzip(Self.tar)
        default: bytes = Deflater.gzip(Array("GROUP = L1\n".utf8))
        }
        let files = try UnpackBench.contents(try bench.unpack(bytes, name: name))
        let expectedName = kind == "gzip" ? name + ".out" : "LC08_MTL.txt"
        #expect(files == [expectedName: Array("GROUP = L1\n".utf8)])
    }

    @Test func aPlainFileNamedLikeAnArchivePassesThrough() throws {
        let bench = UnpackBench()
        for name in ["not.tar.gz", "not.zip", "not.tar", "not.tgz"] {
            let bytes = Array("GROUP = LANDSAT_METADATA_FILE\n".utf8)
            let unpacked = try bench.unpack(bytes, name: name)
            #expect(unpacked.files.count == 1)
            #expect(unpacked.files[0].name == name)
            #expect(unpacked.files[0].url == bench.folder.appendingPathComponent(name))
            #expect(unpacked.files[0].sha256 == Digest.sha256Hex(bytes))
        }
    }

    @Test func aV7TarWithoutMagicIsKnownByItsChecksum() throws {
        var tar = TarBuilder()
        tar.magic = .v7
        tar.file("old/readme.txt", "v7")
        tar.header(Array("old/sub/".utf8), type: 0)
        tar.end()
        let block = tar.bytes.prefix(512)
        #expect(!block[257..<262].elementsEqual("ustar".utf8))
        let bench = UnpackBench()
        let unpacked = try bench.unpack(tar.bytes, name: "old.bin")
        #expect(try UnpackBench.contents(unpacked) == ["old/readme.txt": Array("v7".utf8)])
        var isFolder: ObjCBool = false
        let sub = WorkFiles.unpacked(bench.folder.appendingPathComponent("old.bin")).appendingPathComponent("old/sub")
        #expect(FileManager.default.fileExists(atPath: sub.path, isDirectory: &isFolder) && isFolder.boolValue)
    }

    @Test func aBlockWithABrokenChecksumIsNotTar() throws {
        var tar = TarBuilder()
        tar.header(Array("x.txt".utf8), type: UInt8(ascii: "0"), size: 1, corruptChecksum: true)
        var v7 = TarBuilder()
        v7.magic = .v7
        v7.header(Array("x.txt".utf8), type: UInt8(ascii: "0"), size: 1, corruptChecksum: true)
        // ustar magic makes it tar (then refused for its checksum); without magic it is plain data.
        let bench = UnpackBench()
        let e = try bench.refusal(tar.bytes + [0x41] + [UInt8](repeating: 0, count: 1535), name: "a.tar")
        #expect(e?.description == "tar: corrupt tar header at byte 0: checksum mismatch")
        let plain = try bench.unpack(v7.bytes, name: "b.tar")
        #expect(plain.files[0].url == bench.folder.appendingPathComponent("b.tar"))
    }
}
