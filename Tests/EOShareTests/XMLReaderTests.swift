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

/// The shared byte-level XML reader: attributes, namespaces, lookups by local name, and the
/// skipped subtrees the Sentinel-2 reader relies on for speed.
@Suite struct XMLReaderTests {
    static let document = """
        <?xml version="1.0" encoding="UTF-8"?>
        <n1:Root xmlns:n1="urn:x" a="1 &amp; 2">
          <Info><Item id="x">one</Item><Item id='y'>two</Item></Info>
          <Grid><Values>1 2 3</Values><Grid><Values>nested</Values></Grid></Grid>
          <After>kept</After>
        </n1:Root>
        """

    @Test func lookupsByLocalName() throws {
        let root = try XMLReader.parse(Array(Self.document.utf8))
        #expect(root.name == "n1:Root" && root.localName == "Root")
        #expect(root.attribute("a") == "1 & 2")
        #expect(root.findAll("Info/Item").map(\.text) == ["one", "two"])
        #expect(root.find("Info/Item")?.attribute("id") == "x")
        #expect(root.text(at: "After") == "kept")
        #expect(root.descendant("Values")?.text == "1 2 3")
    }

    @Test func skippedSubtreesStayEmptyAndTheRestIsRead() throws {
        let root = try XMLReader.parse(Array(Self.document.utf8), skipping: ["Grid"])
        #expect(root.child("Grid")?.children.isEmpty == true)
        #expect(root.text(at: "After") == "kept", "nested elements of the same name are counted")
        let cut = Self.document.components(separatedBy: "</Grid></Grid>")[0]
        let error = #expect(throws: XMLSyntaxError.self) { try XMLReader.parse(Array(cut.utf8), skipping: ["Grid"]) }
        #expect(error?.detail.contains("file truncated?") == true)
    }

    /// The skip counts only tags of exactly the skipped name: longer names that start with it,
    /// self-closing ones, and attributes or blanks after the name are told apart.
    @Test func skippingMatchesWholeNamesOnly() throws {
        let text = """
            <Root><Grid><GridValues>1</GridValues><Grid/><Grid a="x"><Grid
            >deep</Grid></Grid><Values>2</Values></Grid ><After>kept</After></Root>
            """
        let root = try XMLReader.parse(Array(text.utf8), skipping: ["Grid"])
        #expect(root.children.map(\.localName) == ["Grid", "After"])
        #expect(root.text(at: "After") == "kept")
    }
}

/// The UTF-8 check every text reader runs first: its 32- and 8-bytes-at-a-time paths must
/// find a NUL or a bad byte wherever it sits, at block boundaries and between them.
@Suite struct TextValidationTests {
    @Test func findsTheFirstBadByteAtEveryOffset() {
        let prefix = "<Root>plain ASCII text, long enough for three blocks of thirty-two bytes and a few more"
        let text = Array("\(prefix), then é and 日本 and more ASCII</Root>".utf8)
        #expect(TextBytes.firstInvalidText(text, from: 0) == nil)
        for at in 0..<text.count {
            for (bad, reason) in [(UInt8(0), "NUL byte in text"), (0xFF, "invalid UTF-8 byte 0xFF")] {
                var b = text
                let valid = (0..<at).allSatisfy { text[$0] < 0x80 }
                guard valid else { continue }  // only replace inside the ASCII prefix
                b[at] = bad
                #expect(TextBytes.firstInvalidText(b, from: 0)?.offset == at, "\(bad) at \(at)")
                #expect(TextBytes.firstInvalidText(b, from: 0)?.reason == reason)
            }
        }
        var cut = text
        cut.removeLast(text.count - text.firstIndex(of: 0xC3)! - 1)  // a lone lead byte at the end
        #expect(TextBytes.firstInvalidText(cut, from: 0)?.reason == "invalid UTF-8 sequence")
        // Clean ASCII of every length, blocks ending exactly at the end included.
        for length in 0...100 {
            #expect(TextBytes.firstInvalidText(Array(repeating: UInt8(ascii: "a"), count: length), from: 0) == nil)
            #expect(TextBytes.firstInvalidText(Array(text.prefix(length)), from: 0, to: length / 2) == nil)
        }
    }
}

/// Metadata files are read whole in one copy: every size comes back byte for byte.
@Suite struct FileBytesTests {
    @Test func readsFilesOfEverySizeExactly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("filebytes-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for size in [0, 1, 4095, 4096, 4097, 70_001] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let file = folder.appendingPathComponent("\(size).bin")
            try Data(bytes).write(to: file)
            #expect(try FileBytes.read(file) == bytes, "\(size) bytes")
        }
        #expect(throws: POSIXIOError.self) { try FileBytes.read(folder.appendingPathComponent("absent")) }
    }
}

/// Input never recurses without bound: nesting past `XMLReader.maxDepth` is refused with an
/// error at the element, so readers that walk the tree recursively stay shallow.
extension XMLReaderTests {
    static func nested(_ depth: Int) -> [UInt8] {
        Array((String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth)).utf8)
    }

    @Test func nestingPastTheLimitIsRefused() throws {
        let error = #expect(throws: XMLSyntaxError.self) { try XMLReader.parse(Self.nested(200_000)) }
        #expect(error?.detail == "elements nested deeper than \(XMLReader.maxDepth)")
        #expect(error?.offset == 3 * XMLReader.maxDepth, "the first element too deep")
        let deepest = try XMLReader.parse(Self.nested(XMLReader.maxDepth))
        #expect(deepest.descendant("b") == nil, "a tree at the limit is walked recursively without trouble")
        #expect(throws: XMLSyntaxError.self) { try XMLReader.parse(Self.nested(XMLReader.maxDepth + 1)) }
    }

    // MARK: DOCTYPE

    /// A DOCTYPE naming an external DTD is accepted (MODIS ECS metadata has one) and the DTD
    /// is never read: nothing in it could define an entity.
    @Test(arguments: [
        "<?xml version=\"1.0\"?><!DOCTYPE Root SYSTEM \"http://example.test/x.dtd\">\n<Root>a &amp; b</Root>",
        "<!DOCTYPE Root PUBLIC \"-//X//DTD Y//EN\" 'x.dtd'><Root>a &amp; b</Root>",
        "<!DOCTYPE Root   SYSTEM 'x.dtd'  ><!-- c --><Root>a &amp; b</Root>",
        "<!DOCTYPE Root><Root>a &amp; b</Root>",
    ])
    func anExternalDTDReferenceIsAccepted(_ text: String) throws {
        let root = try XMLReader.parse(Array(text.utf8))
        #expect(root.name == "Root" && root.text == "a & b")
    }

    /// Internal subsets, where entities are declared, are refused whatever they hold; an
    /// undeclared entity stays an error; a DOCTYPE after the root or a second one is refused.
    @Test(arguments: [
        ("<!DOCTYPE Root [<!ENTITY a \"b\">]><Root>&a;</Root>", "internal subset"),
        ("<!DOCTYPE Root SYSTEM \"x.dtd\" [<!ENTITY a \"b\">]><Root/>", "internal subset"),
        ("<!DOCTYPE Root [\n]><Root/>", "internal subset"),
        ("<!DOCTYPE Root SYSTEM \"x.dtd\"><Root>&lol;</Root>", "unknown entity &lol;"),
        ("<!DOCTYPE Root SYSTEM \"x.dtd\"><!DOCTYPE Root><Root/>", "DOCTYPE after the document began"),
        ("<Root><!DOCTYPE Root></Root>", "DOCTYPE after the document began"),
        ("<!DOCTYPE Root SYSTEM x.dtd><Root/>", "expected a quoted identifier"),
        ("<!DOCTYPE Root SYSTEM \"x.dtd", "unterminated DOCTYPE"),
        ("<!DOCTYPEX><Root/>", "malformed DOCTYPE"),
    ])
    func internalSubsetsAndEntityDeclarationsAreRefused(_ text: String, _ detail: String) throws {
        let error = #expect(throws: XMLSyntaxError.self) { try XMLReader.parse(Array(text.utf8)) }
        #expect(error?.detail.contains(detail) == true, "\(String(describing: error))")
    }
}
