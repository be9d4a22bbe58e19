import EOShare
import Foundation

/// A CQL2 filter (OGC 21-065), from its text or JSON encoding: comparisons, `and/or/not`,
/// `like`, `between`, `in`, `isNull`, `s_intersects` and `t_intersects`, evaluated against
/// an item as eoshare writes it.
indirect enum CQL2: Sendable {
    case and([CQL2])
    case or([CQL2])
    case not(CQL2)
    case compare(String, Operand, Operand)
    case like(Operand, Operand)
    case between(Operand, Operand, Operand)
    case isIn(Operand, [Operand])
    case isNull(Operand)
    case sIntersects(Operand, Operand)
    case tIntersects(Operand, Operand)
    case literal(Bool)

    enum Operand: Sendable {
        case property(String)
        case string(String)
        case number(Double)
        case bool(Bool)
        case instant(Date)
        case interval(Date?, Date?)
        case geometry(Geometry)
        case null
    }

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    static let comparisons: Set<String> = ["=", "<>", "<", "<=", ">", ">="]

    // MARK: JSON

    static func parse(json: JSONValue) throws -> CQL2 {
        if case .bool(let b) = json { return .literal(b) }
        guard let op = json["op"]?.stringValue?.lowercased() else {
            throw Invalid(description: "a CQL2 JSON expression needs 'op' and 'args'")
        }
        let args = json["args"]?.arrayValue ?? []
        func count(_ n: Int) throws {
            guard args.count == n else { throw Invalid(description: "'\(op)' takes \(n) arguments, got \(args.count)") }
        }
        switch op {
        case "and", "or":
            guard args.count >= 2 else { throw Invalid(description: "'\(op)' takes at least 2 arguments") }
            let parts = try args.map { try parse(json: $0) }
            return op == "and" ? .and(parts) : .or(parts)
        case "not":
            try count(1)
            return .not(try parse(json: args[0]))
        case _ where comparisons.contains(op):
            try count(2)
            return .compare(op, try operand(json: args[0]), try operand(json: args[1]))
        case "like":
            try count(2)
            return .like(try operand(json: args[0]), try operand(json: args[1]))
        case "between":
            if args.count == 2, let range = args[1].arrayValue, range.count == 2 {
                return .between(try operand(json: args[0]), try operand(json: range[0]), try operand(json: range[1]))
            }
            try count(3)
            return .between(try operand(json: args[0]), try operand(json: args[1]), try operand(json: args[2]))
        case "in":
            try count(2)
            guard let list = args[1].arrayValue else { throw Invalid(description: "'in' takes a value and a list") }
            return .isIn(try operand(json: args[0]), try list.map { try operand(json: $0) })
        case "isnull":
            try count(1)
            return .isNull(try operand(json: args[0]))
        case "s_intersects":
            try count(2)
            return .sIntersects(try operand(json: args[0]), try operand(json: args[1]))
        case "t_intersects":
            try count(2)
            return .tIntersects(try operand(json: args[0]), try operand(json: args[1]))
        default:
            throw Invalid(description: "the CQL2 operator '\(op)' is not supported")
        }
    }

    static func operand(json: JSONValue) throws -> Operand {
        switch json {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let d): return .number(d)
        case .int(let i): return .number(Double(i))
        case .string(let s): return .string(s)
        case .array: throw Invalid(description: "a list is not a value here")
        case .object(let o):
            if let p = o["property"]?.stringValue { return .property(p) }
            if let t = o["timestamp"]?.stringValue {
                guard let d = Timestamp.parse(t) else {
                    throw Invalid(description: "'\(t)' is not an RFC 3339 timestamp")
                }
                return .instant(d)
            }
            if let t = o["date"]?.stringValue { return .instant(try date(t)) }
            if let i = o["interval"]?.arrayValue {
                guard i.count == 2 else { throw Invalid(description: "an interval has two ends") }
                return try interval(i[0].stringValue, i[1].stringValue)
            }
            if let b = o["bbox"]?.arrayValue {
                let v = b.compactMap(\.doubleValue)
                guard v.count == b.count, v.count == 4 || v.count == 6 else {
                    throw Invalid(description: "a bbox has 4 or 6 numbers")
                }
                return .geometry(Geometry.box(v))
            }
            if o["type"] != nil {
                do { return .geometry(try Geometry.parse(json, what: "the filter's geometry")) } catch let e
                    as Geometry.Invalid
                {
                    throw Invalid(description: e.description)
                }
            }
            if o["op"] != nil { throw Invalid(description: "a function call is not a value here") }
            throw Invalid(description: "unknown CQL2 value \(json.serializedString())")
        }
    }

    static func date(_ text: String) throws -> Date {
        guard let d = Timestamp.parse(text + "T00:00:00Z"), text.count == 10 else {
            throw Invalid(description: "'\(text)' is not a date (YYYY-MM-DD)")
        }
        return d
    }

    /// `..` is an open end; a date or a timestamp otherwise.
    static func interval(_ a: String?, _ b: String?) throws -> Operand {
        func end(_ s: String?) throws -> Date? {
            guard let s, s != ".." else { return nil }
            if let t = Timestamp.parse(s) { return t }
            return try date(s)
        }
        return .interval(try end(a), try end(b))
    }

    // MARK: Evaluation

    /// True, false or unknown (a missing property), as CQL2's three-valued logic has it.
    func evaluate(_ item: JSONValue) -> Bool? {
        switch self {
        case .literal(let b): return b
        case .and(let parts):
            var unknown = false
            for p in parts {
                switch p.evaluate(item) {
                case false?: return false
                case nil: unknown = true
                default: break
                }
            }
            return unknown ? nil : true
        case .or(let parts):
            var unknown = false
            for p in parts {
                switch p.evaluate(item) {
                case true?: return true
                case nil: unknown = true
                default: break
                }
            }
            return unknown ? nil : false
        case .not(let e): return e.evaluate(item).map { !$0 }
        case .compare(let op, let a, let b):
            guard let order = Self.order(Self.value(a, item), Self.value(b, item)) else { return nil }
            switch op {
            case "=": return order == .orderedSame
            case "<>": return order != .orderedSame
            case "<": return order == .orderedAscending
            case "<=": return order != .orderedDescending
            case ">": return order == .orderedDescending
            default: return order != .orderedAscending
            }
        case .like(let a, let pattern):
            guard case .string(let s) = Self.value(a, item), case .string(let p) = Self.value(pattern, item) else {
                return nil
            }
            return Self.like(s, p)
        case .between(let a, let lo, let hi):
            let v = Self.value(a, item)
            guard let l = Self.order(v, Self.value(lo, item)), let h = Self.order(v, Self.value(hi, item)) else {
                return nil
            }
            return l != .orderedAscending && h != .orderedDescending
        case .isIn(let a, let list):
            let v = Self.value(a, item)
            if case .null = v { return nil }
            return list.contains { Self.order(v, Self.value($0, item)) == .orderedSame }
        case .isNull(let a):
            if case .null = Self.value(a, item) { return true }
            return false
        case .sIntersects(let a, let b):
            guard case .geometry(let x) = Self.value(a, item), case .geometry(let y) = Self.value(b, item) else {
                return nil
            }
            return x.intersects(y)
        case .tIntersects(let a, let b):
            guard let x = Self.span(Self.value(a, item)), let y = Self.span(Self.value(b, item)) else { return nil }
            return (x.0 ?? .distantPast) <= (y.1 ?? .distantFuture) && (y.0 ?? .distantPast) <= (x.1 ?? .distantFuture)
        }
    }

    /// A property's value in an item: `id`, `collection`, `geometry`, `datetime` (the item's
    /// time span), or a member of `properties` (with or without the `properties.` prefix).
    static func value(_ o: Operand, _ item: JSONValue) -> Operand {
        guard case .property(var name) = o else { return o }
        switch name {
        case "id": return item["id"]?.stringValue.map(Operand.string) ?? .null
        case "collection": return item["collection"]?.stringValue.map(Operand.string) ?? .null
        case "geometry":
            guard let g = item["geometry"], let geometry = try? Geometry.parse(g) else { return .null }
            return .geometry(geometry)
        default: break
        }
        if name.hasPrefix("properties.") { name.removeFirst("properties.".count) }
        let properties = item["properties"]
        if name == "datetime", properties?["datetime"] == nil || properties?["datetime"] == .null {
            // An item with a range has no datetime: its span stands for it.
            let start = properties?["start_datetime"]?.stringValue.flatMap(Timestamp.parse)
            let end = properties?["end_datetime"]?.stringValue.flatMap(Timestamp.parse)
            if start != nil || end != nil { return .interval(start, end) }
            return .null
        }
        guard let v = properties?[name] else { return .null }
        switch v {
        case .string(let s):
            if ["datetime", "start_datetime", "end_datetime", "created", "updated"].contains(name)
                || name.hasPrefix("consortium:") && name != "consortium:owner" && name != "consortium:source",
                let d = Timestamp.parse(s)
            {
                return .instant(d)
            }
            return .string(s)
        case .number(let d): return .number(d)
        case .int(let i): return .number(Double(i))
        case .bool(let b): return .bool(b)
        default: return .null
        }
    }

    static func order(_ a: Operand, _ b: Operand) -> ComparisonResult? {
        func cmp<T: Comparable>(_ x: T, _ y: T) -> ComparisonResult {
            x < y ? .orderedAscending : x > y ? .orderedDescending : .orderedSame
        }
        switch (a, b) {
        case (.number(let x), .number(let y)): return cmp(x, y)
        case (.string(let x), .string(let y)): return cmp(x, y)
        case (.bool(let x), .bool(let y)): return x == y ? .orderedSame : (x ? .orderedDescending : .orderedAscending)
        case (.instant(let x), .instant(let y)): return cmp(x, y)
        case (.instant(let x), .string(let s)), (.string(let s), .instant(let x)):
            guard let y = Timestamp.parse(s) else { return nil }
            if case .instant = a { return cmp(x, y) }
            return cmp(y, x)
        default: return nil
        }
    }

    static func span(_ o: Operand) -> (Date?, Date?)? {
        switch o {
        case .instant(let d): return (d, d)
        case .interval(let a, let b): return (a, b)
        case .string(let s): return Timestamp.parse(s).map { ($0, $0) }
        default: return nil
        }
    }

    /// SQL LIKE: `%` any run, `_` one character, `\` escapes; the greedy walk with one
    /// back-track point, so no pattern takes more than length × length steps.
    static func like(_ s: String, _ pattern: String) -> Bool {
        enum Token: Equatable {
            case any, one
            case char(Character)
        }
        var tokens: [Token] = []
        var escaped = false
        for c in pattern {
            if escaped {
                tokens.append(.char(c))
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                tokens.append(c == "%" ? .any : c == "_" ? .one : .char(c))
            }
        }
        let text = Array(s)
        var (i, j) = (0, 0)
        var star: (token: Int, text: Int)?
        while i < text.count {
            if j < tokens.count, tokens[j] == .one || tokens[j] == .char(text[i]) {
                i += 1
                j += 1
            } else if j < tokens.count, tokens[j] == .any {
                star = (j, i)
                j += 1
            } else if let s = star {
                star = (s.token, s.text + 1)
                (i, j) = (s.text + 1, s.token + 1)
            } else {
                return false
            }
        }
        while j < tokens.count, tokens[j] == .any { j += 1 }
        return j == tokens.count
    }
}
