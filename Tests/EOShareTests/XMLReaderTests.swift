import EOShare
import Testing

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
}
