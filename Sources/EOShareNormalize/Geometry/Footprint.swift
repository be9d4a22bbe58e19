import EOShareCore
import EOShareFetch
import EOShareUnpack

/// Footprint geometry shared by the readers: a ring of lon/lat points becomes a GeoJSON
/// Polygon, counter-clockwise and closed, or a MultiPolygon split at ±180° when it crosses
/// the antimeridian (RFC 7946 §3.1.9), with its bbox (west > east across the antimeridian,
/// as STAC wants it).
package enum Footprint {
    package typealias Point = (x: Double, y: Double)

    /// Whether a ring spans more than half the globe in longitude: then it crosses ±180°
    /// rather than the long way round.
    /// A ring touching both −180 and 180 spans the globe (a global granule's box) and does not.
    package static func crossesAntimeridian(_ lons: [Double]) -> Bool {
        guard let low = lons.min(), let high = lons.max() else { return false }
        return high - low > 180 && !(low == -180 && high == 180)
    }

    /// The geometry of an open ring (first point not repeated) in any orientation, and its bbox.
    package static func polygon(_ points: [Point]) -> (geometry: JSONValue, bbox: [Double]) {
        let crosses = crossesAntimeridian(points.map(\.x))
        var ring = crosses ? points.map { (x: $0.x < 0 ? $0.x + 360 : $0.x, y: $0.y) } : points
        if signedArea(ring) < 0 { ring.reverse() }
        let xs = ring.map(\.x)
        let ys = ring.map(\.y)
        var west = xs.min() ?? 0
        var east = xs.max() ?? 0
        if west > 180 { west -= 360 }
        if east > 180 { east -= 360 }
        let bbox = [west, ys.min() ?? 0, east, ys.max() ?? 0].map(round6)
        return (geometry(unwrappedRing: ring, crosses: crosses), bbox)
    }

    /// The GeoJSON of a counter-clockwise ring whose longitudes run past 180 when it crosses.
    package static func geometry(unwrappedRing ring: [Point], crosses: Bool) -> JSONValue {
        guard crosses else {
            return .object(["type": .string("Polygon"), "coordinates": .array([closedRing(ring)])])
        }
        let west = clip(ring, keepWest: true)
        let east = clip(ring, keepWest: false).map { (x: $0.x - 360, y: $0.y) }
        let parts = [west, east].filter { $0.count >= 3 }.map { JSONValue.array([closedRing($0)]) }
        return .object(["type": .string("MultiPolygon"), "coordinates": .array(parts)])
    }

    /// Twice the signed planar area; positive for a counter-clockwise ring.
    package static func signedArea(_ ring: [Point]) -> Double {
        var sum = 0.0
        for i in ring.indices {
            let p = ring[i]
            let q = ring[(i + 1) % ring.count]
            sum += p.x * q.y - q.x * p.y
        }
        return sum
    }

    /// The part of an open ring west (or east) of the 180° meridian (Sutherland–Hodgman).
    package static func clip(_ ring: [Point], keepWest: Bool) -> [Point] {
        var out: [Point] = []
        func inside(_ p: Point) -> Bool { keepWest ? p.x <= 180 : p.x >= 180 }
        func add(_ p: Point) {
            if let last = out.last, last.x == p.x, last.y == p.y { return }
            out.append(p)
        }
        for i in ring.indices {
            let p = ring[i]
            let q = ring[(i + 1) % ring.count]
            if inside(p) { add(p) }
            if inside(p) != inside(q) {
                let t = (180 - p.x) / (q.x - p.x)
                add((x: 180, y: round6(p.y + t * (q.y - p.y))))
            }
        }
        if out.count > 1, let first = out.first, let last = out.last, first.x == last.x, first.y == last.y {
            out.removeLast()
        }
        return out
    }

    package static func closedRing(_ ring: [Point]) -> JSONValue {
        var points = ring.map { JSONValue.array([.number($0.x), .number($0.y)]) }
        if let first = points.first { points.append(first) }
        return .array(points)
    }

    package static func round6(_ value: Double) -> Double { (value * 1e6).rounded() / 1e6 }
}

/// The geometry checks every record passes before publication (CONTRACT: "a geometry that is
/// not a valid polygon quarantines the record"): GeoJSON Polygon or MultiPolygon (or Point,
/// for granules that are points), closed rings of at least four positions, finite
/// coordinates within ±180°/±90°, and a bbox of four numbers with south ≤ north.
package enum GeoJSONCheck {
    package static func check(_ geometry: JSONValue, bbox: [Double]?) throws(NormalizeError) {
        switch geometry["type"]?.stringValue {
        case "Polygon":
            try polygon(geometry["coordinates"], path: "geometry")
        case "MultiPolygon":
            guard let polygons = geometry["coordinates"]?.arrayValue, !polygons.isEmpty else {
                throw NormalizeError(field: "geometry", "MultiPolygon without polygons")
            }
            for (i, p) in polygons.enumerated() { try polygon(p, path: "geometry[\(i)]") }
        case "Point":
            guard let p = geometry["coordinates"]?.arrayValue else {
                throw NormalizeError(field: "geometry", "Point without coordinates")
            }
            try position(p, path: "geometry")
        case let other:
            throw NormalizeError(field: "geometry", "type \(other ?? "missing") is not a Polygon or MultiPolygon")
        }
        if let bbox {
            guard bbox.count == 4, bbox.allSatisfy(\.isFinite), bbox[1] <= bbox[3],
                (-90...90).contains(bbox[1]), (-90...90).contains(bbox[3]),
                (-180...180).contains(bbox[0]), (-180...180).contains(bbox[2])
            else { throw NormalizeError(field: "bbox", "\(bbox) is not [west, south, east, north] in degrees") }
        }
    }

    private static func polygon(_ value: JSONValue?, path: String) throws(NormalizeError) {
        guard let rings = value?.arrayValue, !rings.isEmpty else {
            throw NormalizeError(field: path, "polygon without rings")
        }
        for ring in rings {
            guard let points = ring.arrayValue, points.count >= 4 else {
                throw NormalizeError(field: path, "a ring needs at least four positions")
            }
            for p in points { try position(p.arrayValue ?? [], path: path) }
            guard points.first == points.last else { throw NormalizeError(field: path, "ring is not closed") }
        }
    }

    private static func position(_ p: [JSONValue], path: String) throws(NormalizeError) {
        guard p.count >= 2, let x = p[0].doubleValue, let y = p[1].doubleValue, x.isFinite, y.isFinite,
            (-180...180).contains(x), (-90...90).contains(y)
        else { throw NormalizeError(field: path, "position \(JSONValue.array(p).serializedString()) is not lon/lat") }
    }
}
