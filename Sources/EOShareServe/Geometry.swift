import EOShare

/// A GeoJSON geometry reduced to what an intersection test needs: its points, its segments
/// and its polygons (outer ring, then holes). Planar, in degrees, as STAC API servers do.
struct Geometry: Sendable {
    struct Point: Sendable, Equatable {
        var x: Double
        var y: Double
    }

    var points: [Point] = []
    var segments: [(Point, Point)] = []
    var polygons: [[[Point]]] = []

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// Every vertex (of points, lines and rings).
    var vertices: [Point] { points + segments.flatMap { [$0.0, $0.1] } }

    var bounds: (w: Double, s: Double, e: Double, n: Double)? {
        let all = vertices
        guard let first = all.first else { return nil }
        var b = (w: first.x, s: first.y, e: first.x, n: first.y)
        for p in all {
            b.w = min(b.w, p.x)
            b.e = max(b.e, p.x)
            b.s = min(b.s, p.y)
            b.n = max(b.n, p.y)
        }
        return b
    }

    /// A box as a polygon; a box across the antimeridian (west > east) as two.
    static func box(_ b: [Double]) -> Geometry {
        let (w, s, e, n) = b.count == 6 ? (b[0], b[1], b[3], b[4]) : (b[0], b[1], b[2], b[3])
        var g = Geometry()
        for (x0, x1) in w <= e ? [(w, e)] : [(w, 180), (-180, e)] {
            g.addPolygon([
                [
                    Point(x: x0, y: s), Point(x: x1, y: s), Point(x: x1, y: n), Point(x: x0, y: n), Point(x: x0, y: s),
                ]
            ])
        }
        return g
    }

    /// Parses a GeoJSON geometry object; `what` names it in errors.
    static func parse(_ json: JSONValue, what: String = "geometry") throws -> Geometry {
        guard let type = json["type"]?.stringValue else { throw Invalid(description: "\(what) has no type") }
        var g = Geometry()
        func position(_ v: JSONValue) throws -> Point {
            guard let a = v.arrayValue, a.count >= 2, let x = a[0].doubleValue, let y = a[1].doubleValue,
                x.isFinite, y.isFinite
            else { throw Invalid(description: "\(what) has a position that is not [x, y]") }
            return Point(x: x, y: y)
        }
        func positions(_ v: JSONValue?, minimum: Int) throws -> [Point] {
            guard let a = v?.arrayValue, a.count >= minimum else {
                throw Invalid(description: "\(what) (\(type)) needs at least \(minimum) positions")
            }
            return try a.map(position)
        }
        func rings(_ v: JSONValue?) throws -> [[Point]] {
            guard let a = v?.arrayValue, !a.isEmpty else {
                throw Invalid(description: "\(what) has a polygon without rings")
            }
            return try a.map { ring in
                let r = try positions(ring, minimum: 4)
                guard r.first == r.last else { throw Invalid(description: "\(what) has a ring that is not closed") }
                return r
            }
        }
        let coordinates = json["coordinates"]
        switch type {
        case "Point": g.points.append(try position(coordinates ?? .null))
        case "MultiPoint": g.points += try positions(coordinates, minimum: 0)
        case "LineString": g.addLine(try positions(coordinates, minimum: 2))
        case "MultiLineString":
            guard let lines = coordinates?.arrayValue else { throw Invalid(description: "\(what) has no coordinates") }
            for line in lines { g.addLine(try positions(line, minimum: 2)) }
        case "Polygon": g.addPolygon(try rings(coordinates))
        case "MultiPolygon":
            guard let polygons = coordinates?.arrayValue else {
                throw Invalid(description: "\(what) has no coordinates")
            }
            for p in polygons { g.addPolygon(try rings(p)) }
        case "GeometryCollection":
            guard let members = json["geometries"]?.arrayValue else {
                throw Invalid(description: "\(what) (GeometryCollection) has no geometries")
            }
            for m in members {
                let part = try parse(m, what: what)
                g.points += part.points
                g.segments += part.segments
                g.polygons += part.polygons
            }
        default: throw Invalid(description: "\(what) has an unknown type '\(type)'")
        }
        return g
    }

    mutating func addLine(_ line: [Point]) {
        for i in 1..<line.count { segments.append((line[i - 1], line[i])) }
        if line.count == 1 { points.append(line[0]) }
    }

    mutating func addPolygon(_ rings: [[Point]]) {
        for ring in rings { addLine(ring) }
        polygons.append(rings)
    }

    /// Whether the two share at least one point (touching counts).
    func intersects(_ other: Geometry) -> Bool {
        guard let a = bounds, let b = other.bounds else { return false }
        guard a.w <= b.e, b.w <= a.e, a.s <= b.n, b.s <= a.n else { return false }
        for p in points {
            if other.points.contains(p) || other.segments.contains(where: { Self.onSegment(p, $0) }) { return true }
        }
        for p in other.points where segments.contains(where: { Self.onSegment(p, $0) }) { return true }
        for s in segments {
            for t in other.segments where Self.segmentsIntersect(s, t) { return true }
        }
        // One inside the other: a vertex of one lies in a polygon of the other.
        for polygon in other.polygons {
            for p in vertices where Self.contains(polygon, p) { return true }
        }
        for polygon in polygons {
            for p in other.vertices where Self.contains(polygon, p) { return true }
        }
        return false
    }

    static func cross(_ o: Point, _ a: Point, _ b: Point) -> Double {
        (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
    }

    static func onSegment(_ p: Point, _ s: (Point, Point)) -> Bool {
        cross(s.0, s.1, p) == 0 && min(s.0.x, s.1.x) <= p.x && p.x <= max(s.0.x, s.1.x)
            && min(s.0.y, s.1.y) <= p.y && p.y <= max(s.0.y, s.1.y)
    }

    static func segmentsIntersect(_ s: (Point, Point), _ t: (Point, Point)) -> Bool {
        let d1 = cross(t.0, t.1, s.0)
        let d2 = cross(t.0, t.1, s.1)
        let d3 = cross(s.0, s.1, t.0)
        let d4 = cross(s.0, s.1, t.1)
        if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) { return true }
        return onSegment(s.0, t) || onSegment(s.1, t) || onSegment(t.0, s) || onSegment(t.1, s)
    }

    /// Inside the outer ring and in no hole (a point on a ring counts as inside).
    static func contains(_ polygon: [[Point]], _ p: Point) -> Bool {
        guard let outer = polygon.first, inRing(outer, p) else { return false }
        for hole in polygon.dropFirst() where inRing(hole, p) && !onRing(hole, p) { return false }
        return true
    }

    static func onRing(_ ring: [Point], _ p: Point) -> Bool {
        (1..<ring.count).contains { onSegment(p, (ring[$0 - 1], ring[$0])) }
    }

    /// Even-odd ray casting; the boundary counts as inside.
    static func inRing(_ ring: [Point], _ p: Point) -> Bool {
        if onRing(ring, p) { return true }
        var inside = false
        var j = ring.count - 1
        for i in 0..<ring.count {
            let (a, b) = (ring[i], ring[j])
            if (a.y > p.y) != (b.y > p.y), p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x { inside.toggle() }
            j = i
        }
        return inside
    }
}
