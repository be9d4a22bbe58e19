import EOShareCore
import Foundation

/// Reads MODIS granule metadata in ECS XML (the `*.hdf.xml` beside each HDF granule, with
/// its `<!DOCTYPE GranuleMetaDataFile SYSTEM "…dtd">`, never fetched) into a `Record` shaped
/// like the items stactools-modis writes: same id, start/end times (RangeBeginning/Ending),
/// tile footprint, `modis:*` tile properties, cloud cover and asset keys.
///
/// Deliberate differences from stactools-modis (also in Docs/normalize-mapping.md#modis-ecs):
/// - the footprint is the sinusoidal tile's outline with its curved sides sampled every
///   1/16 of the tile, not stactools' pixel-densified then simplified ring: the bbox is the
///   same, the vertices differ in number (the outline differs by less than a pixel);
/// - `created`/`updated` keep ECS's millisecond times (stactools writes microseconds);
/// - `processed` (CONTRACT `consortium:processed`) is the ProductionDateTime.
public enum MODISECSReader {
    public enum Schema {
        public static let eo = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
    }

    /// Sphere radius and tile size of the MODIS sinusoidal grid (MODIS land grid, as
    /// stactools-modis' constants).
    static let sphereRadius = 6_371_007.181
    static let tileMeters = 1_111_950.519_77
    static let xMin = -20_015_109.355_8
    static let yMax = 10_007_554.677_9

    /// Products whose nominal datetime is the middle of their range (stactools-modis'
    /// "temporally weighted" products); the others have only start and end.
    static let midpointProducts: Set<String> = ["MCD43A4"]

    public static func read(
        _ bytes: [UInt8],
        name: String,
        context: ReaderContext
    ) throws(NormalizeError) -> Record {
        let root = try MetadataXML.parse(bytes, file: "ECS metadata", skipping: ["OrbitCalculatedSpatialDomain"])
        guard root.hasLocalName("GranuleMetaDataFile") else {
            throw NormalizeError("not MODIS ECS metadata: root element is <\(root.name.prefix(60))>")
        }
        guard let granule = root.child("GranuleURMetaData") else { throw .missing("GranuleURMetaData") }
        let localID = try MetadataXML.required(granule, "ECSDataGranule/LocalGranuleID")
        // MOD09A1.A2022033.h19v10.061.2022042043514.hdf → MOD09A1.A2022033.h19v10.061
        var parts = localID.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count > 1 { parts.removeLast() }
        if parts.count > 1 { parts.removeLast() }
        let id = parts.joined(separator: ".")
        guard !id.isEmpty else { throw .unparseable("LocalGranuleID", localID) }
        let product = try MetadataXML.required(granule, "CollectionMetaData/ShortName")

        let start = try dateTime(granule, "RangeBeginningDate", "RangeBeginningTime")
        let end = try dateTime(granule, "RangeEndingDate", "RangeEndingTime")
        let created = try granule.text(at: "ECSDataGranule/ProductionDateTime").map {
            t throws(NormalizeError) in try ecsTime("ProductionDateTime", t)
        }
        let updated = try granule.text(at: "LastUpdate").map {
            t throws(NormalizeError) in try ecsTime("LastUpdate", t)
        }

        var horizontal: Int?
        var vertical: Int?
        var tileID: String?
        var notProducedCloud: Int?
        for psa in granule.findAll("PSAs/PSA") {
            guard let name = psa.text(at: "PSAName"), let value = psa.text(at: "PSAValue") else { continue }
            switch name {
            case "HORIZONTALTILENUMBER": horizontal = try tileNumber(name, value, in: 0...35)
            case "VERTICALTILENUMBER": vertical = try tileNumber(name, value, in: 0...17)
            case "TileID": tileID = value
            case "QAPERCENTNOTPRODUCEDCLOUD": notProducedCloud = try percent(name, value)
            default: break
            }
        }
        guard let horizontal else { throw .missing("HORIZONTALTILENUMBER") }
        guard let vertical else { throw .missing("VERTICALTILENUMBER") }
        // The cloud cover: the not-produced-for-cloud share, else the parameters' own figure.
        var cloud = notProducedCloud
        if cloud == nil {
            for parameter in granule.findAll("MeasuredParameter/MeasuredParameterContainer") {
                guard let value = parameter.text(at: "QAStats/QAPercentCloudCover") else { continue }
                cloud = try percent("QAPercentCloudCover", value)
                break
            }
        }

        var p = JSONObject()
        var ext: [String] = []
        let platforms = granule.children("Platform").compactMap { $0.text(at: "PlatformShortName")?.lowercased() }
        guard !platforms.isEmpty else { throw .missing("PlatformShortName") }
        var instruments: [String] = []
        for platform in granule.children("Platform") {
            if let i = platform.text(at: "Instrument/InstrumentShortName")?.lowercased(), !instruments.contains(i) {
                instruments.append(i)
            }
        }
        p["instruments"] = .array(instruments.map(JSONValue.string))
        p["platform"] = .string(platforms.joined(separator: ","))
        if let created { p["created"] = .string(Timestamp.format(created)) }
        if let updated { p["updated"] = .string(Timestamp.format(updated)) }
        p["modis:horizontal-tile"] = .int(Int64(horizontal))
        p["modis:vertical-tile"] = .int(Int64(vertical))
        if let tileID { p["modis:tile-id"] = .string(tileID) }
        if let cloud {
            p["eo:cloud_cover"] = .int(Int64(cloud))
            ext.append(Schema.eo)
        }

        let footprint = tileFootprint(horizontal: horizontal, vertical: vertical)
        let datetime =
            midpointProducts.contains(product) ? start.addingTimeInterval(end.timeIntervalSince(start) / 2) : nil

        // The HDF granule beside the metadata; the metadata file itself.
        let hdfName = granule.text(at: "DataFiles/DataFileContainer/DistributedFileName") ?? localID
        var assets: [Asset] = []
        let base = context.objectURL
        let folder = Normalizer.folder(of: base)
        func asset(_ key: String, _ file: String, _ title: String, _ type: String, _ role: String) -> Asset? {
            let plain = Normalizer.baseName(file)
            if let local = context.localFiles[plain] {
                return Asset(key: key, href: plain, title: title, mediaType: type, roles: [role], localFile: local)
            }
            guard let href = Normalizer.href(plain, besideFolder: folder, objectURL: base) else { return nil }
            return Asset(key: key, href: href, title: title, mediaType: type, roles: [role])
        }
        if let hdf = asset("hdf", hdfName, "Source data containing all bands", "application/x-hdf", "data") {
            assets.append(hdf)
        }
        if let meta = asset(
            "metadata",
            Normalizer.baseName(name),
            "Federal Geographic Data Committee (FGDC) Metadata",
            "application/xml",
            "metadata"
        ) {
            assets.append(meta)
        }

        return Record(
            id: id,
            collection: context.collection,
            owner: context.owner,
            source: context.source,
            datetime: datetime,
            startDatetime: start,
            endDatetime: end,
            processed: created,
            geometry: footprint.geometry,
            bbox: footprint.bbox,
            properties: p,
            stacExtensions: ext,
            assets: assets
        )
    }

    /// The outline of sinusoidal tile h/v in lon/lat: its top and bottom are parallels, its
    /// sides curves (x fixed, longitude x / (R cos φ)), sampled every 1/16 of the tile.
    static func tileFootprint(horizontal: Int, vertical: Int) -> (geometry: JSONValue, bbox: [Double]) {
        let left = xMin + Double(horizontal) * tileMeters
        let right = left + tileMeters
        let top = yMax - Double(vertical) * tileMeters
        let bottom = top - tileMeters
        func lonLat(_ x: Double, _ y: Double) -> Footprint.Point {
            let phi = y / sphereRadius
            let lon = min(180, max(-180, (x / (sphereRadius * cos(phi))) * 180 / .pi))
            return (x: Footprint.round6(lon), y: Footprint.round6(min(90, max(-90, phi * 180 / .pi))))
        }
        let steps = 16
        var ring: [Footprint.Point] = []
        for i in 0...steps { ring.append(lonLat(left, top - Double(i) * tileMeters / Double(steps))) }
        for i in 0...steps { ring.append(lonLat(right, bottom + Double(i) * tileMeters / Double(steps))) }
        // Clamping at the projection's edge repeats points: keep each once.
        var distinct: [Footprint.Point] = []
        for point in ring where !distinct.contains(where: { $0.x == point.x && $0.y == point.y }) {
            distinct.append(point)
        }
        return Footprint.polygon(distinct)
    }

    // MARK: Fields

    /// ECS dates and times: `2022-02-02` with `00:00:00.000000` (UTC).
    private static func dateTime(
        _ granule: MarkupElement,
        _ date: String,
        _ time: String
    ) throws(NormalizeError)
        -> Date
    {
        let d = try MetadataXML.required(granule, "RangeDateTime/\(date)")
        let t = try MetadataXML.required(granule, "RangeDateTime/\(time)")
        guard let value = Timestamp.parse("\(d)T\(t)Z") else { throw .unparseable(date, "\(d) \(t)") }
        return value
    }

    /// `2022-02-11 04:35:14.000`, UTC.
    private static func ecsTime(_ field: String, _ text: String) throws(NormalizeError) -> Date {
        guard let value = Timestamp.parse(text + "Z") else { throw .unparseable(field, text) }
        return value
    }

    private static func tileNumber(
        _ field: String,
        _ text: String,
        in range: ClosedRange<Int>
    ) throws(NormalizeError)
        -> Int
    {
        guard let n = Int(text), range.contains(n) else { throw .unparseable(field, text) }
        return n
    }

    private static func percent(_ field: String, _ text: String) throws(NormalizeError) -> Int {
        guard let n = Int(text), (0...100).contains(n) else { throw .unparseable(field, text) }
        return n
    }
}
