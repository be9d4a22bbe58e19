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

/// Every entry that could put bytes outside the record's folder, or anything but a regular
/// file inside it, is refused, in tar, tar.gz and zip alike: the reason names the entry and
/// the cause on one line, and nothing of the object's output is left behind.
@Suite struct EntrySafetyTests {
    enum Hostile: String, CaseIterable, Sendable {
        case parent, nestedParent, absolute, driveLetter, bareDriveLetter, backslashParent, backslashSeparator
        case controlCharacter, symbolicLinkOut, symbolicLinkIn, hardLink, characterDevice, blockDevice, fifo
        case duplicate, fileUnderFile, fileOverFolder
        /// A combining mark after `/` joins it into one Character: checked as Characters, these
        /// had no `/`, yet the file system splits them at the byte 0x2F.
        case markAfterParent, markAfterNestedParent, markAfterRoot, markAfterBackslash

        /// The hostile entry's name, as the archive states it.
        var name: String {
            switch self {
            case .parent: return "../evil.txt"
            case .nestedParent: return "LC08/../../evil.txt"
            case .absolute: return "/etc/cron.d/evil"
            case .driveLetter: return "C:/Windows/evil.dll"
            case .bareDriveLetter: return "c:evil.dll"
            case .backslashParent: return "..\\evil.txt"
            case .backslashSeparator: return "LC08\\evil.txt"
            case .controlCharacter: return "evil\u{1B}[2J.txt"
            case .symbolicLinkOut, .symbolicLinkIn: return "LC08/link"
            case .hardLink: return "LC08/hard"
            case .characterDevice: return "LC08/tty"
            case .blockDevice: return "LC08/sda"
            case .fifo: return "LC08/pipe"
            case .duplicate: return "LC08/ok.txt"
            case .fileUnderFile: return "LC08/ok.txt/inner.txt"
            case .fileOverFolder: return "LC08"
            case .markAfterParent: return "../\u{301}evil.txt"
            case .markAfterNestedParent: return "LC08/../\u{301}/../\u{301}evil.txt"
            case .markAfterRoot: return "/\u{301}etc/cron.d/evil"
            case .markAfterBackslash: return "..\\\u{301}evil.txt"
            }
        }

        var cause: UnpackError.Cause {
            switch self {
            case .parent, .nestedParent, .markAfterParent, .markAfterNestedParent: return .parentReference
            case .markAfterRoot: return .absolutePath
            case .markAfterBackslash: return .backslash
            case .absolute: return .absolutePath
            case .driveLetter, .bareDriveLetter: return .driveLetter
            case .backslashParent, .backslashSeparator: return .backslash
            case .controlCharacter: return .invalidName("control character")
            case .symbolicLinkOut: return .link(hard: false, target: "/etc/passwd")
            case .symbolicLinkIn: return .link(hard: false, target: "ok.txt")
            case .hardLink: return .link(hard: true, target: "LC08/ok.txt")
            case .characterDevice: return .specialFile("character device")
            case .blockDevice: return .specialFile("block device")
            case .fifo: return .specialFile("FIFO")
            case .duplicate: return .duplicate
            case .fileUnderFile: return .clashes(with: "LC08/ok.txt")
            case .fileOverFolder: return .clashes(with: "LC08/")
            }
        }

        /// A well-formed entry first, so the refusal must also take back what was written.
        func tar() -> [UInt8] {
            var tar = TarBuilder()
            tar.file("LC08/ok.txt", "fine")
            switch self {
            case .symbolicLinkOut: tar.symbolicLink(name, to: "/etc/passwd")
            case .symbolicLinkIn: tar.symbolicLink(name, to: "ok.txt")
            case .hardLink: tar.hardLink(name, to: "LC08/ok.txt")
            case .characterDevice: tar.header(Array(name.utf8), type: UInt8(ascii: "3"))
            case .blockDevice: tar.header(Array(name.utf8), type: UInt8(ascii: "4"))
            case .fifo: tar.header(Array(name.utf8), type: UInt8(ascii: "6"))
            case .absolute, .driveLetter, .parent, .nestedParent:
                // Long enough to need pax, as real tools would write it.
                tar.pax([("path", name)])
                tar.file("placeholder", "evil")
            default: tar.file(name, "evil")
            }
            tar.end()
            return tar.bytes
        }

        /// The same in zip; zip has no hard links.
        func zip() -> [UInt8]? {
            var zip = ZipBuilder()
            zip.add("LC08/ok.txt", "fine")
            var entry = ZipBuilder.Entry(name, Array("evil".utf8), method: 0)
            switch self {
            case .hardLink: return nil
            case .symbolicLinkOut:
                entry.payload = Array("/etc/passwd".utf8)
                entry.unixMode = 0o120777
            case .symbolicLinkIn:
                entry.payload = Array("ok.txt".utf8)
                entry.unixMode = 0o120777
            case .characterDevice: entry.unixMode = 0o020644
            case .blockDevice: entry.unixMode = 0o060644
            case .fifo: entry.unixMode = 0o010644
            default: break
            }
            zip.add(entry)
            return zip.build()
        }
    }

    @Test(arguments: Hostile.allCases, ["tar", "tar.gz", "zip"])
    func hostileEntryIsRefused(hostile: Hostile, container: String) throws {
        let bytes: [UInt8]
        switch container {
        case "tar": bytes = hostile.tar()
        case "tar.gz": bytes = Deflater.gzip(hostile.tar())
        default:
            guard let zip = hostile.zip() else { return }
            bytes = zip
        }
        let e = try UnpackBench().refusal(bytes, name: "object.\(container)")
        #expect(e?.container == container)
        #expect(e?.cause == hostile.cause, "\(e?.description ?? "accepted")")
        #expect(e?.entry == hostile.name, "\(e?.description ?? "accepted")")
    }

    @Test func theReasonIsOneReadableLine() throws {
        let e = try UnpackBench().refusal(Hostile.controlCharacter.tar(), name: "x.tar")
        #expect(e?.description == "tar entry 'evil\\u{1b}[2J.txt': invalid name: control character")
        let link = try UnpackBench().refusal(Hostile.symbolicLinkOut.tar(), name: "y.tar")
        #expect(
            link?.description
                == "tar entry 'LC08/link': symbolic link to '/etc/passwd' refused (links may point anywhere)"
        )
    }

    /// A combining mark after the dots makes a name of its own (`..\u{301}` is not `..` to the
    /// file system): it stays inside the folder under its bytes, as any other name.
    @Test(arguments: ["tar", "zip"])
    func markAfterDotsIsANameInsideTheFolder(container: String) throws {
        let name = "..\u{301}/x.txt"
        let bytes: [UInt8]
        if container == "tar" {
            var tar = TarBuilder()
            tar.file(name, "x")
            tar.end()
            bytes = tar.bytes
        } else {
            var zip = ZipBuilder()
            zip.add(name, "x")
            bytes = zip.build()
        }
        let unpacked = try UnpackBench().unpack(bytes, name: "mark.\(container)")
        let files = try UnpackBench.contents(unpacked)
        #expect(files == [name: Array("x".utf8)])
        for file in unpacked.files {
            #expect(
                !file.url.path.utf8.split(separator: 0x2F).contains { $0.elementsEqual("..".utf8) },
                "\(file.url.path)"
            )
        }
        #expect(
            Array(files.keys.first?.utf8 ?? "".utf8) == [0x2E, 0x2E, 0xCC, 0x81, 0x2F, 0x78, 0x2E, 0x74, 0x78, 0x74]
        )
        #expect(try EntryPath.check(Array("..\u{301}".utf8))?.components == ["..\u{301}"])
    }

    /// `./`, `.` and doubled slashes are harmless spellings, normalised away; folders may be
    /// listed twice; names that merely contain dots are names.
    @Test func harmlessSpellingsAreNormalised() throws {
        var tar = TarBuilder()
        tar.folder("./")
        tar.folder("./LC08/")
        tar.folder("LC08//")
        tar.file("./LC08//./a.txt", "a")
        tar.file("LC08/..b..txt", "b")
        tar.file("...", "c")
        tar.end()
        let files = try UnpackBench.contents(try UnpackBench().unpack(tar.bytes, name: "dots.tar"))
        #expect(files == ["LC08/a.txt": Array("a".utf8), "LC08/..b..txt": Array("b".utf8), "...": Array("c".utf8)])
    }

    @Test func entryPathChecks() throws {
        #expect(try EntryPath.check(Array("./a//b/./c".utf8))?.path == "a/b/c")
        #expect(try EntryPath.check(Array("./".utf8)) == nil)
        #expect(try EntryPath.check(Array("a/b/c".utf8))?.parents == ["a", "a/b"])
        #expect(throws: UnpackError.Cause.invalidName("not valid UTF-8")) { try EntryPath.check([0x61, 0xFF]) }
        #expect(throws: UnpackError.Cause.invalidName("empty")) { try EntryPath.check([UInt8]()) }
        #expect(throws: UnpackError.Cause.invalidName("longer than 4096 bytes")) {
            try EntryPath.check([UInt8](repeating: 0x61, count: 4097))
        }
        #expect(throws: UnpackError.Cause.invalidName("a component is longer than 255 bytes")) {
            try EntryPath.check([UInt8](repeating: 0x61, count: 256))
        }
        #expect(throws: UnpackError.Cause.absolutePath) { try EntryPath.check(Array("/".utf8)) }
    }
}
