import Foundation

/// A Landsat MTL metadata file read into one tree, whatever its encoding: group name → key →
/// value as text (quotes removed, whitespace trimmed). USGS ships the same MTL as ODL text,
/// JSON and XML; reading all three into this one shape makes them yield the same record.
///
/// A key belongs to the innermost group around it. The outermost group
/// (`LANDSAT_METADATA_FILE`) is `rootName`; it holds no keys in a Collection 2 MTL.
public struct MTLDocument: Sendable, Hashable {
    /// The three encodings of an MTL.
    public enum Encoding: String, Sendable, Hashable {
        /// `GROUP = X` / `KEY = value` / `END_GROUP = X` / `END` text (`_MTL.txt`).
        case odl
        /// `{"LANDSAT_METADATA_FILE": {"GROUP": {"KEY": "value"}}}` (`_MTL.json`).
        case json
        /// `<LANDSAT_METADATA_FILE><GROUP><KEY>value</KEY>…` (`_MTL.xml`).
        case xml
    }

    /// The encoding the bytes were in, detected from their first non-blank byte.
    public let encoding: Encoding
    /// The outermost group or element (`LANDSAT_METADATA_FILE` for Collection 2).
    public let rootName: String
    /// Group name → key → value.
    public let groups: [String: [String: String]]

    /// Parses MTL bytes in any encoding: `{` starts JSON, `<` starts XML, anything else is ODL
    /// (the file name is not trusted). Throws on invalid UTF-8 and on malformed structure, with
    /// the line where it was found.
    public init(parsing bytes: [UInt8]) throws(NormalizeError) {
        let start = TextBytes.afterBOM(bytes)
        var first = start
        while first < bytes.count, MTLBytes.isSpace(bytes[first]) { first += 1 }
        guard first < bytes.count else { throw NormalizeError("MTL is empty") }
        let encoding: Encoding
        switch bytes[first] {
        case UInt8(ascii: "{"): encoding = .json
        case UInt8(ascii: "<"): encoding = .xml
        default: encoding = .odl
        }
        if let bad = TextBytes.firstInvalidText(bytes, from: start) {
            throw MTLBytes.malformed(encoding, bytes, at: bad.offset, bad.reason)
        }
        var tree = MTLTree()
        switch encoding {
        case .odl: try ODLParser(bytes: bytes, start: first).parse(into: &tree)
        case .json:
            var parser = JSONTreeParser(bytes: bytes, position: first)
            try parser.parse(into: &tree)
        case .xml:
            var parser = XMLTreeParser(bytes: bytes, position: first)
            try parser.parse(into: &tree)
        }
        guard let root = tree.root else {
            throw MTLBytes.malformed(encoding, bytes, at: nil, "no group found")
        }
        self.encoding = encoding
        self.rootName = root
        self.groups = tree.groups
    }

    /// The value of `key` in `group`, or nil when either is absent.
    public subscript(group: String, key: String) -> String? { groups[group]?[key] }
}

// MARK: - Shared pieces

/// The tree under construction. Parsers collect a group's values themselves (one hash per
/// key) and file them here when the group closes.
private struct MTLTree {
    var root: String?
    var groups: [String: [String: String]] = [:]

    mutating func openGroup(_ name: String) {
        if root == nil { root = name }
    }

    /// Files the values of a closed group; returns a key that an earlier group of the same
    /// name already gave, if any.
    mutating func close(group name: String, values: [String: String]) -> String? {
        guard !values.isEmpty else { return nil }
        guard var existing = groups[name] else {
            groups[name] = values
            return nil
        }
        for (key, value) in values where existing.updateValue(value, forKey: key) != nil { return key }
        groups[name] = existing
        return nil
    }
}

/// Byte-level helpers shared by the three parsers (the generic ones live in `TextBytes`).
private enum MTLBytes {
    static func isSpace(_ b: UInt8) -> Bool { TextBytes.isSpace(b) }
    static func isNameByte(_ b: UInt8) -> Bool { TextBytes.isNameByte(b) }
    static func line(of offset: Int, in bytes: [UInt8]) -> Int { TextBytes.line(of: offset, in: bytes) }
    static func text(_ bytes: ArraySlice<UInt8>) -> String { TextBytes.text(bytes) }
    static func trimmed(_ bytes: [UInt8], _ from: Int, _ to: Int) -> Range<Int> { TextBytes.trimmed(bytes, from, to) }
    static func trimmed(_ text: String) -> String { TextBytes.trimmed(text) }

    /// The error for a malformed file, with the line of `offset` when there is one.
    static func malformed(
        _ encoding: MTLDocument.Encoding, _ bytes: [UInt8], at offset: Int?, _ detail: String
    ) -> NormalizeError {
        let name: String
        switch encoding {
        case .odl: name = "ODL"
        case .json: name = "JSON"
        case .xml: name = "XML"
        }
        guard let offset else { return NormalizeError("malformed MTL (\(name)): \(detail)") }
        return NormalizeError("malformed MTL (\(name)), line \(line(of: offset, in: bytes)): \(detail)")
    }
}

// MARK: - ODL

/// Reads the ODL (PVL) text form line by line: `GROUP`/`OBJECT` open a group, `END_GROUP`/
/// `END_OBJECT` close the one named (or the innermost), `END` ends the file, `/* … */` lines
/// are comments, and every other line is `KEY = value` with a quoted or bare value.
private struct ODLParser {
    let bytes: [UInt8]
    let start: Int

    func parse(into tree: inout MTLTree) throws(NormalizeError) {
        var open: [(name: String, offset: Int, values: [String: String])] = []
        var ended = false
        var pos = start
        let n = bytes.count
        while pos < n {
            var end = pos
            while end < n, bytes[end] != 0x0A { end += 1 }
            let lineStart = pos
            let range = MTLBytes.trimmed(bytes, pos, end)
            pos = end + 1
            if range.isEmpty { continue }
            if ended { throw fail(lineStart, "content after END") }
            if bytes[range.lowerBound] == UInt8(ascii: "/"), range.count >= 2,
                bytes[range.lowerBound + 1] == UInt8(ascii: "*")
            {
                guard range.count >= 4, bytes[range.upperBound - 2] == UInt8(ascii: "*"),
                    bytes[range.upperBound - 1] == UInt8(ascii: "/")
                else { throw fail(lineStart, "unterminated comment") }
                continue
            }
            guard let eq = bytes[range].firstIndex(of: UInt8(ascii: "=")) else {
                let word = MTLBytes.text(bytes[range])
                if word == "END" {
                    if let top = open.last {
                        throw fail(lineStart, "END while GROUP = \(top.name) (line \(line(top.offset))) is open")
                    }
                    ended = true
                    continue
                }
                throw fail(lineStart, "expected KEY = value, found '\(word.prefix(60))'")
            }
            let keyRange = MTLBytes.trimmed(bytes, range.lowerBound, eq)
            let valueRange = MTLBytes.trimmed(bytes, eq + 1, range.upperBound)
            guard !keyRange.isEmpty, bytes[keyRange].allSatisfy(MTLBytes.isNameByte) else {
                throw fail(lineStart, "invalid key '\(MTLBytes.text(bytes[keyRange]).prefix(60))'")
            }
            let key = MTLBytes.text(bytes[keyRange])
            // Only GROUP, OBJECT, END_GROUP and END_OBJECT start with G, O or E.
            let first = bytes[keyRange.lowerBound]
            let keyword = first == UInt8(ascii: "G") || first == UInt8(ascii: "O") || first == UInt8(ascii: "E")
            switch keyword ? key : "" {
            case "GROUP", "OBJECT":
                let name = MTLBytes.text(bytes[valueRange])
                guard !name.isEmpty, bytes[valueRange].allSatisfy(MTLBytes.isNameByte) else {
                    throw fail(lineStart, "invalid group name '\(name.prefix(60))'")
                }
                tree.openGroup(name)
                // Collection 2 groups hold up to ~60 keys: sized once, not regrown four times.
                open.append((name, lineStart, Dictionary(minimumCapacity: 64)))
            case "END_GROUP", "END_OBJECT":
                let name = MTLBytes.text(bytes[valueRange])
                guard let top = open.popLast() else {
                    throw fail(lineStart, "\(key) = \(name) without an open GROUP")
                }
                guard name.isEmpty || name == top.name else {
                    throw fail(
                        lineStart, "\(key) = \(name) does not close GROUP = \(top.name) (line \(line(top.offset)))")
                }
                if let duplicate = tree.close(group: top.name, values: top.values) {
                    throw fail(lineStart, "\(duplicate) given twice in GROUP = \(top.name)")
                }
            default:
                guard !open.isEmpty else { throw fail(lineStart, "\(key) outside of any GROUP") }
                let value = try self.value(valueRange, key: key, lineStart: lineStart)
                guard open[open.count - 1].values.updateValue(value, forKey: key) == nil else {
                    throw fail(lineStart, "\(key) given twice in GROUP = \(open[open.count - 1].name)")
                }
            }
        }
        if let top = open.last {
            throw fail(
                max(start, bytes.count - 1),
                "GROUP = \(top.name) (line \(line(top.offset))) is not closed: END_GROUP missing, file truncated?"
            )
        }
    }

    /// A bare value as written, or the text between the quotes of a quoted one.
    private func value(_ range: Range<Int>, key: String, lineStart: Int) throws(NormalizeError) -> String {
        guard !range.isEmpty else { throw fail(lineStart, "\(key) has no value") }
        let quote = UInt8(ascii: "\"")
        guard bytes[range.lowerBound] == quote else { return MTLBytes.text(bytes[range]) }
        guard range.count >= 2, bytes[range.upperBound - 1] == quote else {
            throw fail(lineStart, "unterminated string in \(key)")
        }
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        guard !bytes[inner].contains(quote) else { throw fail(lineStart, "stray quote in \(key)") }
        return MTLBytes.text(bytes[inner])
    }

    private func line(_ offset: Int) -> Int { MTLBytes.line(of: offset, in: bytes) }

    private func fail(_ offset: Int, _ detail: String) -> NormalizeError {
        MTLBytes.malformed(.odl, bytes, at: offset, detail)
    }
}

// MARK: - XML

/// The XML form: the shared `XMLReader` builds the tree, and this maps it onto the MTL's
/// shape. An element with child elements is a group; one without is a key whose text is the
/// value. Attributes carry nothing in an MTL and are ignored.
private struct XMLTreeParser {
    let bytes: [UInt8]
    var position: Int

    mutating func parse(into tree: inout MTLTree) throws(NormalizeError) {
        let root: XMLElement
        do {
            root = try XMLReader.parse(bytes, from: position)
        } catch {
            throw fail(error.offset, error.detail)
        }
        tree.openGroup(root.name)
        guard !root.isLeaf else {
            throw fail(root.offset, "root element <\(root.name)> has no child elements")
        }
        try group(root, into: &tree)
    }

    /// Files a group's leaf children as its values, after its nested groups (as the stream
    /// parser did: inner groups close first).
    private func group(_ element: XMLElement, into tree: inout MTLTree) throws(NormalizeError) {
        if element.hasText { throw fail(element.offset, "<\(element.name)> mixes text and child elements") }
        var leaves = 0
        element.forEachChild { if $0.isLeaf { leaves += 1 } }
        var values: [String: String] = [:]
        values.reserveCapacity(leaves)
        try element.forEachChild { (child) throws(NormalizeError) in
            if child.isLeaf {
                guard values.updateValue(child.text, forKey: child.name) == nil else {
                    throw fail(child.offset, "<\(child.name)> given twice in <\(element.name)>")
                }
            } else {
                try group(child, into: &tree)
            }
        }
        if let duplicate = tree.close(group: element.name, values: values) {
            throw fail(element.offset, "<\(duplicate)> given twice in <\(element.name)>")
        }
    }

    private func fail(_ offset: Int?, _ detail: String) -> NormalizeError {
        MTLBytes.malformed(.xml, bytes, at: offset, detail)
    }
}

// MARK: - JSON

/// Reads the JSON form, keeping it to the MTL's shape: objects are groups, strings (and bare
/// numbers, kept as written) are values. Arrays, booleans and null have no place in an MTL.
private struct JSONTreeParser {
    let bytes: [UInt8]
    var position: Int

    private static let maxDepth = 16

    mutating func parse(into tree: inout MTLTree) throws(NormalizeError) {
        try expect(UInt8(ascii: "{"))
        try members { (parser: inout JSONTreeParser, key: String, keyOffset: Int) throws(NormalizeError) in
            guard parser.peek() == UInt8(ascii: "{") else {
                throw parser.fail(keyOffset, "\"\(key)\" outside of any group")
            }
            tree.openGroup(key)
            try parser.group(named: key, depth: 1, into: &tree)
        }
        skipSpaces()
        guard position == bytes.count else { throw fail(position, "content after the top-level object") }
    }

    /// Reads an object whose members are values of `name` or nested groups.
    private mutating func group(named name: String, depth: Int, into tree: inout MTLTree) throws(NormalizeError) {
        guard depth <= Self.maxDepth else { throw fail(position, "groups nested too deeply") }
        let start = position
        try expect(UInt8(ascii: "{"))
        var values: [String: String] = [:]
        try members { (parser: inout JSONTreeParser, key: String, keyOffset: Int) throws(NormalizeError) in
            switch parser.peek() {
            case UInt8(ascii: "{"):
                try parser.group(named: key, depth: depth + 1, into: &tree)
            case UInt8(ascii: "\""):
                let value = MTLBytes.trimmed(try parser.string())
                guard values.updateValue(value, forKey: key) == nil else {
                    throw parser.fail(keyOffset, "\"\(key)\" given twice in \"\(name)\"")
                }
            case let b? where b == UInt8(ascii: "-") || (b >= 0x30 && b <= 0x39):
                let value = try parser.number()
                guard values.updateValue(value, forKey: key) == nil else {
                    throw parser.fail(keyOffset, "\"\(key)\" given twice in \"\(name)\"")
                }
            default:
                throw parser.fail(parser.position, "\"\(key)\" must be a string or a group")
            }
        }
        if let duplicate = tree.close(group: name, values: values) {
            throw fail(start, "\"\(duplicate)\" given twice in \"\(name)\"")
        }
    }

    /// Calls `body` for each `"key": value` of the object whose `{` was just read, with the
    /// parser positioned at the value; consumes the closing `}`.
    private mutating func members(
        _ body: (inout JSONTreeParser, String, Int) throws(NormalizeError) -> Void
    ) throws(NormalizeError) {
        skipSpaces()
        if peek() == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            skipSpaces()
            let keyOffset = position
            guard peek() == UInt8(ascii: "\"") else { throw fail(position, "expected a member name") }
            let key = try string()
            try expect(UInt8(ascii: ":"))
            skipSpaces()
            try body(&self, key, keyOffset)
            skipSpaces()
            switch peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return
            case nil: throw fail(position, "end of file inside an object: file truncated?")
            default: throw fail(position, "expected ',' or '}'")
            }
        }
    }

    private mutating func string() throws(NormalizeError) -> String {
        let start = position
        position += 1
        var out: [UInt8] = []
        let n = bytes.count
        while position < n {
            let b = bytes[position]
            switch b {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard position + 1 < n else { throw fail(start, "unterminated string: file truncated?") }
                let e = bytes[position + 1]
                position += 2
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    let scalar = try unicodeEscape()
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw fail(position - 2, "invalid escape in string")
                }
            case 0..<0x20:
                throw fail(position, "control character in string")
            default:
                out.append(b)
                position += 1
            }
        }
        throw fail(start, "unterminated string: file truncated?")
    }

    /// The scalar of a `\uXXXX` escape (after the `u`), joining surrogate pairs.
    private mutating func unicodeEscape() throws(NormalizeError) -> Unicode.Scalar {
        let at = position - 2
        guard let high = hex4() else { throw fail(at, "invalid \\u escape") }
        if (0xD800...0xDBFF).contains(high) {
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                bytes[position + 1] == UInt8(ascii: "u")
            else { throw fail(at, "unpaired surrogate in \\u escape") }
            position += 2
            guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else {
                throw fail(at, "unpaired surrogate in \\u escape")
            }
            let value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            guard let scalar = Unicode.Scalar(value) else { throw fail(at, "invalid \\u escape") }
            return scalar
        }
        guard let scalar = Unicode.Scalar(high), high != 0 else { throw fail(at, "invalid \\u escape") }
        return scalar
    }

    private mutating func hex4() -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[position]
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x41...0x46: d = b - 0x41 + 10
            case 0x61...0x66: d = b - 0x61 + 10
            default: return nil
            }
            v = v << 4 | UInt32(d)
            position += 1
        }
        return v
    }

    /// A JSON number, returned as written.
    private mutating func number() throws(NormalizeError) -> String {
        let start = position
        let n = bytes.count
        func digits(_ p: inout Int) -> Int {
            let s = p
            while p < n, bytes[p] >= 0x30, bytes[p] <= 0x39 { p += 1 }
            return p - s
        }
        var p = position
        if bytes[p] == UInt8(ascii: "-") { p += 1 }
        guard digits(&p) > 0 else { throw fail(start, "invalid number") }
        if p < n, bytes[p] == UInt8(ascii: ".") {
            p += 1
            guard digits(&p) > 0 else { throw fail(start, "invalid number") }
        }
        if p < n, bytes[p] == UInt8(ascii: "e") || bytes[p] == UInt8(ascii: "E") {
            p += 1
            if p < n, bytes[p] == UInt8(ascii: "+") || bytes[p] == UInt8(ascii: "-") { p += 1 }
            guard digits(&p) > 0 else { throw fail(start, "invalid number") }
        }
        position = p
        return MTLBytes.text(bytes[start..<p])
    }

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipSpaces() {
        while position < bytes.count, MTLBytes.isSpace(bytes[position]) { position += 1 }
    }

    private mutating func expect(_ b: UInt8) throws(NormalizeError) {
        skipSpaces()
        guard position < bytes.count else { throw fail(position, "end of file: file truncated?") }
        guard bytes[position] == b else {
            throw fail(position, "expected '\(Character(Unicode.Scalar(b)))'")
        }
        position += 1
    }

    func fail(_ offset: Int, _ detail: String) -> NormalizeError {
        MTLBytes.malformed(.json, bytes, at: offset, detail)
    }
}
