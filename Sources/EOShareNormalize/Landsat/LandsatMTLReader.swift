import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// Reads a Landsat Collection 2 MTL (Level-1 or Level-2; MSS, TM, ETM+, OLI/TIRS; ODL, JSON
/// or XML) into a `Record` shaped like the items stactools-landsat writes: same id, properties,
/// asset keys and titles, so our catalog reads like the reference one.
public enum LandsatMTLReader {
    /// The `stac_extensions` schema URLs this reader may declare (copies in `shared/stac-schemas`).
    public enum Schema {
        public static let eo = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
        public static let view = "https://stac-extensions.github.io/view/v1.0.0/schema.json"
        public static let projection = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
        public static let landsat = "https://stac-extensions.github.io/landsat/v2.0.0/schema.json"
        public static let scientific = "https://stac-extensions.github.io/scientific/v1.0.0/schema.json"
    }

    /// Parses MTL bytes in any encoding and builds the record. Throws a `NormalizeError` naming
    /// the MTL field (or the line of a malformed file) when a required field is missing or a
    /// present one cannot be parsed.
    /// `angle`: the bytes of the product's `_ANG.txt` when the bundle has one; the footprint
    /// then comes from it, as stactools takes it.
    public static func read(
        _ bytes: [UInt8],
        angle: [UInt8]? = nil,
        context: ReaderContext
    ) throws(NormalizeError) -> Record {
        try read(MTLDocument(parsing: bytes), angle: angle, context: context)
    }

    /// Builds the record from an already parsed MTL.
    public static func read(
        _ document: MTLDocument,
        angle: [UInt8]? = nil,
        context: ReaderContext
    ) throws(NormalizeError) -> Record {
        guard document.rootName == "LANDSAT_METADATA_FILE" else {
            throw NormalizeError("not a Landsat Collection 2 MTL: root group is \(document.rootName)")
        }
        let mtl = MTLFields(document: document)

        let productID = try mtl.required(.product, "LANDSAT_PRODUCT_ID")
        let id = try itemID(productID)
        let satellite = try satelliteNumber(mtl, productID: productID)
        let sensor = try sensorKind(mtl, productID: productID, satellite: satellite)
        let processingLevel = mtl.text(.product, "PROCESSING_LEVEL") ?? String(id.split(separator: "_")[1])
        let level = processingLevel.hasPrefix("L2") ? 2 : 1

        let datetime = try sceneDatetime(mtl)
        let processed = try mtl.date(level == 2 ? .level2 : .level1, "DATE_PRODUCT_GENERATED")
        let footprint = try LandsatFootprint(mtl, angle: try angle.map(LandsatAngleCorners.init(parsing:)))

        var properties = JSONObject()
        var extensions: [String] = []
        properties["platform"] = .string("landsat-\(satellite)")
        properties["instruments"] = .array(sensor.instruments.map(JSONValue.string))
        properties["gsd"] = .number(sensor.gsd)
        // CLOUD_COVER is -1 when USGS could not assess it; eo:cloud_cover has no "unknown".
        if let cloud = try mtl.double(.image, "CLOUD_COVER"), cloud >= 0 {
            guard cloud <= 100 else { throw .unparseable("CLOUD_COVER", String(cloud)) }
            properties["eo:cloud_cover"] = .number(cloud)
            extensions.append(Schema.eo)
        }
        try addView(mtl, to: &properties, extensions: &extensions)
        try addProjection(mtl, to: &properties, extensions: &extensions)
        try addLandsat(mtl, level: processingLevel, to: &properties, extensions: &extensions)
        if let doi = mtl.text(.product, "DIGITAL_OBJECT_IDENTIFIER") {
            properties["sci:doi"] = .string(doi.hasPrefix(doiPrefix) ? String(doi.dropFirst(doiPrefix.count)) : doi)
            extensions.append(Schema.scientific)
        }

        let product = LandsatAssetSpec.Product(
            productID: productID,
            sensor: sensor,
            satellite: satellite,
            level: level
        )
        let assets = try makeAssets(mtl, product: product, context: context)
        if !extensions.contains(Schema.eo), assets.contains(where: { $0.extra["eo:bands"] != nil }) {
            extensions.insert(Schema.eo, at: 0)
        }

        return Record(
            id: id,
            collection: context.collection,
            owner: context.owner,
            source: context.source,
            datetime: datetime,
            processed: processed,
            geometry: footprint.geometry,
            bbox: footprint.bbox,
            properties: properties,
            stacExtensions: extensions,
            assets: assets
        )
    }

    private static let doiPrefix = "https://doi.org/"

    /// stactools' item id: the product id without its processing date, since products that
    /// differ only by processing date are the same scene (`LC08_L2SP_047027_20201204_02_T1`).
    package static func itemID(_ productID: String) throws(NormalizeError) -> String {
        let parts = productID.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 7, parts.allSatisfy({ !$0.isEmpty }),
            productID.utf8.allSatisfy({ MTLFields.isIDByte($0) }), parts[0].count == 4, parts[0].hasPrefix("L")
        else { throw .unparseable("LANDSAT_PRODUCT_ID", productID) }
        return (parts[0..<4] + parts[5..<7]).joined(separator: "_")
    }

    private static func satelliteNumber(_ mtl: MTLFields, productID: String) throws(NormalizeError) -> Int {
        if let spacecraft = mtl.text(.image, "SPACECRAFT_ID") {
            guard spacecraft.hasPrefix("LANDSAT_"), let n = Int(spacecraft.dropFirst(8)), (1...99).contains(n) else {
                throw .unparseable("SPACECRAFT_ID", spacecraft)
            }
            return n
        }
        guard let n = Int(productID.dropFirst(2).prefix(2)) else { throw .unparseable("LANDSAT_PRODUCT_ID", productID) }
        return n
    }

    private static func sensorKind(
        _ mtl: MTLFields,
        productID: String,
        satellite: Int
    ) throws(NormalizeError) -> LandsatSensor {
        if let sensorID = mtl.text(.image, "SENSOR_ID") {
            guard let sensor = LandsatSensor(sensorID: sensorID) else { throw .unparseable("SENSOR_ID", sensorID) }
            return sensor
        }
        guard let sensor = LandsatSensor(productID: productID, satellite: satellite) else {
            throw .unparseable("LANDSAT_PRODUCT_ID", productID)
        }
        return sensor
    }

    /// DATE_ACQUIRED + SCENE_CENTER_TIME, in UTC.
    private static func sceneDatetime(_ mtl: MTLFields) throws(NormalizeError) -> Date {
        let date = try mtl.required(.image, "DATE_ACQUIRED")
        guard date.utf8.count == 10, Timestamp.parse(date + "T00:00:00Z") != nil else {
            throw .unparseable("DATE_ACQUIRED", date)
        }
        var time = try mtl.required(.image, "SCENE_CENTER_TIME")
        if let last = time.utf8.last, last >= 0x30, last <= 0x39 { time += "Z" }
        guard let instant = Timestamp.parse(date + "T" + time) else { throw .unparseable("SCENE_CENTER_TIME", time) }
        return instant
    }

    /// view:off_nadir as stactools: |ROLL_ANGLE| for OFFNADIR acquisitions, else 0 (only
    /// Landsat 8-9 can point off nadir); the sun azimuth turned from −180…180 into 0…360.
    private static func addView(
        _ mtl: MTLFields,
        to properties: inout JSONObject,
        extensions: inout [String]
    ) throws(NormalizeError) {
        var any = false
        if mtl.text(.image, "NADIR_OFFNADIR") == "OFFNADIR" {
            if let roll = try mtl.double(.image, "ROLL_ANGLE") {
                guard abs(roll) <= 90 else { throw .unparseable("ROLL_ANGLE", String(roll)) }
                properties["view:off_nadir"] = .number(abs(roll))
                any = true
            }
        } else {
            properties["view:off_nadir"] = .number(0)
            any = true
        }
        if let azimuth = try mtl.double(.image, "SUN_AZIMUTH") {
            guard (-180...360).contains(azimuth) else { throw .unparseable("SUN_AZIMUTH", String(azimuth)) }
            properties["view:sun_azimuth"] = .number(azimuth < 0 ? azimuth + 360 : azimuth)
            any = true
        }
        if let elevation = try mtl.double(.image, "SUN_ELEVATION") {
            guard (-90...90).contains(elevation) else { throw .unparseable("SUN_ELEVATION", String(elevation)) }
            properties["view:sun_elevation"] = .number(elevation)
            any = true
        }
        if any { extensions.append(Schema.view) }
    }

    /// proj:code, proj:shape and proj:transform of the reflective grid.
    private static func addProjection(
        _ mtl: MTLFields,
        to properties: inout JSONObject,
        extensions: inout [String]
    ) throws(NormalizeError) {
        var any = false
        if let code = try projectionCode(mtl) {
            properties["proj:code"] = .string(code)
            any = true
        }
        let lines = try mtl.int(.projection, "REFLECTIVE_LINES")
        let samples = try mtl.int(.projection, "REFLECTIVE_SAMPLES")
        if let lines, let samples, lines > 0, samples > 0 {
            properties["proj:shape"] = .array([.int(Int64(lines)), .int(Int64(samples))])
            any = true
            if let transform = try gridTransform(mtl, lines: lines, samples: samples) {
                properties["proj:transform"] = .array(transform.map(JSONValue.number))
            }
        }
        if any { extensions.append(Schema.projection) }
    }

    /// `EPSG:326NN` for UTM, always the north zone as stactools does: USGS grids southern
    /// scenes in the north zone with negative northings, so 327NN would misplace the transform.
    /// Polar stereographic: EPSG:3031 (true scale −71°) or EPSG:3995 (+71°).
    private static func projectionCode(_ mtl: MTLFields) throws(NormalizeError) -> String? {
        if let zone = try mtl.int(.projection, "UTM_ZONE") {
            guard (1...60).contains(zone) else { throw .unparseable("UTM_ZONE", String(zone)) }
            return zone < 10 ? "EPSG:3260\(zone)" : "EPSG:326\(zone)"
        }
        if mtl.text(.projection, "MAP_PROJECTION") == "PS",
            let trueScale = try mtl.double(.projection, "TRUE_SCALE_LAT")
        {
            if trueScale == -71 { return "EPSG:3031" }
            if trueScale == 71 { return "EPSG:3995" }
        }
        return nil
    }

    /// The affine transform of the reflective grid. The MTL gives pixel-centre corners; GDAL
    /// transforms count from pixel edges, so move out by half a cell (as stactools does).
    private static func gridTransform(
        _ mtl: MTLFields,
        lines: Int,
        samples: Int
    ) throws(NormalizeError) -> [Double]? {
        guard let cell = try mtl.reflectiveCellSize() else { return nil }
        var xs: [Double] = []
        var ys: [Double] = []
        for corner in ["UL", "UR", "LL", "LR"] {
            let xKey = "CORNER_\(corner)_PROJECTION_X_PRODUCT"
            let yKey = "CORNER_\(corner)_PROJECTION_Y_PRODUCT"
            guard let x = try mtl.double(.projection, xKey), let y = try mtl.double(.projection, yKey) else {
                return nil
            }
            // Metres from the projection's origin: UTM and polar grids stay within 10,000 km.
            // A finite 1e308 would make the transform's differences infinite (null in the item).
            guard abs(x) <= 1e8 else { throw .unparseable(xKey, String(x)) }
            guard abs(y) <= 1e8 else { throw .unparseable(yKey, String(y)) }
            xs.append(x)
            ys.append(y)
        }
        let half = cell / 2
        let west = xs.min()! - half
        let east = xs.max()! + half
        let south = ys.min()! - half
        let north = ys.max()! + half
        return [(east - west) / Double(samples), 0, west, 0, (south - north) / Double(lines), north]
    }

    /// The landsat:* fields; the extension is declared only when all its required fields are there.
    private static func addLandsat(
        _ mtl: MTLFields,
        level: String,
        to properties: inout JSONObject,
        extensions: inout [String]
    ) throws(NormalizeError) {
        var count = 0
        func put(_ key: String, _ value: JSONValue?) {
            guard let value else { return }
            properties[key] = value
            count += 1
        }
        put("landsat:wrs_type", mtl.text(.image, "WRS_TYPE").map(JSONValue.string))
        put("landsat:wrs_path", try mtl.wrs("WRS_PATH").map(JSONValue.string))
        put("landsat:wrs_row", try mtl.wrs("WRS_ROW").map(JSONValue.string))
        put("landsat:collection_category", mtl.text(.product, "COLLECTION_CATEGORY").map(JSONValue.string))
        put("landsat:collection_number", mtl.text(.product, "COLLECTION_NUMBER").map(JSONValue.string))
        put("landsat:correction", .string(level))
        put("landsat:scene_id", mtl.text(.level1, "LANDSAT_SCENE_ID").map(JSONValue.string))
        let land = try mtl.double(.image, "CLOUD_COVER_LAND")
        // -1 when USGS could not assess it, as CLOUD_COVER.
        if let land, !(-1...100).contains(land) { throw .unparseable("CLOUD_COVER_LAND", String(land)) }
        put("landsat:cloud_cover_land", land.map(JSONValue.number))
        if count == 8 { extensions.append(Schema.landsat) }
    }

    /// One asset per FILE_NAME_* of PRODUCT_CONTENTS, plus the companions stactools lists
    /// (thumbnails, MTL.json) when they are in the bundle or are the object itself.
    private static func makeAssets(
        _ mtl: MTLFields,
        product: LandsatAssetSpec.Product,
        context: ReaderContext
    ) throws(NormalizeError) -> [Asset] {
        let contents = mtl.document.values(in: MTLFields.Group.product.rawValue)
        var named: [(fileName: String, mtlKey: String, spec: LandsatAssetSpec)] = []
        named.reserveCapacity(contents.count + 3)
        var fileNames = Set<String>(minimumCapacity: contents.count + 3)
        for (mtlKey, fileName) in contents where mtlKey.hasPrefix("FILE_NAME_") {
            guard !fileName.isEmpty, fileName != "NULL" else { continue }
            guard isPlainFileName(fileName) else { throw .unparseable(mtlKey, fileName) }
            let spec = LandsatAssetSpec.spec(mtlKey: mtlKey, fileName: fileName, product: product)
            if fileNames.insert(fileName).inserted { named.append((fileName, mtlKey, spec)) }
        }
        let objectName = context.objectURL.lastPathComponent
        for (fileName, spec) in LandsatAssetSpec.companions(productID: product.productID, level: product.level)
        where !fileNames.contains(fileName) && (context.localFiles[fileName] != nil || objectName == fileName) {
            fileNames.insert(fileName)
            named.append((fileName, "", spec))
        }
        // stactools' order; files it does not know go last, by MTL key.
        named.sort { ($0.spec.rank, $0.mtlKey, $0.fileName) < ($1.spec.rank, $1.mtlKey, $1.fileName) }

        let folder = Normalizer.folder(of: context.objectURL)
        var keys = Set<String>(minimumCapacity: named.count)
        var assets: [Asset] = []
        assets.reserveCapacity(named.count)
        for (fileName, _, spec) in named {
            var key = spec.key
            if !keys.insert(key).inserted {
                key = LandsatAssetSpec.fileCode(fileName, productID: product.productID).lowercased()
                guard keys.insert(key).inserted else { continue }
            }
            var extra = JSONObject()
            if let description = spec.description { extra["description"] = .string(description) }
            for (k, v) in spec.extra.entries { extra[k] = v }
            let href: String
            let localFile = context.localFiles[fileName]
            if localFile != nil {
                href = fileName
            } else {
                guard let remote = Normalizer.href(fileName, besideFolder: folder, objectURL: context.objectURL) else {
                    throw .unparseable("FILE_NAME", fileName)
                }
                href = remote
            }
            assets.append(
                Asset(
                    key: key,
                    href: href,
                    title: spec.title,
                    mediaType: LandsatAssetSpec.mediaType(of: fileName),
                    roles: spec.roles,
                    extra: extra,
                    localFile: localFile
                )
            )
        }
        return assets
    }

    /// A file name that stays inside the item folder and in sight: no separators, no leading
    /// dot (so no `..`), no control bytes.
    private static func isPlainFileName(_ name: String) -> Bool {
        guard !name.hasPrefix("."), name.utf8.count <= 255 else { return false }
        return name.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "\\") }
    }
}

// MARK: - Field access

/// Typed access to MTL fields; errors name the MTL key.
package struct MTLFields {
    package enum Group: String {
        case product = "PRODUCT_CONTENTS"
        case image = "IMAGE_ATTRIBUTES"
        case projection = "PROJECTION_ATTRIBUTES"
        case level1 = "LEVEL1_PROCESSING_RECORD"
        case level2 = "LEVEL2_PROCESSING_RECORD"
        case level1Projection = "LEVEL1_PROJECTION_PARAMETERS"
    }

    package let document: MTLDocument

    /// The value, or nil when absent, empty or `NULL`.
    package func text(_ group: Group, _ key: String) -> String? {
        guard let value = document[group.rawValue, key], !value.isEmpty, value != "NULL" else { return nil }
        return value
    }

    package func required(_ group: Group, _ key: String) throws(NormalizeError) -> String {
        guard let value = text(group, key) else { throw .missing(key) }
        return value
    }

    package func double(_ group: Group, _ key: String) throws(NormalizeError) -> Double? {
        guard let value = text(group, key) else { return nil }
        guard let number = TextBytes.decimal(value) else { throw .unparseable(key, value) }
        return number
    }

    package func requiredDouble(_ group: Group, _ key: String) throws(NormalizeError) -> Double {
        guard let number = try double(group, key) else { throw .missing(key) }
        return number
    }

    package func int(_ group: Group, _ key: String) throws(NormalizeError) -> Int? {
        guard let value = text(group, key) else { return nil }
        guard value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int(value) else {
            throw .unparseable(key, value)
        }
        return number
    }

    package func date(_ group: Group, _ key: String) throws(NormalizeError) -> Date? {
        guard let value = text(group, key) else { return nil }
        guard let date = Timestamp.parse(value) else { throw .unparseable(key, value) }
        return date
    }

    /// WRS path or row, zero-padded to three digits as stactools writes them.
    package func wrs(_ key: String) throws(NormalizeError) -> String? {
        guard let number = try int(.image, key) else { return nil }
        guard (1...999).contains(number) else { throw .unparseable(key, String(number)) }
        let digits = String(number)
        return String(repeating: "0", count: 3 - digits.count) + digits
    }

    /// GRID_CELL_SIZE_REFLECTIVE, from PROJECTION_ATTRIBUTES or the Level-1 projection record.
    package func reflectiveCellSize() throws(NormalizeError) -> Double? {
        var size = try double(.projection, "GRID_CELL_SIZE_REFLECTIVE")
        if size == nil { size = try double(.level1Projection, "GRID_CELL_SIZE_REFLECTIVE") }
        guard let size else { return nil }
        // Metres: 15 to 60 for Landsat; 1e300 would widen the footprint past the planet.
        guard size > 0, size <= 10_000 else { throw .unparseable("GRID_CELL_SIZE_REFLECTIVE", String(size)) }
        return size
    }

    package static func isIDByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }
}

// MARK: - Footprint

/// The scene footprint.
///
/// The MTL box: as stactools computes it, the MTL's four product corners (pixel centres)
/// widened by half a reflective cell so it reaches the pixel edges.
/// geometry: with an angle file (`_ANG.txt`), the scene's four image corners from it, placed
/// in the MTL box as stactools places them (the valid-data quadrilateral of the tilted
/// scene); otherwise the MTL's corner quadrilateral.
/// bbox: the bounds of the geometry with an angle file, else the MTL box; west > east when
/// the scene crosses the antimeridian (STAC). Counter-clockwise and closed; split at ±180° into
/// a MultiPolygon when the scene crosses the antimeridian (RFC 7946 §3.1.9).
package struct LandsatFootprint {
    package let geometry: JSONValue
    package let bbox: [Double]

    package init(_ mtl: MTLFields, angle: LandsatAngleCorners? = nil) throws(NormalizeError) {
        // UL, LL, LR, UR: down the west side, along the south, up the east side.
        var lats: [Double] = []
        var lons: [Double] = []
        for corner in ["UL", "LL", "LR", "UR"] {
            let latKey = "CORNER_\(corner)_LAT_PRODUCT"
            let lonKey = "CORNER_\(corner)_LON_PRODUCT"
            let lat = try mtl.requiredDouble(.projection, latKey)
            let lon = try mtl.requiredDouble(.projection, lonKey)
            guard (-90...90).contains(lat) else { throw .unparseable(latKey, String(lat)) }
            guard (-180...180).contains(lon) else { throw .unparseable(lonKey, String(lon)) }
            lats.append(lat)
            lons.append(lon)
        }
        let crosses = Footprint.crossesAntimeridian(lons)
        if crosses { lons = lons.map { $0 < 0 ? $0 + 360 : $0 } }
        let half = try mtl.reflectiveCellSize().map { $0 / 2 } ?? 0
        let box = Self.unwrappedBBox(lats: lats, lons: lons, halfCell: half, crosses: crosses)

        var ring: [Footprint.Point]
        if let angle {
            // stactools: x = sample / samples · Δlon + west, y = (lines − line) / lines · Δlat + south.
            let dLon = box[2] - box[0]
            let dLat = box[3] - box[1]
            ring = zip(angle.lines, angle.samples).map { line, sample in
                (
                    x: Footprint.round6(sample / angle.sampleCount * dLon + box[0]),
                    y: Footprint.round6((angle.lineCount - line) / angle.lineCount * dLat + box[1])
                )
            }
        } else {
            ring = zip(lons, lats).map { (x: $0, y: $1) }
        }
        if Footprint.signedArea(ring) < 0 { ring.reverse() }
        self.geometry = Footprint.geometry(unwrappedRing: ring, crosses: crosses)
        // The bbox bounds the geometry: with an angle file, its four corners (stactools then
        // takes the bbox from the geometry too); without, the widened MTL corners.
        if angle != nil {
            let xs = ring.map(\.x)
            let ys = ring.map(\.y)
            self.bbox = Self.wrapped([xs.min()!, ys.min()!, xs.max()!, ys.max()!], crosses: crosses)
        } else {
            self.bbox = Self.wrapped(box, crosses: crosses)
        }
    }

    /// [west, south, east, north] with longitudes past 180 when the scene crosses.
    private static func unwrappedBBox(lats: [Double], lons: [Double], halfCell: Double, crosses: Bool) -> [Double] {
        // Corners in order UL, LL, LR, UR; offsets in degrees for half a cell along each edge.
        func offset(_ a: Int, _ b: Int, along degrees: Double) -> Double {
            let d = distance(lats[a], lons[a], lats[b], lons[b])
            return d > 0 ? halfCell * abs(degrees) / d : 0
        }
        let top = offset(0, 3, along: lons[3] - lons[0])
        let bottom = offset(1, 2, along: lons[2] - lons[1])
        let side = offset(0, 1, along: lats[0] - lats[1])
        var west = lons.min()! - bottom
        var east = lons.max()! + top
        if !crosses {
            west = max(-180, west)
            east = min(180, east)
        }
        return [west, max(-90, lats.min()! - side), east, min(90, lats.max()! + side)]
    }

    private static func wrapped(_ box: [Double], crosses: Bool) -> [Double] {
        var out = box
        if crosses {
            if out[0] > 180 { out[0] -= 360 }
            if out[2] > 180 { out[2] -= 360 }
        }
        return out.map(Footprint.round6)
    }

    /// Great-circle distance in metres (mean Earth radius); close enough to stactools' WGS84
    /// geodesic for a half-pixel offset (differences below 1e-5°).
    private static func distance(_ lat1: Double, _ lon1: Double, _ lat2: Double, _ lon2: Double) -> Double {
        let rad = Double.pi / 180
        let dLat = (lat2 - lat1) * rad
        let dLon = (lon2 - lon1) * rad
        let a = sin(dLat / 2) * sin(dLat / 2) + cos(lat1 * rad) * cos(lat2 * rad) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * 6_371_008.8 * asin(min(1, a.squareRoot()))
    }
}

/// The four scene corners of an angle coefficient file (`_ANG.txt`), band 1's L1T image
/// corners in lines and samples of its grid: all stactools reads from it for the footprint.
package struct LandsatAngleCorners: Sendable, Hashable {
    package let lineCount: Double
    package let sampleCount: Double
    package let lines: [Double]
    package let samples: [Double]

    /// Scans the ODL text line by line for the four keys (they come early in the file, so the
    /// scan stops long before the per-detector coefficients). Errors name the key.
    package init(parsing bytes: [UInt8]) throws(NormalizeError) {
        var found: [String: [Double]] = [:]
        let keys = [
            "BAND01_NUM_L1T_LINES", "BAND01_NUM_L1T_SAMPS", "BAND01_L1T_IMAGE_CORNER_LINES",
            "BAND01_L1T_IMAGE_CORNER_SAMPS",
        ]
        var position = 0
        let n = bytes.count
        while position < n, found.count < keys.count {
            var end = position
            while end < n, bytes[end] != 0x0A { end += 1 }
            let range = TextBytes.trimmed(bytes, position, end)
            position = end + 1
            guard range.count > 7, bytes[range.lowerBound] == UInt8(ascii: "B"),
                let eq = bytes[range].firstIndex(of: UInt8(ascii: "="))
            else { continue }
            let key = TextBytes.text(bytes[TextBytes.trimmed(bytes, range.lowerBound, eq)])
            guard keys.contains(key) else { continue }
            var value = TextBytes.text(bytes[TextBytes.trimmed(bytes, eq + 1, range.upperBound)])
            if value.hasPrefix("(") {
                guard value.hasSuffix(")") else { throw .unparseable(key, value) }
                value = String(value.dropFirst().dropLast())
            }
            var numbers: [Double] = []
            for part in value.split(separator: ",") {
                guard let number = TextBytes.decimal(TextBytes.trimmed(String(part))) else {
                    throw .unparseable(key, value)
                }
                numbers.append(number)
            }
            found[key] = numbers
        }
        // Only the part read is text we keep: check it, not the coefficients after it.
        if let bad = TextBytes.firstInvalidText(bytes, from: TextBytes.afterBOM(bytes), to: position) {
            throw NormalizeError(
                field: "ANG",
                "line \(TextBytes.line(of: bad.offset, in: bytes)): \(bad.reason)"
            )
        }
        for key in keys where found[key] == nil { throw .missing(key) }
        guard let lineCount = found[keys[0]]?.first, found[keys[0]]?.count == 1, lineCount > 0 else {
            throw .unparseable(keys[0], "\(found[keys[0]] ?? [])")
        }
        guard let sampleCount = found[keys[1]]?.first, found[keys[1]]?.count == 1, sampleCount > 0 else {
            throw .unparseable(keys[1], "\(found[keys[1]] ?? [])")
        }
        guard let lines = found[keys[2]], lines.count == 4 else { throw .unparseable(keys[2], "\(found[keys[2]]!)") }
        guard let samples = found[keys[3]], samples.count == 4 else {
            throw .unparseable(keys[3], "\(found[keys[3]]!)")
        }
        self.lineCount = lineCount
        self.sampleCount = sampleCount
        self.lines = lines
        self.samples = samples
    }
}
