import Foundation

/// A small byte-level XML reader for agency metadata: an optional `<?xml …?>` prolog,
/// comments, processing instructions, CDATA, attributes, the five predefined entities and
/// character references. DOCTYPE (and with it entity definitions, so no entity expansion
/// attacks) is refused. Produces one `XMLElement` tree; errors carry the byte offset.
///
/// The caller checks UTF-8 first (`TextBytes.firstInvalidText`): this reader walks bytes
/// and copies them into `String`s as they are.
public struct XMLReader {
    let bytes: [UInt8]
    var position: Int

    /// Elements (by local name) whose content is skipped unread: bulky parts a reader does
    /// not use (the per-pixel angle grids of a Sentinel-2 granule). A skipped element stays
    /// in the tree, empty; its content is not checked.
    let skipping: Set<Substring>

    /// Names seen so far, in slots chosen by a cheap hash of their bytes: a document repeats
    /// a few hundred tag and attribute names thousands of times, and each is made into a
    /// `String` once (a collision only costs making the name again).
    private var names = [Name?](repeating: nil, count: 1024)

    /// A tag or attribute name, its local part, and whether its content is skipped.
    private struct Name {
        var name: String
        var local: String
        var skipped: Bool
    }

    init(bytes: [UInt8], position: Int, skipping: Set<Substring> = []) {
        self.bytes = bytes
        self.position = position
        self.skipping = skipping
    }

    /// Parses the document in `bytes` starting at `start` (after any byte order mark).
    public static func parse(
        _ bytes: [UInt8], from start: Int = 0, skipping: Set<String> = []
    ) throws(XMLSyntaxError) -> XMLElement {
        var reader = XMLReader(bytes: bytes, position: start, skipping: Set(skipping.map { Substring($0) }))
        return try reader.document()
    }

    /// An element being read: its attributes and text so far, and its finished children.
    /// Text is kept as a range of the input while it is one run without references (the
    /// usual case), and copied only when runs must be joined or references decoded.
    private struct Frame {
        let name: String
        let localName: String
        let nameBytes: Range<Int>
        let offset: Int
        let attributes: [XMLElement.Attribute]
        var run: Range<Int>?
        var decoded: [UInt8]?
        var hasText = false
        var children: [XMLElement] = []

        func finished(_ bytes: [UInt8]) -> XMLElement {
            var text = ""
            if hasText {
                if let decoded {
                    text = TextBytes.text(decoded[TextBytes.trimmed(decoded, 0, decoded.count)])
                } else if let run {
                    text = TextBytes.text(bytes[TextBytes.trimmed(bytes, run.lowerBound, run.upperBound)])
                }
            }
            return XMLElement(
                name: name, localName: localName, attributes: attributes, text: text, children: children, offset: offset,
                hasText: hasText)
        }

        /// The text so far as bytes of its own, to append to.
        mutating func materialize(_ bytes: [UInt8]) {
            guard decoded == nil else { return }
            decoded = run.map { Array(bytes[$0]) } ?? []
            run = nil
        }
    }

    private mutating func document() throws(XMLSyntaxError) -> XMLElement {
        var stack: [Frame] = []
        var root: XMLElement?
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
                throw fail(tagStart, "DOCTYPE is not supported")
            } else if special, starts(with: "<!") {
                throw fail(tagStart, "unsupported markup")
            } else if second == UInt8(ascii: "/") {
                position += 2
                let nameBytes = try readName()
                skipSpaces()
                guard position < n, bytes[position] == UInt8(ascii: ">") else {
                    throw fail(tagStart, "malformed end tag </\(TextBytes.text(bytes[nameBytes]))")
                }
                position += 1
                guard let frame = stack.popLast() else {
                    throw fail(tagStart, "</\(TextBytes.text(bytes[nameBytes]))> without an open element")
                }
                guard bytes[frame.nameBytes].elementsEqual(bytes[nameBytes]) else {
                    throw fail(tagStart, "</\(TextBytes.text(bytes[nameBytes]))> does not close <\(frame.name)> (line \(line(frame.offset)))")
                }
                let element = frame.finished(bytes)
                if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
            } else {
                position += 1
                let nameBytes = try readName()
                let interned = intern(nameBytes)
                let name = interned.name
                let (attributes, selfClosing) = try readAttributes(of: name, tagStart: tagStart)
                guard !(stack.isEmpty && root != nil) else { throw fail(tagStart, "second root element <\(name)>") }
                let frame = Frame(
                    name: name, localName: interned.local, nameBytes: nameBytes, offset: tagStart, attributes: attributes)
                if !selfClosing, interned.skipped {
                    try skipContent(of: name, tagStart: tagStart)
                    let element = frame.finished(bytes)
                    if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
                } else if selfClosing {
                    let element = frame.finished(bytes)
                    if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
                } else {
                    stack.append(frame)
                }
            }
        }
        if let top = stack.last {
            throw fail(n, "end of file inside <\(top.name)> (opened on line \(line(top.offset))): file truncated?")
        }
        guard let root else { throw fail(nil, "no root element") }
        return root
    }

    /// Appends character data, decoding entity and character references. Blanks before
    /// any text are dropped (text is trimmed); a first run without `&` stays a range.
    private func appendText(_ from: Int, _ to: Int, to frame: inout Frame) throws(XMLSyntaxError) {
        var reference = false
        var blank = true
        for j in from..<to {
            let b = bytes[j]
            if b == UInt8(ascii: "&") {
                reference = true
            } else if b == UInt8(ascii: ">"), j >= from + 2, bytes[j - 1] == UInt8(ascii: "]"), bytes[j - 2] == UInt8(ascii: "]") {
                throw fail(j, "']]>' in text")
            } else if blank, !TextBytes.isSpace(b) {
                blank = false
            }
        }
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
    /// same name; comments and CDATA in between are not interpreted.
    private mutating func skipContent(of name: String, tagStart: Int) throws(XMLSyntaxError) {
        let open = Array("<\(name)".utf8)
        let close = Array("</\(name)".utf8)
        var depth = 1
        let n = bytes.count
        while position < n {
            position = next(UInt8(ascii: "<"), from: position)
            guard position < n else { break }
            if matches(close, at: position), position + close.count < n,
                bytes[position + close.count] == UInt8(ascii: ">") || TextBytes.isSpace(bytes[position + close.count])
            {
                depth -= 1
                position += close.count
                if depth == 0 {
                    while position < n, bytes[position] != UInt8(ascii: ">") { position += 1 }
                    guard position < n else { break }
                    position += 1
                    return
                }
            } else if matches(open, at: position), position + open.count < n,
                bytes[position + open.count] == UInt8(ascii: ">") || TextBytes.isSpace(bytes[position + open.count])
            {
                depth += 1
                position += open.count
            } else {
                position += 1
            }
        }
        throw fail(n, "end of file inside <\(name)> (opened on line \(line(tagStart))): file truncated?")
    }

    /// The offset of the next `byte` at or after `from`, or the end (memchr: most of a
    /// document is runs between markup).
    private func next(_ byte: UInt8, from: Int) -> Int {
        guard from < bytes.count else { return bytes.count }
        return bytes.withUnsafeBufferPointer { b in
            guard let hit = memchr(b.baseAddress! + from, Int32(byte), b.count - from) else { return b.count }
            return b.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }

    private func matches(_ pattern: [UInt8], at i: Int) -> Bool {
        guard i + pattern.count <= bytes.count else { return false }
        for k in 0..<pattern.count where bytes[i + k] != pattern[k] { return false }
        return true
    }

    private static func localName(_ name: String) -> String {
        guard let colon = name.utf8.lastIndex(of: UInt8(ascii: ":")) else { return name }
        return String(Substring(name.utf8[name.utf8.index(after: colon)...]))
    }

    /// Decodes the `&…;` reference at `i` into `out`; returns the offset after the `;`.
    private func decodeReference(at i: Int, end: Int, into out: inout [UInt8]) throws(XMLSyntaxError) -> Int {
        var semi = i + 1
        while semi < end, semi - i <= 12, bytes[semi] != UInt8(ascii: ";") { semi += 1 }
        guard semi < end, bytes[semi] == UInt8(ascii: ";") else { throw fail(i, "unterminated entity reference") }
        let entity = TextBytes.text(bytes[(i + 1)..<semi])
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

    /// Reads the attributes of a start tag; the flag is true for `/>`.
    private mutating func readAttributes(
        of name: String, tagStart: Int
    ) throws(XMLSyntaxError) -> ([XMLElement.Attribute], Bool) {
        let n = bytes.count
        var attributes: [XMLElement.Attribute] = []
        while true {
            let before = position
            skipSpaces()
            guard position < n else { throw fail(tagStart, "unterminated start tag <\(name)") }
            if bytes[position] == UInt8(ascii: ">") {
                position += 1
                return (attributes, false)
            }
            if bytes[position] == UInt8(ascii: "/") {
                guard position + 1 < n, bytes[position + 1] == UInt8(ascii: ">") else {
                    throw fail(tagStart, "malformed start tag <\(name)")
                }
                position += 2
                return (attributes, true)
            }
            guard position > before else { throw fail(tagStart, "malformed start tag <\(name)") }
            let attribute = intern(try readName()).name
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
            // A value without references is made straight from the input.
            let end = next(quote, from: position)
            if end < n, !bytes[position..<end].contains(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") }) {
                attributes.append(.init(name: attribute, value: TextBytes.text(bytes[position..<end])))
                position = end + 1
                continue
            }
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
            position += 1
            attributes.append(.init(name: attribute, value: String(decoding: value, as: UTF8.self)))
        }
    }

    /// An element or attribute name (ASCII letters, digits, `_ - . :`; non-ASCII allowed):
    /// where its bytes are.
    private mutating func readName() throws(XMLSyntaxError) -> Range<Int> {
        let from = position
        let n = bytes.count
        while position < n {
            let b = bytes[position]
            let ok = Self.nameBytes[Int(b)] || (position > from && (b == UInt8(ascii: "-") || b == UInt8(ascii: ".")))
            if !ok { break }
            position += 1
        }
        guard position < n else { throw fail(from, "end of file inside a tag: file truncated?") }
        guard position > from, !TextBytes.isDigit(bytes[from]) else {
            throw fail(from, "expected an element name")
        }
        return from..<position
    }

    /// Bytes a name may hold anywhere: ASCII letters, digits, `_`, `:` and non-ASCII.
    private static let nameBytes: [Bool] = (0...255).map { b in
        TextBytes.isNameByte(UInt8(b)) || b >= 0x80 || b == Int(UInt8(ascii: ":"))
    }

    /// The name in `range`, made once per distinct name.
    private mutating func intern(_ range: Range<Int>) -> Name {
        // Length, first and last eight bytes: names differ there (prefixes, band numbers).
        let hash = bytes.withUnsafeBufferPointer { b -> UInt64 in
            let base = UnsafeRawPointer(b.baseAddress! + range.lowerBound)
            guard range.count >= 8 else {
                var v = UInt64(range.count)
                for i in 0..<range.count { v = v << 8 | UInt64(base.load(fromByteOffset: i, as: UInt8.self)) }
                return v
            }
            let first = base.loadUnaligned(as: UInt64.self)
            let last = base.loadUnaligned(fromByteOffset: range.count - 8, as: UInt64.self)
            return (first &* 0x9E37_79B9_7F4A_7C15) ^ (last &+ UInt64(range.count)) &* 0xC2B2_AE3D_27D4_EB4F
        }
        let slot = Int(truncatingIfNeeded: ((hash ^ (hash >> 29)) &* 0x9E37_79B9_7F4A_7C15) >> 54)  // 10 bits
        if let known = names[slot],
            bytes.withUnsafeBufferPointer({ known.name.utf8Equals(UnsafeBufferPointer(rebasing: $0[range])) })
        {
            return known
        }
        let name = TextBytes.text(bytes[range])
        let local = Self.localName(name)
        let interned = Name(name: name, local: local, skipped: !skipping.isEmpty && skipping.contains(Substring(local)))
        names[slot] = interned
        return interned
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

    private func line(_ offset: Int) -> Int { TextBytes.line(of: offset, in: bytes) }

    private func fail(_ offset: Int?, _ detail: String) -> XMLSyntaxError {
        XMLSyntaxError(offset: offset, detail: detail)
    }
}
