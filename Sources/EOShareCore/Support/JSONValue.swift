import Foundation

/// A JSON value whose objects keep their key order, so published STAC reads the same on
/// every run (stable bytes, stable checksums) and diffs stay small.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case int(Int64)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var doubleValue: Double? {
        switch self {
        case .number(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }
}

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

/// An insertion-ordered JSON object. Members live in one array; small objects (most of a
/// STAC item's) are searched in place, and a name index is built only past a dozen keys,
/// so reading and building items costs one allocation per object, not three.
public struct JSONObject: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    public private(set) var entries: [(key: String, value: JSONValue)] = []
    private var index: [String: Int]?
    private static let indexedFrom = 12

    public init() {}
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        entries.reserveCapacity(elements.count)
        for (k, v) in elements { self[k] = v }
    }

    public var keys: [String] { entries.map(\.key) }
    public var isEmpty: Bool { entries.isEmpty }

    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        return entries.firstIndex { $0.key == key }
    }

    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { entries[$0].value } }
        set {
            if let newValue {
                if let i = position(of: key) {
                    entries[i].value = newValue
                } else {
                    entries.append((key, newValue))
                    if index != nil {
                        index![key] = entries.count - 1
                    } else if entries.count > Self.indexedFrom {
                        reindex()
                    }
                }
            } else if let i = position(of: key) {
                entries.remove(at: i)
                if index != nil { reindex() }
            }
        }
    }

    private mutating func reindex() {
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.key, $0) })
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for (k, v) in entries {
            hasher.combine(k)
            hasher.combine(v)
        }
    }
}

// MARK: - Serialization

extension JSONValue {
    /// Serialized UTF-8 bytes; `pretty` indents by two spaces, as STAC tools do.
    public func serialized(pretty: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(into: &out, pretty: pretty, indent: 0)
        if pretty { out.append(UInt8(ascii: "\n")) }
        return out
    }

    public func serializedString(pretty: Bool = false) -> String {
        String(decoding: serialized(pretty: pretty), as: UTF8.self)
    }

    private func write(into out: inout [UInt8], pretty: Bool, indent: Int) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .number(let d): out.append(contentsOf: JSONValue.format(d).utf8)
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .array(let a):
            if a.isEmpty {
                out.append(contentsOf: "[]".utf8)
                return
            }
            // Arrays of scalars (bbox, coordinates pairs) stay on one line.
            let inline = !pretty || a.allSatisfy(\.isScalar)
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if inline {
                    if pretty && i > 0 { out.append(UInt8(ascii: " ")) }
                } else {
                    JSONValue.newline(&out, indent + 1)
                }
                v.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            if !inline { JSONValue.newline(&out, indent) }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            if o.isEmpty {
                out.append(contentsOf: "{}".utf8)
                return
            }
            out.append(UInt8(ascii: "{"))
            for (i, (k, v)) in o.entries.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { JSONValue.newline(&out, indent + 1) }
                JSONValue.writeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                if pretty { out.append(UInt8(ascii: " ")) }
                v.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSONValue.newline(&out, indent) }
            out.append(UInt8(ascii: "}"))
        }
    }

    private var isScalar: Bool {
        switch self {
        case .array(let a): return a.allSatisfy { if case .array = $0 { return false } else { return $0.isScalar } }
        case .object: return false
        default: return true
        }
    }

    private static func newline(_ out: inout [UInt8], _ indent: Int) {
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * 2))
    }

    package static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return d.description
    }

    private static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape: copied in one piece.
        var s = s
        let plain = s.withUTF8 { u in
            guard u.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else {
                return false
            }
            out.append(contentsOf: u)
            return true
        }
        if plain {
            out.append(UInt8(ascii: "\""))
            return
        }
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case 0x0A: out.append(contentsOf: "\\n".utf8)
            case 0x0D: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 0xF)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

// MARK: - Parsing

/// Why JSON text could not be parsed, with the byte offset.
public struct JSONParseError: Error, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Parses JSON text (RFC 8259), keeping object key order. Rejects invalid UTF-8.
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONParseError) -> JSONValue in try parse(buffer) }
    }

    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue {
        var p = JSONParser(bytes: bytes)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw JSONParseError(offset: p.i, reason: "trailing characters") }
        return v
    }

    public static func parse(_ data: Data) throws(JSONParseError) -> JSONValue { try parse([UInt8](data)) }

    /// Parses a JSON object but builds only what `selection` names; the rest is checked
    /// for syntax and skipped. For readers that need a few members of many documents.
    public static func parse(
        _ bytes: UnsafeBufferPointer<UInt8>,
        selecting selection: JSONSelection
    ) throws(JSONParseError) -> JSONValue {
        var p = JSONParser(bytes: bytes)
        p.skipSpace()
        guard p.i < bytes.count, bytes[p.i] == UInt8(ascii: "{") else { throw p.fail("expected an object") }
        let v = try p.object(depth: 0, selection: selection)
        p.skipSpace()
        guard p.i == bytes.count else { throw JSONParseError(offset: p.i, reason: "trailing characters") }
        return v
    }
}

/// Which parts of a JSON object to build: everything, only some members (each with its
/// own selection), or every member with one selection (the assets of an item, say).
public indirect enum JSONSelection: Sendable {
    case all
    case only([(String, JSONSelection)])
    case each(JSONSelection)

    /// The named members, built whole.
    public static func members(_ names: String...) -> JSONSelection { .only(names.map { ($0, .all) }) }
}

/// A recursive-descent parser over borrowed bytes. Strings without escapes, and integers,
/// are made straight from the input (the common case in STAC items), without a scratch copy.
/// Its lexing (`skipSpace`, `plainString`, `string`, `scanNumber`) is also the Landsat MTL
/// reader's, which keeps its own structure: the project has one JSON lexer.
package struct JSONParser {
    package let bytes: UnsafeBufferPointer<UInt8>
    package var i = 0

    /// The deepest nesting of arrays and objects read: the parser recurses per level, and
    /// so do the readers and the serializer of what it builds. STAC and CMR nest a few deep.
    package static let maxDepth = 256

    package init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    package func fail(_ reason: String) -> JSONParseError { JSONParseError(offset: i, reason: reason) }

    package mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    package mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            return try object(depth: depth, selection: .all)
        case UInt8(ascii: "["):
            i += 1
            var arr: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
                return .array(arr)
            }
            while true {
                skipSpace()
                arr.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("unexpected end in array") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                } else if bytes[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(arr)
                } else {
                    throw fail("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default:
            return try number()
        }
    }

    /// An object; members the selection does not name are skipped rather than built (their
    /// names, when plain, are compared as bytes and never made into strings).
    package mutating func object(depth: Int, selection: JSONSelection) throws(JSONParseError) -> JSONValue {
        i += 1
        var obj = JSONObject()
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
            return .object(obj)
        }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
            var member: (key: String, selection: JSONSelection)?
            switch selection {
            case .all: member = (try string(), .all)
            case .each(let inner): member = (try string(), inner)
            case .only(let wanted):
                if let raw = plainString() {
                    let name = UnsafeBufferPointer(rebasing: bytes[raw])
                    // Checked as a full parse checks it, though only compared as bytes.
                    if name.contains(where: { $0 >= 0x80 }), String(validating: name, as: UTF8.self) == nil {
                        throw JSONParseError(offset: raw.lowerBound, reason: "invalid UTF-8 in string")
                    }
                    member = wanted.first { $0.0.utf8Equals(name) }
                } else {
                    let key = try string()
                    member = wanted.first { $0.0 == key }
                }
            }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipSpace()
            if let (key, inner) = member {
                if case .all = inner {
                    obj[key] = try value(depth: depth + 1)
                } else if i < bytes.count, bytes[i] == UInt8(ascii: "{") {
                    obj[key] = try object(depth: depth + 1, selection: inner)
                } else {
                    obj[key] = try value(depth: depth + 1)
                }
            } else {
                try skipValue(depth: depth + 1)
            }
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end in object") }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
            } else if bytes[i] == UInt8(ascii: "}") {
                i += 1
                return .object(obj)
            } else {
                throw fail("expected ',' or '}'")
            }
        }
    }

    /// At a `"`: the bytes of a string without escapes or control characters, moving past
    /// it; nil (and not moving) for any other string.
    package mutating func plainString() -> Range<Int>? {
        var j = i + 1
        while j < bytes.count {
            let c = bytes[j]
            if c == UInt8(ascii: "\"") {
                defer { i = j + 1 }
                return (i + 1)..<j
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { return nil }
            j += 1
        }
        return nil
    }

    /// Moves past one value, checking its syntax (not the UTF-8 inside skipped strings).
    package mutating func skipValue(depth: Int) throws(JSONParseError) {
        guard depth < Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = bytes[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = close == UInt8(ascii: "}")
            i += 1
            skipSpace()
            if i < bytes.count, bytes[i] == close {
                i += 1
                return
            }
            while true {
                skipSpace()
                if isObject {
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    try skipString()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                }
                try skipValue(depth: depth + 1)
                skipSpace()
                guard i < bytes.count else { throw fail("unexpected end") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                } else if bytes[i] == close {
                    i += 1
                    return
                } else {
                    throw fail(isObject ? "expected ',' or '}'" : "expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): _ = try literal("true", .null)
        case UInt8(ascii: "f"): _ = try literal("false", .null)
        case UInt8(ascii: "n"): _ = try literal("null", .null)
        default:
            // Checked for range as a full parse checks it: only an exponent or 309 digits can
            // leave a Double's range, so the common skipped coordinate is not converted.
            let start = i
            _ = try scanNumber()
            let text = UnsafeBufferPointer(rebasing: bytes[start..<i])
            if i - start > 308 || text.contains(where: { $0 | 0x20 == UInt8(ascii: "e") }) {
                guard let d = Double(String(decoding: text, as: UTF8.self)), d.isFinite else {
                    let shown = String(decoding: text.prefix(40), as: UTF8.self)
                    throw JSONParseError(offset: start, reason: "bad number '\(shown)'")
                }
            }
        }
    }

    /// Moves past a string, refusing exactly what `string()` refuses (escapes, surrogates,
    /// control characters, invalid UTF-8) without building it: a selective parse accepts the
    /// same documents as a full one.
    package mutating func skipString() throws(JSONParseError) {
        i += 1
        let start = i
        var ascii = true
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            if c >= 0x80 { ascii = false }
            if c == UInt8(ascii: "\"") {
                let run = UnsafeBufferPointer(rebasing: bytes[start..<(i - 1)])
                if !ascii, String(validating: run, as: UTF8.self) == nil {
                    throw fail("invalid UTF-8 in string")
                }
                return
            }
            if c == UInt8(ascii: "\\") {
                guard i < bytes.count else { break }
                switch bytes[i] {
                case UInt8(ascii: "u"):
                    i += 1
                    _ = try unicodeEscape()
                case UInt8(ascii: "n"), UInt8(ascii: "t"), UInt8(ascii: "r"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""):
                    i += 1
                default: throw fail("invalid escape in string")
                }
            } else if c < 0x20 {
                i -= 1
                throw fail("control character in string")
            }
        }
        throw fail("unterminated string: file truncated?")
    }

    package mutating func literal(_ word: StaticString, _ v: JSONValue) throws(JSONParseError) -> JSONValue {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count, memcmp(bytes.baseAddress! + i, word.utf8Start, n) == 0 else {
            throw fail("unexpected token")
        }
        i += n
        return v
    }

    /// Moves past a number as RFC 8259 §6 writes it: an optional minus, then `0` or a
    /// digit 1–9 and more digits, then optionally `.` and digits, then optionally `e`/`E`,
    /// a sign and digits. `01`, `+1`, `.5`, `1.` and `1.e5` are not numbers. Returns
    /// whether it is an integer (neither fraction nor exponent).
    package mutating func scanNumber() throws(JSONParseError) -> Bool {
        func isDigit(_ at: Int) -> Bool { at < bytes.count && bytes[at] >= 48 && bytes[at] <= 57 }
        let start = i
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { throw fail(i == start ? "unexpected character" : "digit expected after '-'") }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if isDigit(i) { throw fail("leading zero in a number") }
        } else {
            while isDigit(i) { i += 1 }
        }
        var isInt = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { throw fail("digit expected after '.'") }
            while isDigit(i) { i += 1 }
            isInt = false
        }
        if i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { throw fail("digit expected in exponent") }
            while isDigit(i) { i += 1 }
            isInt = false
        }
        return isInt
    }

    package mutating func number() throws(JSONParseError) -> JSONValue {
        let start = i
        let isInt = try scanNumber()
        if isInt, i - start <= 18 {
            var v: Int64 = 0
            var k = bytes[start] == UInt8(ascii: "-") ? start + 1 : start
            guard k < i else { throw fail("bad number") }
            while k < i {
                v = v * 10 + Int64(bytes[k] - 48)
                k += 1
            }
            return .int(bytes[start] == UInt8(ascii: "-") ? -v : v)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if isInt, let v = Int64(text) { return .int(v) }
        guard let d = Double(text), d.isFinite else {
            throw JSONParseError(offset: start, reason: "bad number '\(text)'")
        }
        return .number(d)
    }

    package mutating func string() throws(JSONParseError) -> String {
        i += 1  // opening quote
        // Fast path: no escapes. ASCII needs no validation; anything else is validated once.
        var j = i
        var ascii = true
        while j < bytes.count {
            let c = bytes[j]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 { break }
            if c >= 0x80 { ascii = false }
            j += 1
        }
        if j < bytes.count, bytes[j] == UInt8(ascii: "\"") {
            let run = UnsafeBufferPointer(rebasing: bytes[i..<j])
            let s: String
            if ascii {
                s = String(decoding: run, as: UTF8.self)
            } else {
                guard let valid = String(validating: run, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
                s = valid
            }
            i = j + 1
            return s
        }
        var out: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[i..<j]))
        i = j
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
                return s
            }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < bytes.count else { break }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(e)
                case UInt8(ascii: "u"):
                    out.append(contentsOf: Array(String(Character(try unicodeEscape())).utf8))
                default: throw fail("invalid escape in string")
                }
                continue
            }
            guard c >= 0x20 else { throw fail("control character in string") }
            out.append(c)
            i += 1
        }
        throw fail("unterminated string: file truncated?")
    }

    /// The scalar of a `\\uXXXX` escape (after the `u`), joining a surrogate pair; a lone
    /// surrogate is refused (a Swift string cannot hold it).
    package mutating func unicodeEscape() throws(JSONParseError) -> Unicode.Scalar {
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar), i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"),
            bytes[i + 1] == UInt8(ascii: "u")
        {
            i += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw fail("bad surrogate pair") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let u = Unicode.Scalar(scalar) else { throw fail("bad \\u escape") }
        return u
    }

    package mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw fail("bad hex digit")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }
}
