import EOShare
import Foundation

/// A request the API answers with 400 and a one-line reason.
struct BadRequest: Error, CustomStringConvertible {
    var description: String
}

/// An Item Search (or a collection's items request), from GET query parameters or a POST body.
struct SearchParameters: Sendable {
    static let defaultLimit = 10
    static let maximumLimit = 10_000

    var collections: [String]?
    var ids: [String]?
    var bbox: [Double]?
    var intersects: Geometry?
    var datetime: (start: Date?, end: Date?)?
    var limit = defaultLimit
    var sortby: [RecordSearch.SortKey] = []
    var filter: CQL2?
    var token: PageToken?
    /// The POST body as given (a next or prev link repeats it with another token).
    var body: JSONObject?
    /// The GET parameters as given (a next or prev link repeats them with another token).
    var rawQuery: [(String, String)]?

    // MARK: GET

    init(query: [(String, String)]) throws {
        rawQuery = query
        var seen = Set<String>()
        for (key, value) in query {
            guard seen.insert(key).inserted else { throw BadRequest(description: "'\(key)' is given more than once") }
            switch key {
            case "collections": collections = Self.list(value)
            case "ids": ids = Self.list(value)
            case "bbox":
                let parts = value.split(separator: ",", omittingEmptySubsequences: false)
                let numbers = parts.map { Double($0.trimmingCharacters(in: .whitespaces)) }
                guard numbers.allSatisfy({ $0 != nil }) else {
                    throw BadRequest(description: "bbox '\(value)' is not comma-separated numbers")
                }
                bbox = try Self.box(numbers.map { $0! })
            case "intersects":
                guard let json = try? JSONValue.parse(Array(value.utf8)) else {
                    throw BadRequest(description: "intersects is not a GeoJSON geometry")
                }
                intersects = try Self.geometry(json)
            case "datetime": datetime = try Self.interval(value)
            case "limit":
                guard let n = Int(value) else {
                    throw BadRequest(description: "limit '\(value)' is not a whole number")
                }
                limit = try Self.limit(n)
            case "sortby": sortby = try Self.sortby(Self.list(value))
            case "filter": filter = try Self.filterText(value, language: query.first { $0.0 == "filter-lang" }?.1)
            case "filter-lang", "filter-crs": try Self.checkFilterOption(key, value)
            case "token": token = try PageToken(value)
            case "fields", "query":
                throw BadRequest(
                    description: "'\(key)' is not supported (the Fields and Query extensions are not offered)"
                )
            default: throw BadRequest(description: "unknown parameter '\(key)'")
            }
        }
        try checkBBoxXorIntersects()
    }

    // MARK: POST

    init(body: JSONValue) throws {
        guard case .object(let o) = body else { throw BadRequest(description: "the search body is not a JSON object") }
        self.body = o
        for (key, value) in o.entries {
            switch key {
            case "collections": collections = try Self.strings(value, key)
            case "ids": ids = try Self.strings(value, key)
            case "bbox":
                guard let a = value.arrayValue else { throw BadRequest(description: "bbox is not an array of numbers") }
                let v = a.compactMap(\.doubleValue)
                guard v.count == a.count else { throw BadRequest(description: "bbox is not an array of numbers") }
                bbox = try Self.box(v)
            case "intersects": intersects = try Self.geometry(value)
            case "datetime":
                guard let s = value.stringValue else { throw BadRequest(description: "datetime is not a string") }
                datetime = try Self.interval(s)
            case "limit":
                guard let d = value.doubleValue, d == d.rounded(), abs(d) < 1e12 else {
                    throw BadRequest(description: "limit is not a whole number")
                }
                limit = try Self.limit(Int(d))
            case "sortby":
                if let text = value.stringValue {
                    sortby = try Self.sortby(Self.list(text))
                } else {
                    guard let a = value.arrayValue else { throw BadRequest(description: "sortby is not a list") }
                    sortby = try a.map { entry in
                        guard let field = entry["field"]?.stringValue else {
                            throw BadRequest(description: "a sortby entry needs 'field'")
                        }
                        let direction = entry["direction"]?.stringValue ?? "asc"
                        guard direction == "asc" || direction == "desc" else {
                            throw BadRequest(description: "sortby direction '\(direction)' is not asc or desc")
                        }
                        return RecordSearch.SortKey(try Self.field(field), descending: direction == "desc")
                    }
                }
            case "filter":
                let language = o["filter-lang"]?.stringValue
                if let text = value.stringValue, language == nil || language == "cql2-text" {
                    filter = try Self.filterText(text, language: "cql2-text")
                } else {
                    guard language == nil || language == "cql2-json" else {
                        throw BadRequest(description: "filter-lang '\(language!)' does not fit a JSON filter")
                    }
                    do { filter = try CQL2.parse(json: value) } catch let e as CQL2.Invalid {
                        throw BadRequest(description: "filter: \(e.description)")
                    }
                }
            case "filter-lang", "filter-crs":
                guard let s = value.stringValue else { throw BadRequest(description: "\(key) is not a string") }
                try Self.checkFilterOption(key, s)
            case "token":
                guard let s = value.stringValue else { throw BadRequest(description: "token is not a string") }
                token = try PageToken(s)
            case "fields", "query", "conf":
                throw BadRequest(
                    description: "'\(key)' is not supported (the Fields and Query extensions are not offered)"
                )
            default: throw BadRequest(description: "unknown search field '\(key)'")
            }
        }
        try checkBBoxXorIntersects()
    }

    func checkBBoxXorIntersects() throws {
        if bbox != nil && intersects != nil { throw BadRequest(description: "give bbox or intersects, not both") }
    }

    // MARK: Values

    static func list(_ s: String) -> [String] {
        s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func strings(_ v: JSONValue, _ key: String) throws -> [String] {
        if let s = v.stringValue { return list(s) }
        guard let a = v.arrayValue else { throw BadRequest(description: "\(key) is not a list of strings") }
        return try a.map {
            guard let s = $0.stringValue else { throw BadRequest(description: "\(key) is not a list of strings") }
            return s
        }
    }

    /// 4 or 6 numbers, south ≤ north, latitudes within ±90; west > east crosses the antimeridian.
    static func box(_ v: [Double]) throws -> [Double] {
        guard v.count == 4 || v.count == 6 else {
            throw BadRequest(description: "bbox needs 4 or 6 numbers, got \(v.count)")
        }
        guard v.allSatisfy(\.isFinite) else { throw BadRequest(description: "bbox has a number that is not finite") }
        let (w, s, e, n) = v.count == 6 ? (v[0], v[1], v[3], v[4]) : (v[0], v[1], v[2], v[3])
        guard s <= n else { throw BadRequest(description: "bbox south \(s) is north of north \(n)") }
        guard (-90...90).contains(s), (-90...90).contains(n), (-180...180).contains(w), (-180...180).contains(e) else {
            throw BadRequest(description: "bbox is outside [-180, -90, 180, 90]")
        }
        return [w, s, e, n]
    }

    static func geometry(_ json: JSONValue) throws -> Geometry {
        do { return try Geometry.parse(json, what: "intersects") } catch let e as Geometry.Invalid {
            throw BadRequest(description: e.description)
        }
    }

    /// An RFC 3339 instant, or an interval `A/B` with `..` or nothing for an open end (not both).
    static func interval(_ s: String) throws -> (start: Date?, end: Date?) {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func instant(_ t: String) throws -> Date {
            guard Self.isRFC3339(t), let d = Timestamp.parse(t) else {
                throw BadRequest(description: "datetime '\(s)': '\(t)' is not an RFC 3339 instant")
            }
            return d
        }
        switch parts.count {
        case 1:
            let d = try instant(parts[0])
            return (d, d)
        case 2:
            let open = ["", ".."]
            guard !(open.contains(parts[0]) && open.contains(parts[1])) else {
                throw BadRequest(description: "datetime '\(s)' is open at both ends")
            }
            let a = open.contains(parts[0]) ? nil : try instant(parts[0])
            let b = open.contains(parts[1]) ? nil : try instant(parts[1])
            if let a, let b, a > b { throw BadRequest(description: "datetime '\(s)' ends before it starts") }
            return (a, b)
        default: throw BadRequest(description: "datetime '\(s)' is not an instant or an interval A/B")
        }
    }

    /// RFC 3339's date-time exactly: `T` (any case) between date and time, a fraction with
    /// digits, and `Z` or `±hh:mm`.
    static func isRFC3339(_ t: String) -> Bool {
        t.range(
            of: #"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"#,
            options: .regularExpression
        )
            != nil
    }

    static func limit(_ n: Int) throws -> Int {
        guard n >= 1 else { throw BadRequest(description: "limit must be at least 1") }
        return min(n, maximumLimit)
    }

    /// `+field`, `-field` or `field`, with or without the `properties.` prefix.
    static func sortby(_ fields: [String]) throws -> [RecordSearch.SortKey] {
        try fields.map { f in
            var name = Substring(f)
            var descending = false
            if name.hasPrefix("-") {
                descending = true
                name = name.dropFirst()
            } else if name.hasPrefix("+") {
                name = name.dropFirst()
            }
            return RecordSearch.SortKey(try field(String(name)), descending: descending)
        }
    }

    static func field(_ raw: String) throws -> RecordSearch.Field {
        var name = raw
        if name.hasPrefix("properties.") { name.removeFirst("properties.".count) }
        switch name {
        case "datetime", "start_datetime": return .datetime
        case "end_datetime": return .endDatetime
        case "id": return .id
        case "collection": return .collection
        default:
            guard Queryables.sortable.contains(name) else {
                throw BadRequest(
                    description:
                        "cannot sort by '\(raw)' (sortable: \(Queryables.sortable.sorted().joined(separator: ", ")))"
                )
            }
            return .property(name)
        }
    }

    static func filterText(_ text: String, language: String?) throws -> CQL2 {
        do {
            switch language ?? "cql2-text" {
            case "cql2-text": return try CQL2TextParser.parse(text)
            case "cql2-json":
                guard let json = try? JSONValue.parse(Array(text.utf8)) else {
                    throw BadRequest(description: "filter is not JSON, as filter-lang cql2-json says")
                }
                return try CQL2.parse(json: json)
            default: throw BadRequest(description: "filter-lang '\(language!)' is not cql2-text or cql2-json")
            }
        } catch let e as CQL2.Invalid {
            throw BadRequest(description: "filter: \(e.description)")
        }
    }

    static func checkFilterOption(_ key: String, _ value: String) throws {
        if key == "filter-lang", value != "cql2-text", value != "cql2-json" {
            throw BadRequest(description: "filter-lang '\(value)' is not cql2-text or cql2-json")
        }
        if key == "filter-crs", value != "http://www.opengis.net/def/crs/OGC/1.3/CRS84" {
            throw BadRequest(description: "filter-crs must be http://www.opengis.net/def/crs/OGC/1.3/CRS84")
        }
    }
}

/// Where a page stopped: the sort key of its last (next) or first (prev) item, so the same
/// token always leads to the same place whatever was added or released since.
struct PageToken: Sendable {
    var previous: Bool
    var key: [RecordSearch.KeyValue]

    init(previous: Bool, key: [RecordSearch.KeyValue]) {
        self.previous = previous
        self.key = key
    }

    init(_ text: String) throws {
        var b64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), let json = try? JSONValue.parse(data),
            let d = json["d"]?.stringValue, d == "n" || d == "p", let k = json["k"]?.arrayValue
        else { throw BadRequest(description: "token is not one this server gave") }
        previous = d == "p"
        key = try k.map { v in
            switch v {
            case .null: return .null
            case .string(let s): return .text(s)
            default:
                guard let n = v.doubleValue else { throw BadRequest(description: "token is not one this server gave") }
                return .number(n)
            }
        }
    }

    var text: String {
        let json: JSONValue = .object([
            "d": .string(previous ? "p" : "n"),
            "k": .array(
                key.map { v in
                    switch v {
                    case .null: return .null
                    case .text(let s): return .string(s)
                    case .number(let n): return .number(n)
                    }
                }
            ),
        ])
        return Data(json.serialized(pretty: false)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
