import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// A Landsat MTL metadata file, whatever its encoding: groups of `KEY = value` pairs (quotes
/// removed, whitespace trimmed). USGS ships the same MTL as ODL text, JSON and XML; reading
/// all three into this one shape makes them yield the same record.
///
/// Held flat: the input bytes and one array of entries whose keys and values are byte
/// ranges of the input, sorted by group and key hash. An MTL has ~250 keys and a reader
/// looks at ~60, so no string is made until a value is asked for.
///
/// A key belongs to the innermost group around it. The outermost group
/// (`LANDSAT_METADATA_FILE`) is `rootName`; it holds no keys in a Collection 2 MTL.
public struct MTLDocument: Sendable {
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
    private let table: MTLTable

    /// Parses MTL bytes in any encoding: `{` starts JSON, `<` starts XML, anything else is ODL
    /// (the file name is not trusted). Throws on invalid UTF-8 and on malformed structure, with
    /// the line where it was found.
    public init(parsing bytes: [UInt8]) throws(NormalizeError) {
        let start = TextBytes.afterBOM(bytes)
        var first = start
        while first < bytes.count, MTLBytes.isSpace(bytes[first]) { first += 1 }
        guard first < bytes.count else { throw NormalizeError("MTL is empty") }
        guard bytes.count < Int32.max else { throw NormalizeError("MTL over 2 GiB") }
        let encoding: Encoding
        switch bytes[first] {
        case UInt8(ascii: "{"): encoding = .json
        case UInt8(ascii: "<"): encoding = .xml
        default: encoding = .odl
        }
        if let bad = TextBytes.firstInvalidText(bytes, from: start) {
            throw MTLBytes.malformed(encoding, bytes, at: bad.offset, bad.reason)
        }
        var table = MTLTable(bytes: bytes)
        switch encoding {
        case .odl: try ODLParser(bytes: bytes, start: first).parse(into: &table)
        case .json:
            try JSONTreeParser.parse(bytes, from: first, into: &table)
        case .xml:
            var parser = XMLTreeParser(bytes: bytes, position: first)
            try parser.parse(into: &table)
        }
        guard let root = table.groupNames.first else {
            throw MTLBytes.malformed(encoding, bytes, at: nil, "no group found")
        }
        if let duplicate = table.sortFindingDuplicate() {
            let key = table.string(duplicate.key)
            let group = table.groupNames[Int(duplicate.group)]
            let detail: String
            switch encoding {
            case .odl: detail = "\(key) given twice in GROUP = \(group)"
            case .json: detail = "\"\(key)\" given twice in \"\(group)\""
            case .xml: detail = "<\(key)> given twice in <\(group)>"
            }
            throw MTLBytes.malformed(encoding, bytes, at: Int(duplicate.offset), detail)
        }
        self.encoding = encoding
        self.rootName = root
        self.table = table
    }

    /// The value of `key` in `group`, or nil when either is absent.
    public subscript(group: String, key: String) -> String? {
        guard let g = table.groupNames.firstIndex(of: group), let entry = table.entry(group: g, key: key) else {
            return nil
        }
        return table.string(entry.value)
    }

    /// The keys and values of `group` in the order the file gives them.
    public func values(in group: String) -> [(key: String, value: String)] {
        guard let g = table.groupNames.firstIndex(of: group) else { return [] }
        return table.entries[table.range(of: g)].sorted { $0.offset < $1.offset }.map {
            (table.string($0.key), table.string($0.value))
        }
    }

    /// Every group that holds values: group name → key → value (for comparing documents).
    public var groups: [String: [String: String]] {
        var result: [String: [String: String]] = [:]
        for (g, name) in table.groupNames.enumerated() {
            let range = table.range(of: g)
            guard !range.isEmpty else { continue }
            result[name] = Dictionary(
                uniqueKeysWithValues: table.entries[range].map { (table.string($0.key), table.string($0.value)) }
            )
        }
        return result
    }
}

// MARK: - Shared pieces

/// The entries of a document under construction, then (sorted) its lookup table. Parsers
/// add keys and values as ranges of the input; what needed unescaping is kept as a string.
private struct MTLTable: Sendable {
    /// A key or value: `bytes[start..<end]`, or, when `start` is negative, `decoded[-start - 1]`.
    package struct Span: Sendable {
        package var start: Int32
        package var end: Int32
    }

    package struct Entry: Sendable {
        package var group: Int32
        package var hash: UInt32
        package var key: Span
        package var value: Span
        /// Where the key was written, for error messages.
        package var offset: Int32
    }

    package let bytes: [UInt8]
    package var decoded: [String] = []
    /// Group names in the order first opened; the first is the root.
    package var groupNames: [String] = []
    package var entries: [Entry] = []
    /// After sorting: group g's entries are `entries[groupStarts[g]..<groupStarts[g + 1]]`.
    package var groupStarts: [Int] = []

    package init(bytes: [UInt8]) {
        self.bytes = bytes
        entries.reserveCapacity(320)
    }

    /// The index of a group, added when first seen (a same-named group later adds to it).
    package mutating func group(named name: String) -> Int32 {
        if let g = groupNames.lastIndex(of: name) { return Int32(g) }
        groupNames.append(name)
        return Int32(groupNames.count - 1)
    }

    package func span(_ range: Range<Int>) -> Span {
        Span(start: Int32(range.lowerBound), end: Int32(range.upperBound))
    }

    package mutating func span(decoded text: String) -> Span {
        decoded.append(text)
        return Span(start: -Int32(decoded.count), end: 0)
    }

    package mutating func add(group: Int32, key: Span, value: Span, offset: Int) {
        entries.append(Entry(group: group, hash: hash(key), key: key, value: value, offset: Int32(offset)))
    }

    package func string(_ span: Span) -> String {
        span.start < 0 ? decoded[Int(-span.start - 1)] : TextBytes.text(bytes[Int(span.start)..<Int(span.end)])
    }

    package func range(of group: Int) -> Range<Int> { groupStarts[group]..<groupStarts[group + 1] }

    /// FNV-1a over the key's bytes.
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    private func hash(_ span: Span) -> UInt32 { withBytes(span) { Self.hash($0) } }

    private func withBytes<R>(_ span: Span, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if span.start < 0 {
            var text = decoded[Int(-span.start - 1)]
            return text.withUTF8(body)
        }
        return bytes.withUnsafeBufferPointer {
            body(UnsafeBufferPointer(rebasing: $0[Int(span.start)..<Int(span.end)]))
        }
    }

    private func equal(_ a: Span, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        withBytes(a) { $0.count == b.count && ($0.isEmpty || memcmp($0.baseAddress!, b.baseAddress!, b.count) == 0) }
    }

    /// Sorts the entries by group, key hash and position and fills `groupStarts`; returns the
    /// second of the first pair of entries with the same group and key, if there is one.
    package mutating func sortFindingDuplicate() -> Entry? {
        entries.sort { ($0.group, $0.hash, $0.offset) < ($1.group, $1.hash, $1.offset) }
        groupStarts = Array(repeating: entries.count, count: groupNames.count + 1)
        var duplicate: Entry?
        var i = entries.count - 1
        while i >= 0 {
            let e = entries[i]
            groupStarts[Int(e.group)] = i
            // Entries with equal hashes sit together: compare each with those after it.
            var j = i + 1
            while j < entries.count, entries[j].group == e.group, entries[j].hash == e.hash {
                if withBytes(entries[j].key, { equal(e.key, $0) }),
                    duplicate.map({ entries[j].offset < $0.offset }) ?? true
                {
                    duplicate = entries[j]
                }
                j += 1
            }
            i -= 1
        }
        // A group without entries starts where the next one does.
        for g in stride(from: groupNames.count - 1, through: 0, by: -1) where groupStarts[g] > groupStarts[g + 1] {
            groupStarts[g] = groupStarts[g + 1]
        }
        return duplicate
    }

    /// The entry for `key` in group `g` (a binary search for the hash, then the bytes).
    package func entry(group g: Int, key: String) -> Entry? {
        var key = key
        return key.withUTF8 { k -> Entry? in
            let h = Self.hash(k)
            var low = groupStarts[g]
            var high = groupStarts[g + 1]
            while low < high {
                let mid = (low + high) / 2
                if entries[mid].hash < h { low = mid + 1 } else { high = mid }
            }
            while low < groupStarts[g + 1], entries[low].hash == h {
                if equal(entries[low].key, k) { return entries[low] }
                low += 1
            }
            return nil
        }
    }
}

/// Byte-level helpers shared by the three parsers (the generic ones live in `TextBytes`).
private enum MTLBytes {
    package static func isSpace(_ b: UInt8) -> Bool { TextBytes.isSpace(b) }
    package static func isNameByte(_ b: UInt8) -> Bool { TextBytes.isNameByte(b) }
    package static func line(of offset: Int, in bytes: [UInt8]) -> Int { TextBytes.line(of: offset, in: bytes) }
    package static func text(_ bytes: ArraySlice<UInt8>) -> String { TextBytes.text(bytes) }
    package static func trimmed(_ bytes: [UInt8], _ from: Int, _ to: Int) -> Range<Int> {
        TextBytes.trimmed(bytes, from, to)
    }
    package static func trimmed(_ text: String) -> String { TextBytes.trimmed(text) }

    /// The error for a malformed file, with the line of `offset` when there is one.
    package static func malformed(
        _ encoding: MTLDocument.Encoding,
        _ bytes: [UInt8],
        at offset: Int?,
        _ detail: String
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
    package let bytes: [UInt8]
    package let start: Int

    package func parse(into table: inout MTLTable) throws(NormalizeError) {
        try bytes.withUnsafeBufferPointer { (p) throws(NormalizeError) in try parse(p, into: &table) }
    }

    /// The line loop, on a pointer to the bytes: every byte of the file passes through it.
    private func parse(_ p: UnsafeBufferPointer<UInt8>, into table: inout MTLTable) throws(NormalizeError) {
        func trimmed(_ from: Int, _ to: Int) -> Range<Int> {
            var a = from
            var b = to
            while a < b, MTLBytes.isSpace(p[a]) { a += 1 }
            while b > a, MTLBytes.isSpace(p[b - 1]) { b -= 1 }
            return a..<b
        }
        func find(_ byte: UInt8, _ from: Int, _ to: Int) -> Int? {
            guard from < to, let hit = memchr(p.baseAddress! + from, Int32(byte), to - from) else { return nil }
            return p.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
        func equal(_ range: Range<Int>, _ word: StaticString) -> Bool {
            range.count == word.utf8CodeUnitCount
                && memcmp(p.baseAddress! + range.lowerBound, word.utf8Start, range.count) == 0
        }
        var open: [(name: String, group: Int32, offset: Int)] = []
        var ended = false
        var pos = start
        let n = bytes.count
        while pos < n {
            let end = find(0x0A, pos, n) ?? n
            let lineStart = pos
            let range = trimmed(pos, end)
            pos = end + 1
            if range.isEmpty { continue }
            if ended { throw fail(lineStart, "content after END") }
            if p[range.lowerBound] == UInt8(ascii: "/"), range.count >= 2,
                p[range.lowerBound + 1] == UInt8(ascii: "*")
            {
                guard range.count >= 4, p[range.upperBound - 2] == UInt8(ascii: "*"),
                    p[range.upperBound - 1] == UInt8(ascii: "/")
                else { throw fail(lineStart, "unterminated comment") }
                continue
            }
            guard let eq = find(UInt8(ascii: "="), range.lowerBound, range.upperBound) else {
                if equal(range, "END") {
                    if let top = open.last {
                        throw fail(lineStart, "END while GROUP = \(top.name) (line \(line(top.offset))) is open")
                    }
                    ended = true
                    continue
                }
                throw fail(lineStart, "expected KEY = value, found '\(MTLBytes.text(bytes[range]).prefix(60))'")
            }
            let keyRange = trimmed(range.lowerBound, eq)
            let valueRange = trimmed(eq + 1, range.upperBound)
            guard !keyRange.isEmpty, p[keyRange].allSatisfy(MTLBytes.isNameByte) else {
                throw fail(lineStart, "invalid key '\(MTLBytes.text(bytes[keyRange]).prefix(60))'")
            }
            if equal(keyRange, "GROUP") || equal(keyRange, "OBJECT") {
                let name = MTLBytes.text(bytes[valueRange])
                guard !name.isEmpty, bytes[valueRange].allSatisfy(MTLBytes.isNameByte) else {
                    throw fail(lineStart, "invalid group name '\(name.prefix(60))'")
                }
                open.append((name, table.group(named: name), lineStart))
            } else if equal(keyRange, "END_GROUP") || equal(keyRange, "END_OBJECT") {
                let keyword = MTLBytes.text(bytes[keyRange])
                let name = MTLBytes.text(bytes[valueRange])
                guard let top = open.popLast() else {
                    throw fail(lineStart, "\(keyword) = \(name) without an open GROUP")
                }
                guard name.isEmpty || name == top.name else {
                    throw fail(
                        lineStart,
                        "\(keyword) = \(name) does not close GROUP = \(top.name) (line \(line(top.offset)))"
                    )
                }
            } else {
                guard let top = open.last else {
                    throw fail(lineStart, "\(MTLBytes.text(bytes[keyRange])) outside of any GROUP")
                }
                let value = try self.value(valueRange, key: keyRange, lineStart: lineStart)
                table.add(group: top.group, key: table.span(keyRange), value: table.span(value), offset: lineStart)
            }
        }
        if let top = open.last {
            throw fail(
                max(start, bytes.count - 1),
                "GROUP = \(top.name) (line \(line(top.offset))) is not closed: END_GROUP missing, file truncated?"
            )
        }
    }

    /// A bare value as written, or what is between the quotes of a quoted one.
    private func value(_ range: Range<Int>, key: Range<Int>, lineStart: Int) throws(NormalizeError) -> Range<Int> {
        guard !range.isEmpty else { throw fail(lineStart, "\(MTLBytes.text(bytes[key])) has no value") }
        let quote = UInt8(ascii: "\"")
        guard bytes[range.lowerBound] == quote else { return range }
        guard range.count >= 2, bytes[range.upperBound - 1] == quote else {
            throw fail(lineStart, "unterminated string in \(MTLBytes.text(bytes[key]))")
        }
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        guard !bytes[inner].contains(quote) else {
            throw fail(lineStart, "stray quote in \(MTLBytes.text(bytes[key]))")
        }
        return inner
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
    package let bytes: [UInt8]
    package var position: Int

    package mutating func parse(into table: inout MTLTable) throws(NormalizeError) {
        let root: MarkupElement
        do {
            root = try XMLReader.parse(bytes, from: position)
        } catch {
            throw fail(error.offset, error.detail)
        }
        guard !root.isLeaf else {
            throw fail(root.offset, "root element <\(root.name)> has no child elements")
        }
        try group(root, into: &table)
    }

    /// Files a group's leaf children as its values and reads its nested groups. The
    /// document's ranges are ranges of these same bytes, so they become spans as they are.
    private func group(_ element: MarkupElement, into table: inout MTLTable) throws(NormalizeError) {
        if element.hasText { throw fail(element.offset, "<\(element.name)> mixes text and child elements") }
        let group = table.group(named: element.name)
        let document = element.document
        try element.forEachChild { (child) throws(NormalizeError) in
            guard child.isLeaf else { return try self.group(child, into: &table) }
            let node = document.nodes[child.index]
            let value =
                node.decodedText >= 0
                ? table.span(decoded: document.decoded[Int(node.decodedText)])
                : table.span(node.text)
            table.add(group: group, key: table.span(node.name), value: value, offset: node.offset)
        }
    }

    private func fail(_ offset: Int?, _ detail: String) -> NormalizeError {
        MTLBytes.malformed(.xml, bytes, at: offset, detail)
    }
}

// MARK: - JSON

/// Reads the JSON form, keeping it to the MTL's shape: objects are groups, strings (and bare
/// numbers, kept as written) are values. Arrays, booleans and null have no place in an MTL.
/// The lexing (blanks, strings and their escapes, numbers by RFC 8259) is `JSONValue`'s
/// parser; this keeps the MTL's structure, its positions (for lines in errors and a group
/// given twice) and values as ranges of the input while they need no decoding.
private struct JSONTreeParser {
    var lexer: JSONParser
    let bytes: [UInt8]

    private static let maxDepth = 16

    static func parse(_ bytes: [UInt8], from start: Int, into table: inout MTLTable) throws(NormalizeError) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(NormalizeError) in
            var parser = JSONTreeParser(lexer: JSONParser(bytes: buffer), bytes: bytes)
            parser.lexer.i = start
            try parser.document(into: &table)
        }
    }

    private mutating func document(into table: inout MTLTable) throws(NormalizeError) {
        try expect(UInt8(ascii: "{"))
        try members(&table) {
            (parser: inout JSONTreeParser, table: inout MTLTable, key, keyOffset) throws(NormalizeError) in
            let name = table.string(key)
            guard parser.peek() == UInt8(ascii: "{") else {
                throw parser.fail(keyOffset, "\"\(name)\" outside of any group")
            }
            try parser.group(named: name, depth: 1, into: &table)
        }
        lexer.skipSpace()
        guard lexer.i == bytes.count else { throw fail(lexer.i, "content after the top-level object") }
    }

    /// Reads an object whose members are values of `name` or nested groups.
    private mutating func group(named name: String, depth: Int, into table: inout MTLTable) throws(NormalizeError) {
        guard depth <= Self.maxDepth else { throw fail(lexer.i, "groups nested too deeply") }
        let group = table.group(named: name)
        try expect(UInt8(ascii: "{"))
        try members(&table) {
            (parser: inout JSONTreeParser, table: inout MTLTable, key, keyOffset) throws(NormalizeError) in
            switch parser.peek() {
            case UInt8(ascii: "{"):
                try parser.group(named: table.string(key), depth: depth + 1, into: &table)
            case UInt8(ascii: "\""):
                let value = try parser.string(trimmed: true, into: &table)
                table.add(group: group, key: key, value: value, offset: keyOffset)
            case let b? where b == UInt8(ascii: "-") || (b >= 0x30 && b <= 0x39):
                let start = parser.lexer.i
                _ = try parser.lexed { (lexer) throws(JSONParseError) in try lexer.scanNumber() }
                table.add(group: group, key: key, value: table.span(start..<parser.lexer.i), offset: keyOffset)
            default:
                throw parser.fail(parser.lexer.i, "\"\(table.string(key))\" must be a string or a group")
            }
        }
    }

    /// Calls `body` for each `"key": value` of the object whose `{` was just read, with the
    /// parser positioned at the value; consumes the closing `}`.
    private mutating func members(
        _ table: inout MTLTable,
        _ body: (inout JSONTreeParser, inout MTLTable, MTLTable.Span, Int) throws(NormalizeError) -> Void
    ) throws(NormalizeError) {
        lexer.skipSpace()
        if peek() == UInt8(ascii: "}") {
            lexer.i += 1
            return
        }
        while true {
            lexer.skipSpace()
            let keyOffset = lexer.i
            guard peek() == UInt8(ascii: "\"") else { throw fail(lexer.i, "expected a member name") }
            let key = try string(trimmed: false, into: &table)
            try expect(UInt8(ascii: ":"))
            lexer.skipSpace()
            try body(&self, &table, key, keyOffset)
            lexer.skipSpace()
            switch peek() {
            case UInt8(ascii: ","): lexer.i += 1
            case UInt8(ascii: "}"):
                lexer.i += 1
                return
            case nil: throw fail(lexer.i, "end of file inside an object: file truncated?")
            default: throw fail(lexer.i, "expected ',' or '}'")
            }
        }
    }

    /// A string's contents: a range of the input while it has no escapes (the usual case),
    /// else decoded; `trimmed` drops blanks at either end, as values are kept.
    private mutating func string(trimmed: Bool, into table: inout MTLTable) throws(NormalizeError) -> MTLTable.Span {
        if let raw = lexer.plainString() {
            return table.span(trimmed ? MTLBytes.trimmed(bytes, raw.lowerBound, raw.upperBound) : raw)
        }
        let text = try lexed { (lexer) throws(JSONParseError) in try lexer.string() }
        return table.span(decoded: trimmed ? MTLBytes.trimmed(text) : text)
    }

    /// Runs the lexer, its errors made the MTL's (with the line).
    private mutating func lexed<T>(_ body: (inout JSONParser) throws(JSONParseError) -> T) throws(NormalizeError) -> T {
        do {
            return try body(&lexer)
        } catch {
            throw fail(error.offset, error.reason)
        }
    }

    private func peek() -> UInt8? { lexer.i < bytes.count ? bytes[lexer.i] : nil }

    private mutating func expect(_ b: UInt8) throws(NormalizeError) {
        lexer.skipSpace()
        guard lexer.i < bytes.count else { throw fail(lexer.i, "end of file: file truncated?") }
        guard bytes[lexer.i] == b else {
            throw fail(lexer.i, "expected '\(Character(Unicode.Scalar(b)))'")
        }
        lexer.i += 1
    }

    package func fail(_ offset: Int, _ detail: String) -> NormalizeError {
        MTLBytes.malformed(.json, bytes, at: offset, detail)
    }
}
