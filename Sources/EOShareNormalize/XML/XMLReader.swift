import CEOShareSystem
import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// A small byte-level XML reader for agency metadata: an optional `<?xml …?>` prolog,
/// comments, processing instructions, CDATA, attributes, the five predefined entities and
/// character references. A DOCTYPE that only names an external DTD (`<!DOCTYPE x SYSTEM
/// "…">` or `PUBLIC "…" "…"`, as MODIS ECS metadata declares) is accepted and its DTD never
/// fetched nor read; an internal subset (`[ … ]`), and with it any entity declaration, is
/// refused: no entity is ever expanded beyond the five predefined ones. Produces a
/// `MarkupDocument` (flat nodes over the input) and returns its root `MarkupElement`;
/// errors carry the byte offset.
///
/// The caller checks UTF-8 first (`TextBytes.firstInvalidText`): this reader walks bytes,
/// and names and texts become `String`s only when a reader asks for them.
public struct XMLReader {
    /// The input, read through a pointer while parsing: the hot loops index it per byte, and
    /// array indexing would check bounds on every one of them.
    package let bytes: UnsafeBufferPointer<UInt8>
    package var position: Int

    /// Elements (by local name) whose content is skipped unread: bulky parts a reader does
    /// not use (the per-pixel angle grids of a Sentinel-2 granule). A skipped element stays
    /// in the tree, empty; its content is not checked.
    package let skipping: [[UInt8]]

    /// The deepest nesting of elements read. The reader itself keeps its open elements on a
    /// heap stack, but readers of the tree walk it recursively (`descendant`, the MTL's
    /// groups): 200,000 nested elements would overflow their stack. Agency metadata nests a
    /// dozen deep.
    public static let maxDepth = 256

    /// The document so far: elements in document order, their attributes, decoded texts.
    private var nodes: [MarkupDocument.Node] = []
    private var attributes: [MarkupDocument.AttributeNode] = []
    private var decoded: [String] = []

    private init(bytes: UnsafeBufferPointer<UInt8>, position: Int, skipping: Set<String>) {
        self.bytes = bytes
        self.position = position
        self.skipping = skipping.map { Array($0.utf8) }
    }

    /// Parses the document in `bytes` starting at `start` (after any byte order mark).
    public static func parse(
        _ bytes: [UInt8],
        from start: Int = 0,
        skipping: Set<String> = []
    ) throws(XMLSyntaxError) -> MarkupElement {
        guard bytes.count < Int32.max else { throw XMLSyntaxError(offset: nil, detail: "document over 2 GiB") }
        // The reader holds the pointer: it stays inside the closure, only what it built leaves.
        let (nodes, attributes, decoded, root) = try bytes.withUnsafeBufferPointer { (buffer) throws(XMLSyntaxError) in
            var reader = XMLReader(bytes: buffer, position: start, skipping: skipping)
            let root = try reader.document()
            return (reader.nodes, reader.attributes, reader.decoded, root)
        }
        let document = MarkupDocument(bytes: bytes, nodes: nodes, attributes: attributes, decoded: decoded)
        return MarkupElement(document: document, index: root)
    }

    /// An element being read: its node, its last child so far, and its text so far. Text is
    /// kept as a range of the input while it is one run without references (the usual
    /// case), and copied only when runs must be joined or references decoded.
    private struct Frame {
        package let node: Int
        package var lastChild = -1
        package var run: Range<Int>?
        package var decoded: [UInt8]?
        package var hasText = false

        package init(node: Int) { self.node = node }

        /// The text so far as bytes of its own, to append to.
        package mutating func materialize(_ bytes: UnsafeBufferPointer<UInt8>) {
            guard decoded == nil else { return }
            decoded = run.map { Array(bytes[$0]) } ?? []
            run = nil
        }
    }

    /// Files the text of a closed element on its node.
    private mutating func finish(_ frame: Frame) {
        guard frame.hasText else { return }
        nodes[frame.node].hasText = true
        if let text = frame.decoded {
            nodes[frame.node].decodedText = Int32(decoded.count)
            decoded.append(TextBytes.text(text[TextBytes.trimmed(text, 0, text.count)]))
        } else if let run = frame.run {
            var text = run
            while !text.isEmpty, TextBytes.isSpace(bytes[text.lowerBound]) { text.removeFirst() }
            while !text.isEmpty, TextBytes.isSpace(bytes[text.upperBound - 1]) { text.removeLast() }
            nodes[frame.node].textStart = Int32(text.lowerBound)
            nodes[frame.node].textEnd = Int32(text.upperBound)
        }
    }

    /// Links a finished or opened node under the innermost open element.
    private mutating func link(_ node: Int, under stack: inout [Frame]) {
        guard !stack.isEmpty else { return }
        let parent = stack.count - 1
        if stack[parent].lastChild < 0 {
            nodes[stack[parent].node].firstChild = Int32(node)
        } else {
            nodes[stack[parent].lastChild].nextSibling = Int32(node)
        }
        stack[parent].lastChild = node
    }

    private func nodeName(_ node: Int) -> String { text(bytes[nodes[node].name]) }

    /// Reads the whole document; returns the root's node.
    private mutating func document() throws(XMLSyntaxError) -> Int {
        var stack: [Frame] = []
        var root: Int?
        var seenDoctype = false
        let n = bytes.count
        while position < n {
            guard bytes[position] == UInt8(ascii: "<") else {
                let from = position
                position = next(UInt8(ascii: "<"), from: position)
                if stack.isEmpty {
                    guard bytes[from..<position].allSatisfy(TextBytes.isSpace) else {
                        throw fail(from, "text outside the root element")
                    }
                } else {
                    try appendText(from, position, to: &stack[stack.count - 1])
                }
                continue
            }
            let tagStart = position
            // Most tags are plain start and end tags: the markup kinds that begin with `<!`
            // or `<?` are looked for only after such a start.
            let second = position + 1 < n ? bytes[position + 1] : 0
            let special = second == UInt8(ascii: "!") || second == UInt8(ascii: "?")
            if special, starts(with: "<!--") {
                try skip(past: "-->", from: position + 4, what: "comment")
            } else if special, starts(with: "<![CDATA[") {
                let contentStart = position + 9
                try skip(past: "]]>", from: contentStart, what: "CDATA section")
                guard !stack.isEmpty else { throw fail(tagStart, "CDATA outside the root element") }
                stack[stack.count - 1].materialize(bytes)
                stack[stack.count - 1].decoded!.append(contentsOf: bytes[contentStart..<(position - 3)])
                stack[stack.count - 1].hasText = true
            } else if special, starts(with: "<?") {
                try skip(past: "?>", from: position + 2, what: "processing instruction")
            } else if special, starts(with: "<!DOCTYPE") {
                guard root == nil, !seenDoctype else { throw fail(tagStart, "DOCTYPE after the document began") }
                try skipExternalDoctype(tagStart)
                seenDoctype = true
            } else if special, starts(with: "<!") {
                throw fail(tagStart, "unsupported markup")
            } else if second == UInt8(ascii: "/") {
                position += 2
                let nameBytes = try readName()
                skipSpaces()
                guard position < n, bytes[position] == UInt8(ascii: ">") else {
                    throw fail(tagStart, "malformed end tag </\(text(bytes[nameBytes]))")
                }
                position += 1
                guard let frame = stack.popLast() else {
                    throw fail(tagStart, "</\(text(bytes[nameBytes]))> without an open element")
                }
                guard same(nodes[frame.node].name, nameBytes) else {
                    throw fail(
                        tagStart,
                        "</\(text(bytes[nameBytes]))> does not close <\(nodeName(frame.node))> (line \(line(nodes[frame.node].offset)))"
                    )
                }
                finish(frame)
            } else {
                position += 1
                let nameBytes = try readName()
                var localStart = nameBytes.lowerBound
                for i in nameBytes where bytes[i] == UInt8(ascii: ":") { localStart = i + 1 }
                let firstAttribute = attributes.count
                let selfClosing = try readAttributes(of: nameBytes, tagStart: tagStart)
                guard !(stack.isEmpty && root != nil) else {
                    throw fail(tagStart, "second root element <\(text(bytes[nameBytes]))>")
                }
                let node = nodes.count
                nodes.append(
                    MarkupDocument.Node(
                        name: nameBytes,
                        localStart: localStart,
                        attributes: firstAttribute..<attributes.count
                    )
                )
                link(node, under: &stack)
                if stack.isEmpty { root = node }
                if !selfClosing, isSkipped(localStart..<nameBytes.upperBound) {
                    try skipContent(of: nameBytes, tagStart: tagStart)
                } else if !selfClosing {
                    guard stack.count < Self.maxDepth else {
                        throw fail(tagStart, "elements nested deeper than \(Self.maxDepth)")
                    }
                    stack.append(Frame(node: node))
                }
            }
        }
        if let top = stack.last {
            throw fail(
                n,
                "end of file inside <\(nodeName(top.node))> (opened on line \(line(nodes[top.node].offset))): file truncated?"
            )
        }
        guard let root else { throw fail(nil, "no root element") }
        return root
    }

    private func isSkipped(_ local: Range<Int>) -> Bool {
        for name in skipping where name.count == local.count && bytes[local].elementsEqual(name) { return true }
        return false
    }

    /// Appends character data, decoding entity and character references. Blanks before
    /// any text are dropped (text is trimmed); a first run without `&` stays a range.
    private func appendText(_ from: Int, _ to: Int, to frame: inout Frame) throws(XMLSyntaxError) {
        // Blanks first (most runs are indentation), then only `&` and `]]>` matter.
        var firstText = from
        while firstText < to, TextBytes.isSpace(bytes[firstText]) { firstText += 1 }
        let blank = firstText == to
        var reference = false
        var cdataEnd = -1
        for j in firstText..<to {
            if bytes[j] == UInt8(ascii: "&") {
                reference = true
            } else if bytes[j] == UInt8(ascii: ">"), j >= from + 2, bytes[j - 1] == UInt8(ascii: "]"),
                bytes[j - 2] == UInt8(ascii: "]")
            {
                cdataEnd = j
                break
            }
        }
        if cdataEnd >= 0 { throw fail(cdataEnd, "']]>' in text") }
        if blank, !reference, !frame.hasText { return }
        frame.hasText = true
        if !reference, frame.run == nil, frame.decoded == nil {
            frame.run = from..<to
            return
        }
        frame.materialize(bytes)
        var i = from
        while i < to {
            var j = i
            while j < to, bytes[j] != UInt8(ascii: "&") { j += 1 }
            frame.decoded!.append(contentsOf: bytes[i..<j])
            i = j
            if i < to { i = try decodeReference(at: i, end: to, into: &frame.decoded!) }
        }
    }

    /// Moves past the end tag of the element just opened, counting nested elements of the
    /// same name; comments and CDATA in between are not interpreted. The tags are found with
    /// `memmem`: a skipped part is hundreds of kilobytes of small elements.
    private mutating func skipContent(of name: Range<Int>, tagStart: Int) throws(XMLSyntaxError) {
        let open = [UInt8(ascii: "<")] + bytes[name]
        let close = [UInt8(ascii: "<"), UInt8(ascii: "/")] + bytes[name]
        let n = bytes.count
        // A match counts when the name ends there (`>` or a blank follows).
        func endsName(_ i: Int) -> Bool { i < n && (bytes[i] == UInt8(ascii: ">") || TextBytes.isSpace(bytes[i])) }
        var depth = 1
        while let end = find(close, from: position, to: n) {
            var from = position
            while let start = find(open, from: from, to: end) {
                if endsName(start + open.count) { depth += 1 }
                from = start + open.count
            }
            position = end + close.count
            guard endsName(position) else { continue }
            depth -= 1
            if depth == 0 {
                position = next(UInt8(ascii: ">"), from: position)
                guard position < n else { break }
                position += 1
                return
            }
        }
        throw fail(n, "end of file inside <\(text(bytes[name]))> (opened on line \(line(tagStart))): file truncated?")
    }

    /// The offset of `pattern` in `bytes[from..<to]`, if it is there.
    private func find(_ pattern: [UInt8], from: Int, to: Int) -> Int? {
        guard to - from >= pattern.count else { return nil }
        let b = bytes.baseAddress!
        return pattern.withUnsafeBufferPointer { p in
            guard let hit = eoshare_memmem(b + from, to - from, p.baseAddress!, p.count) else { return nil }
            return b.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// The offset of the next `byte` at or after `from`, or the end (memchr: most of a
    /// document is runs between markup).
    private func next(_ byte: UInt8, from: Int) -> Int {
        guard from < bytes.count else { return bytes.count }
        let b = bytes.baseAddress!
        guard let hit = memchr(b + from, Int32(byte), bytes.count - from) else { return bytes.count }
        return b.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }

    /// Decodes the `&…;` reference at `i` into `out`; returns the offset after the `;`.
    private func decodeReference(at i: Int, end: Int, into out: inout [UInt8]) throws(XMLSyntaxError) -> Int {
        var semi = i + 1
        while semi < end, semi - i <= 12, bytes[semi] != UInt8(ascii: ";") { semi += 1 }
        guard semi < end, bytes[semi] == UInt8(ascii: ";") else { throw fail(i, "unterminated entity reference") }
        let entity = text(bytes[(i + 1)..<semi])
        switch entity {
        case "amp": out.append(UInt8(ascii: "&"))
        case "lt": out.append(UInt8(ascii: "<"))
        case "gt": out.append(UInt8(ascii: ">"))
        case "quot": out.append(UInt8(ascii: "\""))
        case "apos": out.append(UInt8(ascii: "'"))
        default:
            guard let scalar = characterReference(entity) else {
                throw fail(i, "unknown entity &\(entity.prefix(20));")
            }
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
        return semi + 1
    }

    /// `#65` or `#x41` → the scalar, when it is one XML allows.
    private func characterReference(_ entity: String) -> Unicode.Scalar? {
        guard entity.hasPrefix("#") else { return nil }
        let body = entity.dropFirst()
        let value: UInt32?
        if body.hasPrefix("x") {
            value = UInt32(body.dropFirst(), radix: 16)
        } else {
            value = UInt32(body, radix: 10)
        }
        guard let value, value != 0, let scalar = Unicode.Scalar(value) else { return nil }
        if value < 0x20, value != 0x09, value != 0x0A, value != 0x0D { return nil }
        return scalar
    }

    /// Reads the attributes of a start tag into `attributes`; true for `/>`.
    private mutating func readAttributes(of nameBytes: Range<Int>, tagStart: Int) throws(XMLSyntaxError) -> Bool {
        let n = bytes.count
        var name: String { text(bytes[nameBytes]) }
        while true {
            let before = position
            skipSpaces()
            guard position < n else { throw fail(tagStart, "unterminated start tag <\(name)") }
            if bytes[position] == UInt8(ascii: ">") {
                position += 1
                return false
            }
            if bytes[position] == UInt8(ascii: "/") {
                guard position + 1 < n, bytes[position + 1] == UInt8(ascii: ">") else {
                    throw fail(tagStart, "malformed start tag <\(name)")
                }
                position += 2
                return true
            }
            guard position > before else { throw fail(tagStart, "malformed start tag <\(name)") }
            let attribute = try readName()
            skipSpaces()
            guard position < n, bytes[position] == UInt8(ascii: "=") else {
                throw fail(tagStart, "attribute without value in <\(name)>")
            }
            position += 1
            skipSpaces()
            guard position < n, bytes[position] == UInt8(ascii: "\"") || bytes[position] == UInt8(ascii: "'") else {
                throw fail(tagStart, "unquoted attribute value in <\(name)>")
            }
            let quote = bytes[position]
            position += 1
            // A value without references stays a range of the input.
            let end = next(quote, from: position)
            if end < n, !bytes[position..<end].contains(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") }) {
                attributes.append(.init(name: attribute, value: position..<end))
                position = end + 1
                continue
            }
            let valueStart = position
            var value: [UInt8] = []
            while position < n, bytes[position] != quote {
                let b = bytes[position]
                if b == UInt8(ascii: "<") { throw fail(tagStart, "'<' in attribute value of <\(name)>") }
                if b == UInt8(ascii: "&") {
                    position = try decodeReference(at: position, end: n, into: &value)
                } else {
                    value.append(b)
                    position += 1
                }
            }
            guard position < n else { throw fail(tagStart, "unterminated attribute value in <\(name)>") }
            attributes.append(.init(name: attribute, value: valueStart..<position, decodedValue: decoded.count))
            decoded.append(String(decoding: value, as: UTF8.self))
            position += 1
        }
    }

    /// An element or attribute name (ASCII letters, digits, `_ - . :`; non-ASCII allowed):
    /// where its bytes are.
    private mutating func readName() throws(XMLSyntaxError) -> Range<Int> {
        let from = position
        let n = bytes.count
        var i = from
        while i < n {
            let b = bytes[i]
            let ok =
                TextBytes.isNameByte(b) || b >= 0x80 || b == UInt8(ascii: ":")
                || (i > from && (b == UInt8(ascii: "-") || b == UInt8(ascii: ".")))
            if !ok { break }
            i += 1
        }
        position = i
        guard position < n else { throw fail(from, "end of file inside a tag: file truncated?") }
        guard position > from, !TextBytes.isDigit(bytes[from]) else {
            throw fail(from, "expected an element name")
        }
        return from..<position
    }

    /// Moves past `<!DOCTYPE name SYSTEM "uri">` or `<!DOCTYPE name PUBLIC "id" "uri">` (or
    /// a bare `<!DOCTYPE name>`). Anything else — an internal subset `[`, which is where
    /// entity declarations live — is refused: the DTD is never read, so no entity expands.
    private mutating func skipExternalDoctype(_ tagStart: Int) throws(XMLSyntaxError) {
        position = tagStart + 9
        guard position < bytes.count, TextBytes.isSpace(bytes[position]) else {
            throw fail(tagStart, "malformed DOCTYPE")
        }
        skipSpaces()
        _ = try readName()
        skipSpaces()
        var literals = 0
        if starts(with: "SYSTEM") {
            position += 6
            literals = 1
        } else if starts(with: "PUBLIC") {
            position += 6
            literals = 2
        }
        for _ in 0..<literals {
            skipSpaces()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") || bytes[position] == UInt8(ascii: "'")
            else { throw fail(tagStart, "malformed DOCTYPE: expected a quoted identifier") }
            let quote = bytes[position]
            let close = next(quote, from: position + 1)
            guard close < bytes.count else { throw fail(tagStart, "unterminated DOCTYPE") }
            position = close + 1
        }
        skipSpaces()
        guard position < bytes.count else { throw fail(tagStart, "unterminated DOCTYPE") }
        if bytes[position] == UInt8(ascii: "[") {
            throw fail(tagStart, "DOCTYPE with an internal subset (entity declarations) is not supported")
        }
        guard bytes[position] == UInt8(ascii: ">") else { throw fail(tagStart, "malformed DOCTYPE") }
        position += 1
    }

    /// Whether two ranges of the input hold the same bytes.
    private func same(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        a.count == b.count && memcmp(bytes.baseAddress! + a.lowerBound, bytes.baseAddress! + b.lowerBound, a.count) == 0
    }

    private mutating func skipSpaces() {
        while position < bytes.count, TextBytes.isSpace(bytes[position]) { position += 1 }
    }

    private func starts(with prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        let p = prefix.utf8Start
        for k in 0..<count where bytes[position + k] != p[k] { return false }
        return true
    }

    /// Moves past the next `terminator` at or after `from`.
    private mutating func skip(past terminator: StaticString, from: Int, what: String) throws(XMLSyntaxError) {
        let count = terminator.utf8CodeUnitCount
        let t = terminator.utf8Start
        var i = from
        while i + count <= bytes.count {
            var match = true
            for k in 0..<count where bytes[i + k] != t[k] {
                match = false
                break
            }
            if match {
                position = i + count
                return
            }
            i += 1
        }
        throw fail(position, "unterminated \(what)")
    }

    private func line(_ offset: Int) -> Int { TextBytes.line(of: offset, in: Array(bytes)) }

    private func text(_ slice: Slice<UnsafeBufferPointer<UInt8>>) -> String { String(decoding: slice, as: UTF8.self) }

    private func fail(_ offset: Int?, _ detail: String) -> XMLSyntaxError {
        XMLSyntaxError(offset: offset, detail: detail)
    }
}
