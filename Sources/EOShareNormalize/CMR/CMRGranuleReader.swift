import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// Reads NASA CMR granule metadata: a single UMM-G record, a CMR search response
/// (`{"items": [{"meta": …, "umm": UMM-G}]}`) or the older Atom JSON (`{"feed": {"entry":
/// […]}}`). Every granule becomes a record; a granule that cannot be normalized is rejected
/// alone (named by its GranuleUR or its place, and the field), the others go on.
///
/// The item id is the GranuleUR made safe as a folder name (`:` and other bytes outside
/// `A-Za-z0-9._-` become `_`); the GranuleUR itself is kept in `cmr:granule_ur`.
public enum CMRGranuleReader {
    public enum Schema {
        public static let eo = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
    }

    public static func read(_ bytes: [UInt8], context: ReaderContext) throws(NormalizeError) -> ReaderOutput {
        let start = TextBytes.afterBOM(bytes)
        if let bad = TextBytes.firstInvalidText(bytes, from: start) {
            throw NormalizeError("malformed CMR JSON, line \(TextBytes.line(of: bad.offset, in: bytes)): \(bad.reason)")
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(Array(bytes[start...]))
        } catch {
            throw NormalizeError(
                "malformed CMR JSON, line \(TextBytes.line(of: start + error.offset, in: bytes)): "
                    + error.reason
            )
        }
        var records: [Record] = []
        var rejected: [RejectedRecord] = []
        func collect(_ label: String, _ body: () throws(NormalizeError) -> Record) {
            do { records.append(try body()) } catch { rejected.append(RejectedRecord(label: label, error: error)) }
        }
        if let items = document["items"]?.arrayValue {
            for (i, item) in items.enumerated() {
                let umm = item["umm"] ?? item
                collect(label(umm["GranuleUR"], index: i)) { () throws(NormalizeError) in
                    try ummGranule(umm, conceptID: item["meta"]?["concept-id"]?.stringValue, context: context)
                }
            }
        } else if let feed = document["feed"] {
            guard let entries = feed["entry"]?.arrayValue else { throw .missing("feed.entry") }
            for (i, entry) in entries.enumerated() {
                collect(label(entry["title"], index: i)) { () throws(NormalizeError) in
                    try atomEntry(entry, context: context)
                }
            }
        } else if document["GranuleUR"] != nil {
            collect(label(document["GranuleUR"], index: 0)) { () throws(NormalizeError) in
                try ummGranule(document, conceptID: nil, context: context)
            }
        } else {
            throw NormalizeError("not CMR granule metadata: no GranuleUR, items[] or feed.entry[]")
        }
        return ReaderOutput(records: records, rejected: rejected)
    }

    private static func label(_ ur: JSONValue?, index: Int) -> String {
        if let ur = ur?.stringValue, !ur.isEmpty { return ur }
        return "granule \(index + 1)"
    }

    // MARK: UMM-G

    package static func ummGranule(
        _ umm: JSONValue,
        conceptID: String?,
        context: ReaderContext
    ) throws(NormalizeError)
        -> Record
    {
        guard case .object = umm else { throw NormalizeError("granule is not a JSON object") }
        guard let ur = umm["GranuleUR"]?.stringValue, !ur.isEmpty else { throw .missing("GranuleUR") }
        var record = Record(
            id: ur,
            collection: context.collection,
            owner: context.owner,
            source: context.source
        )

        // Time: a single instant, or a range (STAC datetime null with start/end).
        let temporal = umm["TemporalExtent"]
        if let single = temporal?["SingleDateTime"] {
            record.datetime = try instant(single, "TemporalExtent.SingleDateTime")
        } else if let range = temporal?["RangeDateTime"] {
            let begin = try instant(range["BeginningDateTime"], "TemporalExtent.RangeDateTime.BeginningDateTime")
            if let end = range["EndingDateTime"] {
                record.startDatetime = begin
                record.endDatetime = try instant(end, "TemporalExtent.RangeDateTime.EndingDateTime")
            } else {
                record.datetime = begin
            }
        } else {
            throw .missing("TemporalExtent")
        }
        if let production = umm["DataGranule"]?["ProductionDateTime"] {
            record.processed = try instant(production, "DataGranule.ProductionDateTime")
        }

        // Space: bounding rectangles, GPolygons (with holes) and points, in that preference.
        if let geometry = umm["SpatialExtent"]?["HorizontalSpatialDomain"]?["Geometry"] {
            let spatial = try ummGeometry(geometry)
            record.geometry = spatial?.geometry
            record.bbox = spatial?.bbox
        }

        var p = JSONObject()
        var platforms: [String] = []
        var instruments: [String] = []
        for platform in umm["Platforms"]?.arrayValue ?? [] {
            if let name = platform["ShortName"]?.stringValue, !name.isEmpty { platforms.append(name.lowercased()) }
            for instrument in platform["Instruments"]?.arrayValue ?? [] {
                if let name = instrument["ShortName"]?.stringValue, !name.isEmpty,
                    !instruments.contains(name.lowercased())
                {
                    instruments.append(name.lowercased())
                }
            }
        }
        if let first = platforms.first { p["platform"] = .string(first) }
        if !instruments.isEmpty { p["instruments"] = .array(instruments.map(JSONValue.string)) }
        if let cloud = umm["CloudCover"] {
            guard let value = cloud.doubleValue, (0...100).contains(value) else {
                throw NormalizeError(field: "CloudCover", "cannot parse '\(cloud.serializedString().prefix(80))'")
            }
            p["eo:cloud_cover"] = .number(value)
            record.stacExtensions.append(Schema.eo)
        }
        p["cmr:granule_ur"] = .string(ur)
        if let conceptID { p["cmr:concept_id"] = .string(conceptID) }
        if let collection = umm["CollectionReference"] {
            if let short = collection["ShortName"]?.stringValue {
                p["cmr:collection"] = .string(short + (collection["Version"]?.stringValue.map { " v\($0)" } ?? ""))
            } else if let title = collection["EntryTitle"]?.stringValue {
                p["cmr:collection"] = .string(title)
            }
        }
        if let flag = umm["DataGranule"]?["DayNightFlag"]?.stringValue { p["cmr:day_night_flag"] = .string(flag) }
        record.properties = p

        // Assets: the RelatedUrls, with size and checksum from the archive information by name.
        var archive: [String: JSONValue] = [:]
        for info in umm["DataGranule"]?["ArchiveAndDistributionInformation"]?.arrayValue ?? [] {
            if let name = info["Name"]?.stringValue { archive[name] = info }
        }
        var keys: Set<String> = []
        for (i, related) in (umm["RelatedUrls"]?.arrayValue ?? []).enumerated() {
            guard let url = related["URL"]?.stringValue else { throw .missing("RelatedUrls[\(i)].URL") }
            guard isAbsoluteURL(url) else { throw .unparseable("RelatedUrls[\(i)].URL", url) }
            let type = related["Type"]?.stringValue ?? ""
            let subtype = related["Subtype"]?.stringValue ?? ""
            guard let (base, roles) = assetKind(type: type, subtype: subtype, url: url) else { continue }
            var extra = JSONObject()
            if let info = archive[lastPathComponent(url)] {
                try addFileFields(info, to: &extra, field: "ArchiveAndDistributionInformation")
            }
            let asset = Asset(
                key: unique(base, in: &keys),
                href: url,
                title: related["Description"]?.stringValue,
                mediaType: related["MimeType"]?.stringValue,
                roles: roles,
                extra: extra
            )
            record.assets.append(asset)
        }
        if record.assets.contains(where: { $0.extra["file:size"] != nil || $0.extra["file:checksum"] != nil }) {
            record.stacExtensions.append(STACItemWriter.fileExtension)
        }
        return record
    }

    /// The geometry of a UMM-G `Geometry`: rectangles as boxes, GPolygons with their holes
    /// (several become a MultiPolygon), else the points.
    private static func ummGeometry(_ g: JSONValue) throws(NormalizeError) -> (geometry: JSONValue, bbox: [Double])? {
        var polygons: [[[Footprint.Point]]] = []
        for (i, r) in (g["BoundingRectangles"]?.arrayValue ?? []).enumerated() {
            let f = "BoundingRectangles[\(i)]"
            let west = try coordinate(r["WestBoundingCoordinate"], "\(f).WestBoundingCoordinate", limit: 180)
            let east = try coordinate(r["EastBoundingCoordinate"], "\(f).EastBoundingCoordinate", limit: 180)
            let south = try coordinate(r["SouthBoundingCoordinate"], "\(f).SouthBoundingCoordinate", limit: 90)
            let north = try coordinate(r["NorthBoundingCoordinate"], "\(f).NorthBoundingCoordinate", limit: 90)
            guard south <= north else { throw NormalizeError(field: f, "south \(south) is north of \(north)") }
            polygons.append([box(west: west, south: south, east: east, north: north)])
        }
        for (i, polygon) in (g["GPolygons"]?.arrayValue ?? []).enumerated() {
            let f = "GPolygons[\(i)]"
            var rings = [try ring(polygon["Boundary"]?["Points"], "\(f).Boundary.Points")]
            for (k, hole) in (polygon["ExclusiveZone"]?["Boundaries"]?.arrayValue ?? []).enumerated() {
                rings.append(try ring(hole["Points"], "\(f).ExclusiveZone.Boundaries[\(k)].Points"))
            }
            polygons.append(rings)
        }
        if !polygons.isEmpty { return assemble(polygons) }
        let points = g["Points"]?.arrayValue ?? []
        guard let first = points.first else { return nil }
        let lon = try coordinate(first["Longitude"], "Points[0].Longitude", limit: 180)
        let lat = try coordinate(first["Latitude"], "Points[0].Latitude", limit: 90)
        return (
            .object(["type": "Point", "coordinates": .array([.number(lon), .number(lat)])]), [lon, lat, lon, lat]
        )
    }

    /// Polygons (outer ring, then holes; open rings) → Polygon or MultiPolygon and the bbox.
    /// An outer ring across the antimeridian is split there; its holes are then left out
    /// (a hole across ±180° cannot be split consistently without a geometry library).
    package static func assemble(_ polygons: [[[Footprint.Point]]]) -> (geometry: JSONValue, bbox: [Double]) {
        var parts: [JSONValue] = []
        var crossing: [[Double]] = []
        var plain: [[Double]] = []
        for rings in polygons {
            let outer = rings[0]
            if Footprint.crossesAntimeridian(outer.map(\.x)) {
                let split = Footprint.polygon(outer)
                crossing.append(split.bbox)
                if case .array(let pieces)? = split.geometry["coordinates"] { parts.append(contentsOf: pieces) }
                continue
            }
            var oriented: [JSONValue] = []
            for (k, ring) in rings.enumerated() {
                // Outer ring counter-clockwise, holes clockwise (RFC 7946 §3.1.6).
                let ccw = Footprint.signedArea(ring) > 0
                oriented.append(Footprint.closedRing(ccw == (k == 0) ? ring : ring.reversed()))
            }
            parts.append(.array(oriented))
            let xs = outer.map(\.x)
            let ys = outer.map(\.y)
            plain.append([xs.min()!, ys.min()!, xs.max()!, ys.max()!])
        }
        let all = crossing + plain
        var bbox = [
            all.map { $0[0] }.min()!, all.map { $0[1] }.min()!, all.map { $0[2] }.max()!, all.map { $0[3] }.max()!,
        ]
        if !crossing.isEmpty {
            // Across the antimeridian west > east: west from the eastern-hemisphere side of every
            // part, east from the western-hemisphere side.
            bbox[0] = crossing.map { $0[0] }.min()!
            bbox[2] = crossing.map { $0[2] }.max()!
            for b in plain {
                if b[0] >= 0 { bbox[0] = min(bbox[0], b[0]) } else { bbox[2] = max(bbox[2], b[2]) }
            }
        }
        bbox = bbox.map(Footprint.round6)
        if parts.count == 1, case .array(let rings) = parts[0] {
            return (.object(["type": "Polygon", "coordinates": .array(rings)]), bbox)
        }
        return (.object(["type": "MultiPolygon", "coordinates": .array(parts)]), bbox)
    }

    private static func box(west: Double, south: Double, east: Double, north: Double) -> [Footprint.Point] {
        // Across the antimeridian when west > east: run east past 180 so the ring is one piece.
        let e = west > east ? east + 360 : east
        let ring = [(x: west, y: south), (x: e, y: south), (x: e, y: north), (x: west, y: north)]
        return west > east ? ring.map { (x: $0.x > 180 ? $0.x - 360 : $0.x, y: $0.y) } : ring
    }

    /// A `Points` array as an open ring (the closing point dropped), at least three positions.
    private static func ring(_ value: JSONValue?, _ field: String) throws(NormalizeError) -> [Footprint.Point] {
        guard let points = value?.arrayValue else { throw .missing(field) }
        var ring: [Footprint.Point] = []
        for (i, p) in points.enumerated() {
            let lon = try coordinate(p["Longitude"], "\(field)[\(i)].Longitude", limit: 180)
            let lat = try coordinate(p["Latitude"], "\(field)[\(i)].Latitude", limit: 90)
            if let last = ring.last, last.x == lon, last.y == lat { continue }
            ring.append((x: lon, y: lat))
        }
        if ring.count > 1, let first = ring.first, let last = ring.last, first.x == last.x, first.y == last.y {
            ring.removeLast()
        }
        guard ring.count >= 3 else { throw NormalizeError(field: field, "a polygon needs three distinct points") }
        return ring
    }

    private static func coordinate(
        _ value: JSONValue?,
        _ field: String,
        limit: Double
    ) throws(NormalizeError)
        -> Double
    {
        guard let value else { throw .missing(field) }
        let number: Double?
        switch value {
        case .string(let s): number = TextBytes.decimal(s)
        default: number = value.doubleValue
        }
        guard let number, number.isFinite, abs(number) <= limit else {
            throw .unparseable(field, value.serializedString())
        }
        return number
    }

    // MARK: Atom JSON

    /// A legacy CMR JSON entry: `title` is the GranuleUR, `time_start`/`time_end`, `boxes`
    /// ("S W N E"), `polygons` (rings of "lat lon …"), `points` ("lat lon"), `links`.
    package static func atomEntry(_ entry: JSONValue, context: ReaderContext) throws(NormalizeError) -> Record {
        guard case .object = entry else { throw NormalizeError("entry is not a JSON object") }
        guard let ur = entry["title"]?.stringValue, !ur.isEmpty else { throw .missing("title") }
        var record = Record(
            id: ur,
            collection: context.collection,
            owner: context.owner,
            source: context.source
        )
        guard let start = entry["time_start"] else { throw .missing("time_start") }
        if let end = entry["time_end"] {
            record.startDatetime = try instant(start, "time_start")
            record.endDatetime = try instant(end, "time_end")
        } else {
            record.datetime = try instant(start, "time_start")
        }

        var polygons: [[[Footprint.Point]]] = []
        for (i, box) in (entry["boxes"]?.arrayValue ?? []).enumerated() {
            let v = try numbers(box, "boxes[\(i)]", count: 4)
            guard (-90...90).contains(v[0]), (-90...90).contains(v[2]), v[0] <= v[2], abs(v[1]) <= 180,
                abs(v[3]) <= 180
            else { throw .unparseable("boxes[\(i)]", box.serializedString()) }
            polygons.append([self.box(west: v[1], south: v[0], east: v[3], north: v[2])])
        }
        for (i, polygon) in (entry["polygons"]?.arrayValue ?? []).enumerated() {
            var rings: [[Footprint.Point]] = []
            for (k, ring) in (polygon.arrayValue ?? []).enumerated() {
                let field = "polygons[\(i)][\(k)]"
                let v = try numbers(ring, field, count: nil)
                var points: [Footprint.Point] = []
                for j in stride(from: 0, to: v.count, by: 2) {
                    guard abs(v[j]) <= 90, abs(v[j + 1]) <= 180 else {
                        throw .unparseable(field, ring.serializedString())
                    }
                    points.append((x: v[j + 1], y: v[j]))
                }
                if points.count > 1, points.first! == points.last! { points.removeLast() }
                guard points.count >= 3 else { throw NormalizeError(field: field, "a polygon needs three points") }
                rings.append(points)
            }
            if !rings.isEmpty { polygons.append(rings) }
        }
        if !polygons.isEmpty {
            let spatial = assemble(polygons)
            record.geometry = spatial.geometry
            record.bbox = spatial.bbox
        } else if let point = entry["points"]?.arrayValue?.first {
            let v = try numbers(point, "points[0]", count: 2)
            guard abs(v[0]) <= 90, abs(v[1]) <= 180 else { throw .unparseable("points[0]", point.serializedString()) }
            record.geometry = .object(["type": "Point", "coordinates": .array([.number(v[1]), .number(v[0])])])
            record.bbox = [v[1], v[0], v[1], v[0]]
        }

        var p = JSONObject()
        if let cloud = entry["cloud_cover"] {
            let value: Double? = cloud.stringValue.flatMap(TextBytes.decimal) ?? cloud.doubleValue
            guard let value, (0...100).contains(value) else {
                throw .unparseable("cloud_cover", cloud.serializedString())
            }
            p["eo:cloud_cover"] = .number(value)
            record.stacExtensions.append(Schema.eo)
        }
        p["cmr:granule_ur"] = .string(ur)
        if let id = entry["id"]?.stringValue { p["cmr:concept_id"] = .string(id) }
        if let dataset = entry["dataset_id"]?.stringValue { p["cmr:collection"] = .string(dataset) }
        if let flag = entry["day_night_flag"]?.stringValue { p["cmr:day_night_flag"] = .string(flag) }
        record.properties = p

        var keys: Set<String> = []
        for link in entry["links"]?.arrayValue ?? [] where link["inherited"] != .bool(true) {
            guard let href = link["href"]?.stringValue, isAbsoluteURL(href) else { continue }
            let rel = link["rel"]?.stringValue ?? ""
            let kind: String
            if rel.hasSuffix("/data#") {
                kind = "GET DATA"
            } else if rel.hasSuffix("/s3#") {
                kind = "GET DATA VIA DIRECT ACCESS"
            } else if rel.hasSuffix("/browse#") {
                kind = "GET RELATED VISUALIZATION"
            } else if rel.hasSuffix("/service#") {
                kind = "USE SERVICE API"
            } else {
                kind = "VIEW RELATED INFORMATION"
            }
            guard let (base, roles) = assetKind(type: kind, subtype: "", url: href) else { continue }
            record.assets.append(
                Asset(
                    key: unique(base, in: &keys),
                    href: href,
                    title: link["title"]?.stringValue,
                    mediaType: link["type"]?.stringValue,
                    roles: roles
                )
            )
        }
        return record
    }

    /// "S W N E" or "lat lon …" text (or an array of numbers) → numbers.
    private static func numbers(_ value: JSONValue, _ field: String, count: Int?) throws(NormalizeError) -> [Double] {
        var out: [Double] = []
        if let text = value.stringValue {
            for token in text.split(separator: " ") {
                guard let v = TextBytes.decimal(String(token)) else { throw .unparseable(field, text) }
                out.append(v)
            }
        } else if let array = value.arrayValue {
            for v in array {
                guard let d = v.doubleValue else { throw .unparseable(field, value.serializedString()) }
                out.append(d)
            }
        }
        if let count, out.count != count { throw .unparseable(field, value.serializedString()) }
        if count == nil, out.count % 2 != 0 || out.isEmpty { throw .unparseable(field, value.serializedString()) }
        return out
    }

    // MARK: Shared

    /// Which RelatedUrls become assets: the data (HTTP and S3), browse images, OPeNDAP and
    /// related documentation. Base key and roles.
    private static func assetKind(type: String, subtype: String, url: String) -> (String, [String])? {
        switch type {
        case "GET DATA": return subtype.contains("OPENDAP") ? ("opendap", ["data"]) : ("data", ["data"])
        case "GET DATA VIA DIRECT ACCESS": return ("data_s3", ["data"])
        case "GET RELATED VISUALIZATION": return ("browse", ["overview"])
        case "USE SERVICE API", "GET SERVICE":
            return subtype.contains("OPENDAP") || url.contains("opendap") ? ("opendap", ["data"]) : nil
        case "VIEW RELATED INFORMATION", "EXTENDED METADATA": return ("metadata", ["metadata"])
        default: return nil
        }
    }

    /// `file:size` and `file:checksum` (multihash) from an ArchiveAndDistributionInformation entry.
    private static func addFileFields(
        _ info: JSONValue,
        to extra: inout JSONObject,
        field: String
    )
        throws(NormalizeError)
    {
        if let size = info["SizeInBytes"] {
            // A whole number of bytes an Int64 holds: 1e300 would trap in the conversion.
            guard let bytes = size.doubleValue, bytes >= 0, let count = Int64(exactly: bytes) else {
                throw .unparseable("\(field).SizeInBytes", size.serializedString())
            }
            extra["file:size"] = .int(count)
        }
        if let checksum = info["Checksum"], let value = checksum["Value"]?.stringValue,
            let algorithm = checksum["Algorithm"]?.stringValue
        {
            let codes: [String: (code: String, bytes: Int)] = [
                "MD5": ("d5", 16), "SHA-1": ("11", 20), "SHA-256": ("12", 32), "SHA-512": ("13", 64),
            ]
            guard let code = codes[algorithm.uppercased()] else { return }
            let hex = value.lowercased()
            guard hex.utf8.count == code.bytes * 2,
                hex.utf8.allSatisfy({ TextBytes.isDigit($0) || ($0 >= 0x61 && $0 <= 0x66) })
            else { throw .unparseable("\(field).Checksum.Value", value) }
            extra["file:checksum"] = .string(code.code + String(code.bytes, radix: 16) + hex)
        }
    }

    private static func unique(_ base: String, in keys: inout Set<String>) -> String {
        var key = base
        var n = 2
        while !keys.insert(key).inserted {
            key = "\(base)_\(n)"
            n += 1
        }
        return key
    }

    private static func isAbsoluteURL(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), colon > text.startIndex,
            text[..<colon].utf8.allSatisfy({ TextBytes.isNameByte($0) || $0 == UInt8(ascii: "+") }),
            !text.utf8.contains(where: { $0 <= 0x20 })
        else { return false }
        return URL(string: text) != nil
    }

    private static func lastPathComponent(_ url: String) -> String {
        let path = url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
        return path.split(separator: "/").last.map(String.init) ?? path
    }

    /// An RFC 3339 instant; a UMM-G time without a zone is UTC, a bare date is its midnight.
    package static func instant(_ value: JSONValue?, _ field: String) throws(NormalizeError) -> Date {
        guard let value else { throw .missing(field) }
        guard let text = value.stringValue else { throw .unparseable(field, value.serializedString()) }
        if let date = Timestamp.parse(text) ?? Timestamp.parse(text + "Z") ?? Timestamp.parse(text + "T00:00:00Z") {
            return date
        }
        throw .unparseable(field, text)
    }
}
