import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// Reads a Sentinel-2 SAFE product (Level-1C or Level-2A, processing baselines 02.xx–05.xx)
/// from its product metadata (`MTD_MSIL1C.xml` / `MTD_MSIL2A.xml`), with `manifest.safe` and
/// the granule's `GRANULE/*/MTD_TL.xml` when the object has them, into a `Record` shaped like
/// the items stactools-sentinel2 writes: same id, properties and asset keys.
///
/// Without the granule metadata the tile-mean sun and view angles and the tile quality
/// percentages are not known: they are omitted, the cloud cover comes from the product's
/// assessment and `proj:code` from the MGRS tile's UTM zone.
public enum Sentinel2SAFEReader {
    public enum Schema {
        public static let eo = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
        public static let sat = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"
        public static let projection = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
        public static let mgrs = "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json"
        public static let grid = "https://stac-extensions.github.io/grid/v1.1.0/schema.json"
        public static let view = "https://stac-extensions.github.io/view/v1.0.0/schema.json"
        public static let sentinel2 = "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json"
    }

    /// The metadata files of one product: names are paths inside the object.
    public struct Input: Sendable {
        public var productName: String
        public var product: [UInt8]
        public var productFile: URL?
        public var manifest: [UInt8]?
        public var manifestFile: URL?
        public var granuleName: String?
        public var granule: [UInt8]?
        public var granuleFile: URL?

        public init(
            productName: String,
            product: [UInt8],
            productFile: URL? = nil,
            manifest: [UInt8]? = nil,
            manifestFile: URL? = nil,
            granuleName: String? = nil,
            granule: [UInt8]? = nil,
            granuleFile: URL? = nil
        ) {
            self.productName = productName
            self.product = product
            self.productFile = productFile
            self.manifest = manifest
            self.manifestFile = manifestFile
            self.granuleName = granuleName
            self.granule = granule
            self.granuleFile = granuleFile
        }
    }

    public static func read(_ input: Input, context: ReaderContext) throws(NormalizeError) -> Record {
        // The spectral response curves are a third of the product metadata and are not used.
        let root = try parse(input.product, file: "product metadata", skipping: ["Spectral_Information_List"])
        guard root.localName.hasPrefix("Level-1C_User_Product") || root.localName.hasPrefix("Level-2A_User_Product")
        else { throw NormalizeError("not Sentinel-2 product metadata: root element is <\(root.name)>") }
        // The per-pixel angle grids are most of a granule's bytes and are not used; of the
        // manifest only the data objects are (the metadata section repeats the product
        // metadata, the package map lists the data objects again).
        let granule = try input.granule.map { b throws(NormalizeError) in
            try parse(b, file: "MTD_TL.xml", skipping: ["Sun_Angles_Grid", "Viewing_Incidence_Angles_Grids"])
        }
        let manifest = try input.manifest.map { b throws(NormalizeError) in
            try parse(b, file: "manifest.safe", skipping: ["metadataSection", "informationPackageMap"])
        }

        guard let info = root.find("General_Info/Product_Info") else { throw .missing("Product_Info") }
        let productURI = try required(info, "PRODUCT_URI")
        guard productURI.hasSuffix(".SAFE") else { throw .unparseable("PRODUCT_URI", productURI) }
        guard let datatake = info.child("Datatake") else { throw .missing("Datatake") }
        guard let granuleNode = info.find("Product_Organisation/Granule_List/Granule") else {
            throw .missing("Granule_List/Granule")
        }
        let datastripID = try requiredAttribute(granuleNode, "datastripIdentifier")
        let id = try itemID(productURI: productURI, datastripID: datastripID)
        let tile = try mgrsTile(productURI)

        let datetime = try date(info, "PRODUCT_START_TIME", required: true)!
        let generation = info.text(at: "GENERATION_TIME")
        let processed = try generation.map { t throws(NormalizeError) in try parseDate("GENERATION_TIME", t) }

        var p = JSONObject()
        var ext: [String] = []
        let spacecraft = try required(datatake, "SPACECRAFT_NAME")
        p["platform"] = .string(spacecraft.lowercased())
        p["constellation"] = .string("sentinel-2")
        p["instruments"] = .array(["msi"])

        // Cloud and snow cover: the tile's own figures when the granule metadata is there.
        let imageQI = granule?.find("Quality_Indicators_Info/Image_Content_QI")
        let cloud: Double?
        if let imageQI, imageQI.child("CLOUDY_PIXEL_PERCENTAGE") != nil {
            cloud = try number(imageQI, "CLOUDY_PIXEL_PERCENTAGE")
        } else {
            cloud = try number(root, "Quality_Indicators_Info/Cloud_Coverage_Assessment")
        }
        if let cloud {
            guard (0...100).contains(cloud) else { throw .unparseable("CLOUDY_PIXEL_PERCENTAGE", "\(cloud)") }
            p["eo:cloud_cover"] = .number(cloud)
        }
        if let imageQI, let snow = try percentage(imageQI, "SNOW_ICE_PERCENTAGE") { p["eo:snow_cover"] = .number(snow) }
        if p["eo:cloud_cover"] != nil || p["eo:snow_cover"] != nil { ext.append(Schema.eo) }

        if let direction = datatake.text(at: "SENSING_ORBIT_DIRECTION") {
            let state = direction.lowercased()
            guard state == "ascending" || state == "descending" else {
                throw .unparseable("SENSING_ORBIT_DIRECTION", direction)
            }
            p["sat:orbit_state"] = .string(state)
        }
        if let orbit = datatake.text(at: "SENSING_ORBIT_NUMBER") {
            guard let n = Int(orbit), (1...143).contains(n) else { throw .unparseable("SENSING_ORBIT_NUMBER", orbit) }
            p["sat:relative_orbit"] = .int(Int64(n))
        }
        if p["sat:orbit_state"] != nil || p["sat:relative_orbit"] != nil { ext.append(Schema.sat) }

        let geocoding = granule?.find("Geometric_Info/Tile_Geocoding")
        if let code = geocoding?.text(at: "HORIZONTAL_CS_CODE") {
            guard code.hasPrefix("EPSG:"), Int(code.dropFirst(5)) != nil else {
                throw .unparseable("HORIZONTAL_CS_CODE", code)
            }
            p["proj:code"] = .string(code)
        } else {
            // UTM north (326zz) for latitude bands N–X, south (327zz) for C–M.
            let north = tile.band >= "N"
            p["proj:code"] = .string("EPSG:32\(north ? 6 : 7)\(tile.zone < 10 ? "0" : "")\(tile.zone)")
        }
        ext.append(Schema.projection)

        p["mgrs:utm_zone"] = .int(Int64(tile.zone))
        p["mgrs:latitude_band"] = .string(tile.band)
        p["mgrs:grid_square"] = .string(tile.square)
        p["grid:code"] = .string("MGRS-\(tile.zone < 10 ? "0" : "")\(tile.zone)\(tile.band)\(tile.square)")
        ext.append(contentsOf: [Schema.mgrs, Schema.grid])

        if let angles = granule?.find("Geometric_Info/Tile_Angles") {
            try addView(angles, to: &p)
            if p.keys.contains(where: { $0.hasPrefix("view:") }) { ext.append(Schema.view) }
        }

        // s2:* as stactools: the product's, then the granule's quality figures.
        p["s2:product_uri"] = .string(productURI)
        if let generation { p["s2:generation_time"] = .string(generation) }
        if let baseline = info.text(at: "PROCESSING_BASELINE") { p["s2:processing_baseline"] = .string(baseline) }
        if let type = info.text(at: "PRODUCT_TYPE") { p["s2:product_type"] = .string(type) }
        if let take = datatake.attribute("datatakeIdentifier") { p["s2:datatake_id"] = .string(take) }
        if let type = datatake.text(at: "DATATAKE_TYPE") { p["s2:datatake_type"] = .string(type) }
        p["s2:datastrip_id"] = .string(datastripID)
        let tileID = granule?.text(at: "General_Info/TILE_ID") ?? granuleNode.attribute("granuleIdentifier")
        if let tileID { p["s2:tile_id"] = .string(tileID) }
        if let u = try number(root, "General_Info/Product_Image_Characteristics/Reflectance_Conversion/U") {
            // Earth–Sun distance correction: within a few percent of 1.
            guard u > 0, u < 2 else { throw .unparseable("U", "\(u)") }
            p["s2:reflectance_conversion_factor"] = .number(u)
        }
        if let imageQI {
            for (key, element) in qualityFields {
                if let value = try percentage(imageQI, element) { p["s2:\(key)"] = .number(value) }
            }
        }
        ext.append(Schema.sentinel2)

        let footprint = try self.footprint(root)
        let assets = try makeAssets(
            input: input,
            granuleNode: granuleNode,
            manifest: manifest,
            granule: granule,
            context: context
        )

        return Record(
            id: id,
            collection: context.collection,
            owner: context.owner,
            source: context.source,
            datetime: datetime,
            processed: processed,
            geometry: footprint.geometry,
            bbox: footprint.bbox,
            properties: p,
            stacExtensions: ext,
            assets: assets
        )
    }

    /// Granule quality percentages, `s2:` key → MTD_TL element.
    package static let qualityFields: [(String, String)] = [
        ("degraded_msi_data_percentage", "DEGRADED_MSI_DATA_PERCENTAGE"),
        ("nodata_pixel_percentage", "NODATA_PIXEL_PERCENTAGE"),
        ("saturated_defective_pixel_percentage", "SATURATED_DEFECTIVE_PIXEL_PERCENTAGE"),
        ("dark_features_percentage", "DARK_FEATURES_PERCENTAGE"),
        ("cloud_shadow_percentage", "CLOUD_SHADOW_PERCENTAGE"),
        ("vegetation_percentage", "VEGETATION_PERCENTAGE"),
        ("not_vegetated_percentage", "NOT_VEGETATED_PERCENTAGE"),
        ("water_percentage", "WATER_PERCENTAGE"),
        ("unclassified_percentage", "UNCLASSIFIED_PERCENTAGE"),
        ("medium_proba_clouds_percentage", "MEDIUM_PROBA_CLOUDS_PERCENTAGE"),
        ("high_proba_clouds_percentage", "HIGH_PROBA_CLOUDS_PERCENTAGE"),
        ("thin_cirrus_percentage", "THIN_CIRRUS_PERCENTAGE"),
        ("snow_ice_percentage", "SNOW_ICE_PERCENTAGE"),
    ]

    /// stactools' id: `S2A_T01WCS_20230625T234624_L2A` — satellite, tile, the datastrip's
    /// sensing start, processing level (so reprocessings of one acquisition share the id).
    package static func itemID(productURI: String, datastripID: String) throws(NormalizeError) -> String {
        let parts = productURI.split(separator: "_")
        guard parts.count >= 6, let tilePart = parts.first(where: { $0.hasPrefix("T") && $0.count == 6 }) else {
            throw .unparseable("PRODUCT_URI", productURI)
        }
        let strip = datastripID.split(separator: "_")
        guard strip.count >= 4, let sensing = strip.dropLast().last, sensing.hasPrefix("S") else {
            throw .unparseable("datastripIdentifier", datastripID)
        }
        return "\(parts[0])_\(tilePart)_\(sensing.dropFirst())_\(strip[3])"
    }

    /// The MGRS tile from the product name's `_Tzzbss_` part.
    package static func mgrsTile(
        _ productURI: String
    ) throws(NormalizeError) -> (zone: Int, band: String, square: String) {
        for part in productURI.split(separator: "_") where part.count == 6 && part.hasPrefix("T") {
            let chars = Array(part.utf8)
            guard TextBytes.isDigit(chars[1]), TextBytes.isDigit(chars[2]),
                let zone = Int(String(decoding: chars[1...2], as: UTF8.self)), (1...60).contains(zone)
            else { continue }
            let band = String(decoding: [chars[3]], as: UTF8.self)
            let square = String(decoding: chars[4...5], as: UTF8.self)
            guard "CDEFGHJKLMNPQRSTUVWX".contains(band), square.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
                continue
            }
            return (zone, band, square)
        }
        throw NormalizeError(field: "PRODUCT_URI", "no MGRS tile in '\(productURI.prefix(80))'")
    }

    /// view:* from the tile-mean angles: sun azimuth, sun elevation = 90° − zenith, and the
    /// mean over the bands of the viewing incidence azimuth and zenith (stactools' choice).
    private static func addView(_ angles: MarkupElement, to p: inout JSONObject) throws(NormalizeError) {
        let viewing = angles.findAll("Mean_Viewing_Incidence_Angle_List/Mean_Viewing_Incidence_Angle")
        if !viewing.isEmpty {
            var azimuths: [Double] = []
            var zeniths: [Double] = []
            for v in viewing {
                guard let a = try angle(v, "AZIMUTH_ANGLE", in: 0...360),
                    let z = try angle(v, "ZENITH_ANGLE", in: 0...90)
                else { continue }
                azimuths.append(a)
                zeniths.append(z)
            }
            if azimuths.count == viewing.count {
                p["view:azimuth"] = .number(azimuths.reduce(0, +) / Double(azimuths.count))
                p["view:incidence_angle"] = .number(zeniths.reduce(0, +) / Double(zeniths.count))
            }
        }
        if let azimuth = try angle(angles, "Mean_Sun_Angle/AZIMUTH_ANGLE", in: 0...360) {
            p["view:sun_azimuth"] = .number(azimuth)
        }
        if let zenith = try angle(angles, "Mean_Sun_Angle/ZENITH_ANGLE", in: 0...180) {
            p["view:sun_elevation"] = .number(90 - zenith)
        }
    }

    /// The product footprint: `EXT_POS_LIST` as lat/lon pairs (or lat/lon/height triples).
    private static func footprint(
        _ root: MarkupElement
    ) throws(NormalizeError) -> (geometry: JSONValue, bbox: [Double]) {
        let field = "EXT_POS_LIST"
        guard let text = root.text(at: "Geometric_Info/Product_Footprint/Product_Footprint/Global_Footprint/\(field)")
        else { throw .missing(field) }
        var values: [Double] = []
        for token in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }) {
            guard let v = TextBytes.decimal(String(token)) else { throw .unparseable(field, String(token)) }
            values.append(v)
        }
        // Some baselines give a height after each pair: triples whose third values are all 0.
        let stride = values.count % 3 == 0 && values.count % 2 != 0 ? 3 : 2
        guard values.count % stride == 0, values.count / stride >= 4 else {
            throw NormalizeError(field: field, "needs at least four lat/lon positions")
        }
        var ring: [Footprint.Point] = []
        for i in Swift.stride(from: 0, to: values.count, by: stride) {
            let lat = values[i]
            let lon = values[i + 1]
            guard (-90...90).contains(lat), (-180...180).contains(lon) else {
                throw NormalizeError(field: field, "position \(lat) \(lon) is not lat/lon")
            }
            let point = (x: Footprint.round6(lon), y: Footprint.round6(lat))
            if let last = ring.last, last.x == point.x, last.y == point.y { continue }
            ring.append(point)
        }
        if let first = ring.first, let last = ring.last, ring.count > 1, first.x == last.x, first.y == last.y {
            ring.removeLast()
        }
        // ±180 written on both sides of the crossing: one meridian.
        if Footprint.crossesAntimeridian(ring.map(\.x)) {
            ring = ring.map { (x: $0.x == -180 ? 180 : $0.x, y: $0.y) }
        }
        guard ring.count >= 3 else { throw NormalizeError(field: field, "needs at least three distinct positions") }
        return Footprint.polygon(ring)
    }

    // MARK: Assets

    private static func makeAssets(
        input: Input,
        granuleNode: MarkupElement,
        manifest: MarkupElement?,
        granule: MarkupElement?,
        context: ReaderContext
    ) throws(NormalizeError) -> [Asset] {
        let cog = granuleNode.attribute("imageFormat") == "GeoTIFF"
        let fileExtension = cog ? ".tif" : ".jp2"
        let mediaType = cog ? "image/tiff; application=geotiff; profile=cloud-optimized" : "image/jp2"
        let base = URL(string: input.productName, relativeTo: context.objectURL)
        let folder = Normalizer.folder(of: base)
        var assets: [Asset] = []
        var keys: Set<String> = []
        func add(_ asset: Asset) {
            if keys.insert(asset.key).inserted { assets.append(asset) }
        }
        func located(_ path: String) throws(NormalizeError) -> (href: String, file: URL?) {
            let clean = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
            guard !clean.isEmpty, !clean.hasPrefix("/"),
                !clean.utf8.split(separator: UInt8(ascii: "/")).contains(where: { $0.elementsEqual("..".utf8) })
            else {
                throw NormalizeError(field: "IMAGE_FILE", "path '\(path.prefix(80))' leaves the product")
            }
            let name = Normalizer.baseName(clean)
            if let file = context.localFiles[name] { return (name, file) }
            guard let base, let href = Normalizer.href(clean, besideFolder: folder, objectURL: base) else {
                throw .unparseable("IMAGE_FILE", path)
            }
            return (href, nil)
        }

        let images = granuleNode.children("IMAGE_FILE").map(\.text).filter { !$0.isEmpty }
        var granuleFolder: String?
        for path in images {
            let name = Normalizer.baseName(path)
            guard let spec = Sentinel2Bands.asset(forImage: name) else { continue }
            let (href, file) = try located(path + fileExtension)
            add(
                Asset(
                    key: spec.key,
                    href: href,
                    title: spec.title,
                    mediaType: mediaType,
                    roles: spec.roles,
                    extra: spec.extra,
                    localFile: file
                )
            )
            if granuleFolder == nil, path.hasPrefix("GRANULE/") {
                granuleFolder = path.split(separator: "/").prefix(2).joined(separator: "/")
            }
        }
        // The preview: the granule names it; without the granule, its name follows the bands'.
        var preview = granule?.text(at: "Quality_Indicators_Info/PVI_FILENAME")
        if preview == nil, let folder = granuleFolder, let band = images.first.map(Normalizer.baseName),
            let cut = band.range(of: "_B", options: .backwards)
        {
            preview = "\(folder)/QI_DATA/\(band[..<cut.lowerBound])_PVI"
        }
        if var preview {
            if !preview.hasSuffix(fileExtension), !preview.hasSuffix(".jp2") { preview += fileExtension }
            let (href, file) = try located(preview)
            add(
                Asset(
                    key: "preview",
                    href: href,
                    title: "True color preview",
                    mediaType: mediaType,
                    roles: ["overview"],
                    extra: ["eo:bands": Sentinel2Bands.rgb],
                    localFile: file
                )
            )
        }

        // Metadata files: those present are local assets, the others hrefs at the source.
        let level = input.productName.hasSuffix("MTD_MSIL1C.xml") ? "1C" : "2A"
        // The manifest's data objects (a hundred or more) are walked once for the three wanted.
        let tileID = "S2_Level-\(level)_Tile1_Metadata"
        let datastripID = "S2_Level-\(level)_Datastrip1_Metadata"
        var dataObjects: [String: String] = [:]
        manifest?.find("dataObjectSection")?.forEachChild { object in
            guard object.hasLocalName("dataObject"), let id = object.attribute("ID"),
                id == tileID || id == datastripID || id == "INSPIRE_Metadata", dataObjects[id] == nil
            else { return }
            dataObjects[id] = object.find("byteStream/fileLocation")?.attribute("href")
        }
        let manifestPath = "manifest.safe"
        let granulePath =
            input.granuleName.map { relative(to: input.productName, $0) } ?? dataObjects[tileID]
            ?? granuleFolder.map { "\($0)/MTD_TL.xml" }
        let metadata: [(String, String?)] = [
            ("safe_manifest", manifestPath),
            ("product_metadata", Normalizer.baseName(input.productName)),
            ("granule_metadata", granulePath),
            ("inspire_metadata", dataObjects["INSPIRE_Metadata"]),
            ("datastrip_metadata", dataObjects[datastripID]),
        ]
        for (key, path) in metadata {
            guard let path else { continue }
            let (href, file) = try located(path)
            add(Asset(key: key, href: href, mediaType: "application/xml", roles: ["metadata"], localFile: file))
        }
        return assets
    }

    /// `other` as a path relative to the folder of `name` (both paths inside the object).
    private static func relative(to name: String, _ other: String) -> String {
        let folder = Normalizer.folderName(name)
        return other.hasPrefix(folder) ? String(other.dropFirst(folder.count)) : other
    }

    // MARK: Field access

    private static func parse(
        _ bytes: [UInt8],
        file: String,
        skipping: Set<String> = []
    ) throws(NormalizeError) -> MarkupElement {
        let start = TextBytes.afterBOM(bytes)
        if let bad = TextBytes.firstInvalidText(bytes, from: start) {
            throw NormalizeError("malformed \(file), line \(TextBytes.line(of: bad.offset, in: bytes)): \(bad.reason)")
        }
        do {
            return try XMLReader.parse(bytes, from: start, skipping: skipping)
        } catch {
            let line = error.offset.map { ", line \(TextBytes.line(of: $0, in: bytes))" } ?? ""
            throw NormalizeError("malformed \(file) (XML)\(line): \(error.detail)")
        }
    }

    private static func required(_ element: MarkupElement, _ path: String) throws(NormalizeError) -> String {
        guard let value = element.text(at: path) else { throw .missing(String(path.split(separator: "/").last!)) }
        return value
    }

    private static func requiredAttribute(_ element: MarkupElement, _ name: String) throws(NormalizeError) -> String {
        guard let value = element.attribute(name), !value.isEmpty else { throw .missing(name) }
        return value
    }

    private static func number(_ element: MarkupElement, _ path: String) throws(NormalizeError) -> Double? {
        guard let text = element.text(at: path) else { return nil }
        guard let value = TextBytes.decimal(text) else {
            throw .unparseable(String(path.split(separator: "/").last!), text)
        }
        return value
    }

    /// A percentage of the tile: 0 to 100, or the item would state what cannot be.
    private static func percentage(_ element: MarkupElement, _ path: String) throws(NormalizeError) -> Double? {
        guard let value = try number(element, path) else { return nil }
        guard (0...100).contains(value) else {
            throw .unparseable(String(path.split(separator: "/").last!), "\(value)")
        }
        return value
    }

    /// An angle in degrees within `range` (a finite 1e300 is a number, not an angle).
    private static func angle(
        _ element: MarkupElement,
        _ path: String,
        in range: ClosedRange<Double>
    ) throws(NormalizeError) -> Double? {
        guard let value = try number(element, path) else { return nil }
        guard range.contains(value) else { throw .unparseable(String(path.split(separator: "/").last!), "\(value)") }
        return value
    }

    private static func date(_ element: MarkupElement, _ path: String, required: Bool) throws(NormalizeError) -> Date? {
        guard let text = element.text(at: path) else {
            if required { throw .missing(path) }
            return nil
        }
        return try parseDate(path, text)
    }

    private static func parseDate(_ field: String, _ text: String) throws(NormalizeError) -> Date {
        guard let date = Timestamp.parse(text) else { throw .unparseable(field, text) }
        return date
    }
}
