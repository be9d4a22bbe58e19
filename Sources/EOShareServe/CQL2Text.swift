import EOShare
import Foundation

/// The CQL2 text encoding, read by recursive descent into the same tree as the JSON one.
struct CQL2TextParser {
    enum Token: Equatable {
        case word(String)  // identifiers and keywords (keywords compared case-insensitively)
        case quoted(String)  // "property name"
        case string(String)  // 'literal'
        case number(Double)
        case symbol(String)  // ( ) , = <> < <= > >=
    }

    var tokens: [Token] = []
    var at = 0

    typealias Invalid = CQL2.Invalid

    static func parse(_ text: String) throws -> CQL2 {
        var p = CQL2TextParser(tokens: try tokenize(text))
        let e = try p.expression()
        guard p.at == p.tokens.count else {
            throw Invalid(description: "unexpected \(p.describe(p.tokens[p.at])) in the filter")
        }
        return e
    }

    static func tokenize(_ text: String) throws -> [Token] {
        var out: [Token] = []
        let c = Array(text.unicodeScalars)
        var i = 0
        func isWord(_ s: Unicode.Scalar) -> Bool {
            CharacterSet.alphanumerics.contains(s) || s == "_" || s == ":" || s == "."
        }
        while i < c.count {
            let s = c[i]
            if CharacterSet.whitespacesAndNewlines.contains(s) {
                i += 1
            } else if s == "'" || s == "\"" {
                var value = ""
                i += 1
                var closed = false
                while i < c.count {
                    if c[i] == s {
                        if i + 1 < c.count, c[i + 1] == s {
                            value.unicodeScalars.append(s)
                            i += 2
                            continue
                        }
                        closed = true
                        i += 1
                        break
                    }
                    value.unicodeScalars.append(c[i])
                    i += 1
                }
                guard closed else { throw Invalid(description: "a quote in the filter is not closed") }
                out.append(s == "'" ? .string(value) : .quoted(value))
            } else if "(),".unicodeScalars.contains(s) {
                out.append(.symbol(String(s)))
                i += 1
            } else if "<>=".unicodeScalars.contains(s) {
                var op = String(s)
                if i + 1 < c.count, (s == "<" && (c[i + 1] == "=" || c[i + 1] == ">")) || (s == ">" && c[i + 1] == "=")
                {
                    op.unicodeScalars.append(c[i + 1])
                    i += 1
                }
                out.append(.symbol(op))
                i += 1
            } else if s == "-" || s == "+" || CharacterSet.decimalDigits.contains(s) {
                var j = i + 1
                while j < c.count,
                    CharacterSet.decimalDigits.contains(c[j]) || c[j] == "." || c[j] == "e" || c[j] == "E"
                        || ((c[j] == "-" || c[j] == "+") && (c[j - 1] == "e" || c[j - 1] == "E"))
                {
                    j += 1
                }
                let literal = String(String.UnicodeScalarView(c[i..<j]))
                guard let n = Double(literal), n.isFinite else {
                    throw Invalid(description: "'\(literal)' is not a number")
                }
                out.append(.number(n))
                i = j
            } else if isWord(s) {
                var j = i
                while j < c.count, isWord(c[j]) { j += 1 }
                out.append(.word(String(String.UnicodeScalarView(c[i..<j]))))
                i = j
            } else {
                throw Invalid(description: "unexpected character '\(s)' in the filter")
            }
        }
        return out
    }

    func describe(_ t: Token) -> String {
        switch t {
        case .word(let w): return "'\(w)'"
        case .quoted(let q): return "\"\(q)\""
        case .string(let s): return "'\(s)'"
        case .number(let n): return "\(n)"
        case .symbol(let s): return "'\(s)'"
        }
    }

    var peek: Token? { at < tokens.count ? tokens[at] : nil }

    func isKeyword(_ k: String, _ offset: Int = 0) -> Bool {
        guard at + offset < tokens.count, case .word(let w) = tokens[at + offset] else { return false }
        return w.uppercased() == k
    }

    mutating func accept(_ k: String) -> Bool {
        if isKeyword(k) {
            at += 1
            return true
        }
        return false
    }

    mutating func expect(symbol: String) throws {
        guard peek == .symbol(symbol) else {
            throw Invalid(
                description: "expected '\(symbol)'" + (peek.map { " before \(describe($0))" } ?? " at the end")
            )
        }
        at += 1
    }

    mutating func expression() throws -> CQL2 {
        var parts = [try conjunction()]
        while accept("OR") { parts.append(try conjunction()) }
        return parts.count == 1 ? parts[0] : .or(parts)
    }

    mutating func conjunction() throws -> CQL2 {
        var parts = [try negation()]
        while accept("AND") { parts.append(try negation()) }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    mutating func negation() throws -> CQL2 {
        if accept("NOT") { return .not(try negation()) }
        return try predicate()
    }

    mutating func predicate() throws -> CQL2 {
        if peek == .symbol("(") {
            at += 1
            let e = try expression()
            try expect(symbol: ")")
            return e
        }
        for name in ["S_INTERSECTS", "T_INTERSECTS"]
        where isKeyword(name) && tokens.count > at + 1
            && tokens[at + 1] == .symbol("(")
        {
            at += 2
            let a = try operand()
            try expect(symbol: ",")
            let b = try operand()
            try expect(symbol: ")")
            return name == "S_INTERSECTS" ? .sIntersects(a, b) : .tIntersects(a, b)
        }
        if case .word(let w)? = peek, tokens.count > at + 1, tokens[at + 1] == .symbol("("),
            w.uppercased().hasPrefix("S_") || w.uppercased().hasPrefix("T_") || w.uppercased().hasPrefix("A_")
        {
            throw Invalid(description: "the CQL2 function '\(w)' is not supported")
        }
        let left = try operand()
        if case .bool(let b) = left, peek == nil || isKeyword("AND") || isKeyword("OR") || peek == .symbol(")") {
            return .literal(b)
        }
        if case .symbol(let op)? = peek, CQL2.comparisons.contains(op) {
            at += 1
            return .compare(op, left, try operand())
        }
        if accept("IS") {
            let negated = accept("NOT")
            guard accept("NULL") else { throw Invalid(description: "expected NULL after IS") }
            return negated ? .not(.isNull(left)) : .isNull(left)
        }
        let negated = accept("NOT")
        let e: CQL2
        if accept("LIKE") {
            e = .like(left, try operand())
        } else if accept("BETWEEN") {
            let lo = try operand()
            guard accept("AND") else { throw Invalid(description: "expected AND in BETWEEN") }
            e = .between(left, lo, try operand())
        } else if accept("IN") {
            try expect(symbol: "(")
            var list = [try operand()]
            while peek == .symbol(",") {
                at += 1
                list.append(try operand())
            }
            try expect(symbol: ")")
            e = .isIn(left, list)
        } else {
            throw Invalid(
                description: "expected a comparison" + (peek.map { " before \(describe($0))" } ?? " at the end")
            )
        }
        return negated ? .not(e) : e
    }

    mutating func operand() throws -> CQL2.Operand {
        guard let t = peek else { throw Invalid(description: "the filter ends where a value was expected") }
        at += 1
        switch t {
        case .number(let n): return .number(n)
        case .string(let s): return .string(s)
        case .quoted(let q): return .property(q)
        case .symbol(let s): throw Invalid(description: "unexpected '\(s)' where a value was expected")
        case .word(let w):
            let upper = w.uppercased()
            switch upper {
            case "TRUE": return .bool(true)
            case "FALSE": return .bool(false)
            case "NULL": return .null
            case "TIMESTAMP", "DATE", "INTERVAL", "BBOX", "POINT", "LINESTRING", "POLYGON", "MULTIPOINT",
                "MULTILINESTRING",
                "MULTIPOLYGON", "GEOMETRYCOLLECTION":
                guard peek == .symbol("(") else { return .property(w) }
                return try literal(upper)
            default: return .property(w)
            }
        }
    }

    mutating func string() throws -> String {
        guard case .string(let s)? = peek else { throw Invalid(description: "expected a quoted string") }
        at += 1
        return s
    }

    mutating func literal(_ kind: String) throws -> CQL2.Operand {
        switch kind {
        case "TIMESTAMP":
            try expect(symbol: "(")
            let s = try string()
            try expect(symbol: ")")
            guard let d = Timestamp.parse(s) else { throw Invalid(description: "'\(s)' is not an RFC 3339 timestamp") }
            return .instant(d)
        case "DATE":
            try expect(symbol: "(")
            let s = try string()
            try expect(symbol: ")")
            return .instant(try CQL2.date(s))
        case "INTERVAL":
            try expect(symbol: "(")
            let a = try string()
            try expect(symbol: ",")
            let b = try string()
            try expect(symbol: ")")
            return try CQL2.interval(a, b)
        case "BBOX":
            try expect(symbol: "(")
            var v = [try number()]
            while peek == .symbol(",") {
                at += 1
                v.append(try number())
            }
            try expect(symbol: ")")
            guard v.count == 4 || v.count == 6 else { throw Invalid(description: "BBOX takes 4 or 6 numbers") }
            return .geometry(Geometry.box(v))
        default:
            let json = try wkt(kind)
            do { return .geometry(try Geometry.parse(json, what: "the filter's geometry")) } catch let e
                as Geometry.Invalid
            {
                throw Invalid(description: e.description)
            }
        }
    }

    mutating func number() throws -> Double {
        guard case .number(let n)? = peek else { throw Invalid(description: "expected a number") }
        at += 1
        return n
    }

    /// Well-known text as GeoJSON.
    mutating func wkt(_ kind: String) throws -> JSONValue {
        func position() throws -> JSONValue {
            var p = [try number(), try number()]
            if case .number? = peek { p.append(try number()) }
            return .array(p.map(JSONValue.number))
        }
        func list<T>(_ element: () throws -> T) throws -> [T] {
            try expect(symbol: "(")
            var out = [try element()]
            while peek == .symbol(",") {
                at += 1
                out.append(try element())
            }
            try expect(symbol: ")")
            return out
        }
        let types = [
            "POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon", "MULTIPOINT": "MultiPoint",
            "MULTILINESTRING": "MultiLineString", "MULTIPOLYGON": "MultiPolygon",
        ]
        let coordinates: JSONValue
        switch kind {
        case "POINT":
            try expect(symbol: "(")
            coordinates = try position()
            try expect(symbol: ")")
        case "LINESTRING": coordinates = .array(try list(position))
        case "POLYGON": coordinates = .array(try list { .array(try list(position)) })
        case "MULTIPOINT":
            // MULTIPOINT((1 2), (3 4)) or MULTIPOINT(1 2, 3 4).
            coordinates = .array(
                try list {
                    if peek == .symbol("(") {
                        at += 1
                        let p = try position()
                        try expect(symbol: ")")
                        return p
                    }
                    return try position()
                }
            )
        case "MULTILINESTRING": coordinates = .array(try list { .array(try list(position)) })
        case "MULTIPOLYGON": coordinates = .array(try list { .array(try list { .array(try list(position)) }) })
        default:
            let members = try list { () throws -> JSONValue in
                guard case .word(let w)? = peek else { throw Invalid(description: "expected a geometry") }
                at += 1
                return try wkt(w.uppercased())
            }
            return .object(["type": "GeometryCollection", "geometries": .array(members)])
        }
        guard let type = types[kind] else { throw Invalid(description: "unknown geometry \(kind)") }
        return .object(["type": .string(type), "coordinates": coordinates])
    }
}
