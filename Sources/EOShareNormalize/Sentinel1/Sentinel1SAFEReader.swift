import EOShareCore
import Foundation

/// Reads a Sentinel-1 Level-1 SAFE product (GRD or SLC) from its `manifest.safe`, with the
/// product annotation XML (`annotation/s1?-…xml`) when the object has one, into a `Record`
/// shaped like the items stactools-sentinel1 writes: same id (the product name without its
/// unique id), start/end and middle datetimes, footprint, `sar:*`, `sat:*`, `proj:*`, `s1:*`
/// and, for SLC, `processing:*` fields, and the same asset keys.
///
/// The product's name is not inside the manifest: it is the name of the folder holding it
/// (`<name>.SAFE/manifest.safe`), else the object's name (`<name>.SAFE.zip`).
///
/// Deliberate differences from stactools-sentinel1 (also in Docs/normalize-mapping.md#sentinel1-safe):
/// - without the product annotation XML the raster size is not known: `proj:shape`,
///   `proj:transform` and `s1:shape` are omitted rather than guessed;
/// - an SLC product gets one asset per swath and polarisation (`iw1-hh`, `iw2-hh`, …):
///   stactools keys its images by polarisation first and keeps only the last swath's;
/// - projection v2.0.0 (`proj:code` `EPSG:4326`), as stactools writes with pystac ≥ 1.12 and
///   our other readers do; the example items of stactools-sentinel1 are STAC 1.0 with
///   projection v1.1.0 (`proj:epsg` 4326);
/// - measurement assets carry no `eo:bands` (the `sar:polarizations` say the same) and the
///   item no `eo` extension; SLC assets carry no per-swath `sar:*` resolutions.
public enum Sentinel1SAFEReader {
    public enum Schema {
        public static let sar = "https://stac-extensions.github.io/sar/v1.0.0/schema.json"
        public static let sat = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"
        public static let projection = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
        public static let processing = "https://stac-extensions.github.io/processing/v1.1.0/schema.json"
    }

    /// The metadata files of one product: names are paths inside the object.
    public struct Input: Sendable {
        /// The product's name (`S1A_IW_GRDH_1SDV_…_6FF8`, a trailing `.SAFE` dropped) when
        /// the manifest is in a folder; nil takes the object's name.
        public var productName: String?
        public var manifestName: String
        public var manifest: [UInt8]
        public var manifestFile: URL?
        /// The first product annotation (`annotation/s1a-iw-grd-vv-…xml`), when present.
        public var annotation: [UInt8]?

        public init(
            productName: String?,
            manifestName: String,
            manifest: [UInt8],
            manifestFile: URL? = nil,
            annotation: [UInt8]? = nil
        ) {
            self.productName = productName
            self.manifestName = manifestName
            self.manifest = manifest
            self.manifestFile = manifestFile
            self.annotation = annotation
        }
    }

    /// Resolution, pixel spacing and looks of GRD products by mode and resolution class
    /// (Sentinel-1 Product Definition, table 5-1, as stactools-sentinel1 has them).
    struct GRDFigures {
        var resolution: (range: Double, azimuth: Double)
        var spacing: (range: Double, azimuth: Double)
        var looks: (range: Int, azimuth: Int)
        var equivalentLooks: Double
    }

    static let grdFigures: [String: GRDFigures] = [
        "SM-F": GRDFigures(resolution: (9, 9), spacing: (3.5, 3.5), looks: (2, 2), equivalentLooks: 3.7),
        "SM-H": GRDFigures(resolution: (23, 23), spacing: (10, 10), looks: (6, 6), equivalentLooks: 29.7),
        "SM-M": GRDFigures(resolution: (84, 84), spacing: (40, 40), looks: (22, 22), equivalentLooks: 398.4),
        "IW-H": GRDFigures(resolution: (20, 22), spacing: (10, 10), looks: (5, 1), equivalentLooks: 4.4),
        "IW-M": GRDFigures(resolution: (88, 87), spacing: (40, 40), looks: (22, 5), equivalentLooks: 81.8),
        "EW-H": GRDFigures(resolution: (50, 50), spacing: (25, 25), looks: (3, 1), equivalentLooks: 2.7),
        "EW-M": GRDFigures(resolution: (93, 87), spacing: (40, 40), looks: (6, 2), equivalentLooks: 10.7),
        "WV-M": GRDFigures(resolution: (52, 51), spacing: (25, 25), looks: (13, 13), equivalentLooks: 123.7),
    ]

    public static func read(_ input: Input, context: ReaderContext) throws(NormalizeError) -> Record {
        let root = try MetadataXML.parse(input.manifest, file: "manifest.safe")
        guard root.hasLocalName("XFDU") else {
            throw NormalizeError("not a Sentinel-1 manifest.safe: root element is <\(root.name.prefix(60))>")
        }
        var name = input.productName ?? context.objectURL.lastPathComponent
        for suffix in [".zip", ".tar.gz", ".tgz", ".tar", ".SAFE"] where name.hasSuffix(suffix) {
            name.removeLast(suffix.count)
        }
        let nameParts = name.split(separator: "_", omittingEmptySubsequences: false)
        guard name.hasPrefix("S1"), nameParts.count >= 9, nameParts.last?.count == 4 else {
            throw NormalizeError(
                field: "product name",
                "'\(name.prefix(80))' is not a Sentinel-1 product name (S1x_MM_TTTR_…_XXXX)"
            )
        }
        let id = String(name.dropLast(5))
        guard let metadata = root.child("metadataSection") else { throw .missing("metadataSection") }
        func wrapped(_ objectID: String) -> MarkupElement? {
            metadata.children("metadataObject").first { $0.attribute("ID") == objectID }?
                .find("metadataWrap/xmlData")
        }
        guard let platform = wrapped("platform")?.child("platform") else { throw .missing("platform") }
        guard let info = wrapped("generalProductInformation")?.children.first else {
            throw .missing("generalProductInformation")
        }
        guard let period = wrapped("acquisitionPeriod")?.child("acquisitionPeriod") else {
            throw .missing("acquisitionPeriod")
        }
        let orbit = wrapped("measurementOrbitReference")?.child("orbitReference")

        let start = try time(period, "startTime")
        let end = try time(period, "stopTime")
        guard start <= end else { throw NormalizeError(field: "stopTime", "is before startTime") }
        let middle = start.addingTimeInterval(end.timeIntervalSince(start) / 2)

        let productType = try MetadataXML.required(info, "productType")
        guard productType == "GRD" || productType == "SLC" else { throw .unparseable("productType", productType) }
        let isSLC = productType == "SLC"
        guard let mode = platform.find("instrument/extension/instrumentMode")?.text(at: "mode") else {
            throw .missing("mode")
        }
        let swaths = platform.findAll("instrument/extension/instrumentMode/swath").map(\.text)

        var p = JSONObject()
        var ext = [Schema.sar, Schema.sat]
        p["sar:frequency_band"] = "C"
        p["sar:center_frequency"] = .number(5.405)
        p["sar:observation_direction"] = "right"
        p["sar:instrument_mode"] = .string(mode)
        let polarizations = info.children("transmitterReceiverPolarisation").map(\.text)
        for pol in polarizations where !["HH", "HV", "VH", "VV"].contains(pol) {
            throw .unparseable("transmitterReceiverPolarisation", pol)
        }
        p["sar:polarizations"] = .array(polarizations.map(JSONValue.string))
        p["sar:product_type"] = .string(productType)
        let resolutionClass = String(nameParts[2].suffix(1))
        if !isSLC, let figures = grdFigures["\(mode)-\(resolutionClass)"] {
            p["sar:resolution_range"] = whole(figures.resolution.range)
            p["sar:resolution_azimuth"] = whole(figures.resolution.azimuth)
            p["sar:pixel_spacing_range"] = whole(figures.spacing.range)
            p["sar:pixel_spacing_azimuth"] = whole(figures.spacing.azimuth)
            p["sar:looks_range"] = .int(Int64(figures.looks.range))
            p["sar:looks_azimuth"] = .int(Int64(figures.looks.azimuth))
            p["sar:looks_equivalent_number"] = .number(figures.equivalentLooks)
        }

        if let designator = platform.text(at: "nssdcIdentifier") {
            p["sat:platform_international_designator"] = .string(designator)
        }
        if let orbit {
            if let pass = orbit.find("extension/orbitProperties")?.text(at: "pass") {
                let state = pass.lowercased()
                guard state == "ascending" || state == "descending" else { throw .unparseable("pass", pass) }
                p["sat:orbit_state"] = .string(state)
            }
            if let absolute = orbit.text(at: "orbitNumber") {
                guard let n = Int64(absolute), n >= 0 else { throw .unparseable("orbitNumber", absolute) }
                p["sat:absolute_orbit"] = .int(n)
            }
            if let relative = orbit.text(at: "relativeOrbitNumber") {
                guard let n = Int64(relative), (1...175).contains(n) else {
                    throw .unparseable("relativeOrbitNumber", relative)
                }
                p["sat:relative_orbit"] = .int(n)
            }
            if isSLC, let anx = orbit.find("extension/orbitProperties")?.text(at: "ascendingNodeTime") {
                guard let t = Timestamp.parse(anx + "Z") else { throw .unparseable("ascendingNodeTime", anx) }
                p["sat:anx_datetime"] = .string(Timestamp.format(t, fractionDigits: 6))
            }
        }

        // The processing chain: the outermost <processing>, its facility's software.
        let processing = wrapped("processing")?.child("processing")
        if isSLC {
            ext.append(Schema.processing)
            if let software = processing?.find("facility/software"), let softwareName = software.attribute("name") {
                p["processing:facility"] = .string(softwareName)
                p["processing:level"] = "L1"
                p["processing:software"] = .object([softwareName: .string(software.attribute("version") ?? "")])
            } else {
                p["processing:level"] = "L1"
            }
        }

        let footprint = try self.footprint(wrapped("measurementFrameSet"))
        ext.append(Schema.projection)
        p["proj:code"] = "EPSG:4326"
        p["proj:bbox"] = .array(footprint.bbox.map(JSONValue.number))
        let shape = try input.annotation.map { b throws(NormalizeError) in try self.shape(b) }
        if let shape {
            p["proj:shape"] = .array(shape.map { .int(Int64($0)) })
            let b = footprint.bbox
            // As stactools' transform_from_bbox, which reads the shape as [rows, columns].
            p["proj:transform"] = .array(
                [(b[2] - b[0]) / Double(shape[1]), 0, b[0], 0, (b[1] - b[3]) / Double(shape[0]), b[3]].map(
                    JSONValue.number
                )
            )
        }
        p["proj:centroid"] = .object([
            "lat": .number((footprint.centroid.y * 1e5).rounded() / 1e5),
            "lon": .number((footprint.centroid.x * 1e5).rounded() / 1e5),
        ])

        let family = try MetadataXML.required(platform, "familyName")
        let number = try MetadataXML.required(platform, "number")
        p["platform"] = .string("\(family)\(number)".lowercased())
        p["constellation"] = "sentinel-1"
        p["providers"] = .array([
            .object([
                "name": "ESA", "roles": .array(["producer", "processor", "licensor"]),
                "url": "https://earth.esa.int/eogateway",
            ])
        ])

        // s1:* as stactools: the product information, orbit source and product name.
        for (key, element) in [
            ("s1:instrument_configuration_ID", "instrumentConfigurationID"), ("s1:datatake_id", "missionDataTakeID"),
            ("s1:product_timeliness", "productTimelinessCategory"),
        ] {
            if let value = info.text(at: element) { p[key] = .string(value) }
        }
        if !isSLC {
            p["s1:processing_level"] = .string(String(nameParts[3].prefix(1)))
            let resolutions = ["F": "full", "H": "high", "M": "medium"]
            if let resolution = resolutions[resolutionClass] { p["s1:resolution"] = .string(resolution) }
        }
        p["s1:orbit_source"] = .string(try orbitSource(processing))
        if let slice = info.text(at: "sliceNumber") { p["s1:slice_number"] = .string(slice) }
        if let total = info.text(at: "totalSlices") { p["s1:total_slices"] = .string(total) }
        if isSLC { p["s1:swaths"] = .array(swaths.map(JSONValue.string)) }
        if !isSLC, let shape { p["s1:shape"] = .array(shape.map { .int(Int64($0)) }) }
        p["s1:product_identifier"] = .string(name)
        let postProcessing = isSLC ? "SLC Post Processing" : "GRD Post Processing"
        if let stop = processing.flatMap({ $0.attribute("name") == postProcessing ? $0.attribute("stop") : nil }) {
            guard let t = Timestamp.parse(stop + "Z") else { throw .unparseable("processing stop", stop) }
            p["s1:processing_datetime"] = .string(Timestamp.format(t, fractionDigits: 6))
        }

        let assets = try makeAssets(root, input: input, isSLC: isSLC, context: context)
        return Record(
            id: id,
            collection: context.collection,
            owner: context.owner,
            source: context.source,
            datetime: middle,
            startDatetime: start,
            endDatetime: end,
            geometry: footprint.geometry,
            bbox: footprint.bbox,
            properties: p,
            stacExtensions: ext,
            assets: assets
        )
    }

    // MARK: Parts

    /// A figure as JSON: whole numbers as integers, as the product definition writes them.
    private static func whole(_ value: Double) -> JSONValue {
        value == value.rounded() && abs(value) < 1e15 ? .int(Int64(value)) : .number(value)
    }

    private static func time(_ period: MarkupElement, _ field: String) throws(NormalizeError) -> Date {
        let text = try MetadataXML.required(period, field)
        guard let t = Timestamp.parse(text.hasSuffix("Z") ? text : text + "Z") else { throw .unparseable(field, text) }
        return t
    }

    /// The frame's `gml:coordinates`: lat,lon pairs separated by spaces.
    private static func footprint(
        _ frameSet: MarkupElement?
    ) throws(NormalizeError) -> (geometry: JSONValue, bbox: [Double], centroid: Footprint.Point) {
        let field = "gml:coordinates"
        guard let text = frameSet?.find("frameSet/frame/footPrint")?.text(at: "coordinates") else {
            throw .missing(field)
        }
        var ring: [Footprint.Point] = []
        for pair in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }) {
            let values = pair.split(separator: ",")
            guard values.count == 2, let lat = TextBytes.decimal(String(values[0])),
                let lon = TextBytes.decimal(String(values[1])), (-90...90).contains(lat), (-180...180).contains(lon)
            else { throw .unparseable(field, String(pair)) }
            let point = (x: Footprint.round6(lon), y: Footprint.round6(lat))
            if let last = ring.last, last.x == point.x, last.y == point.y { continue }
            ring.append(point)
        }
        if let first = ring.first, let last = ring.last, ring.count > 1, first.x == last.x, first.y == last.y {
            ring.removeLast()
        }
        guard ring.count >= 3 else { throw NormalizeError(field: field, "needs at least three distinct positions") }
        let polygon = Footprint.polygon(ring)
        return (polygon.geometry, polygon.bbox, centroid(ring))
    }

    /// The area centroid of a ring (shapely's `centroid`, which stactools rounds for `proj:centroid`).
    static func centroid(_ ring: [Footprint.Point]) -> Footprint.Point {
        var area = 0.0
        var cx = 0.0
        var cy = 0.0
        for i in ring.indices {
            let a = ring[i]
            let b = ring[(i + 1) % ring.count]
            let cross = a.x * b.y - b.x * a.y
            area += cross
            cx += (a.x + b.x) * cross
            cy += (a.y + b.y) * cross
        }
        guard area != 0 else {
            let n = Double(ring.count)
            return (ring.map(\.x).reduce(0, +) / n, ring.map(\.y).reduce(0, +) / n)
        }
        return (cx / (3 * area), cy / (3 * area))
    }

    /// `[samples, lines]` of the product annotation's image information.
    private static func shape(_ bytes: [UInt8]) throws(NormalizeError) -> [Int] {
        let root = try MetadataXML.parse(
            bytes,
            file: "product annotation",
            skipping: [
                "geolocationGrid", "dopplerCentroid", "antennaPattern", "orbitList", "attitudeList",
                "coordinateConversion",
            ]
        )
        guard let image = root.find("imageAnnotation/imageInformation") else { throw .missing("imageInformation") }
        let samples = try MetadataXML.required(image, "numberOfSamples")
        let lines = try MetadataXML.required(image, "numberOfLines")
        guard let x = Int(samples), x > 0, x < 1 << 24 else { throw .unparseable("numberOfSamples", samples) }
        guard let y = Int(lines), y > 0, y < 1 << 24 else { throw .unparseable("numberOfLines", lines) }
        return [x, y]
    }

    /// Where the orbit came from: a precise, restituted or predicted orbit file among the
    /// processing's resources, else the downlinked orbit.
    private static func orbitSource(_ processing: MarkupElement?) throws(NormalizeError) -> String {
        guard let processing else { return "DOWNLINK" }
        var found: String?
        func walk(_ element: MarkupElement, depth: Int) {
            guard found == nil, depth < 64 else { return }
            if element.hasLocalName("resource"), let name = element.attribute("name"), name.hasSuffix(".EOF"),
                let role = element.attribute("role"), role.hasPrefix("AUX_")
            {
                found = role
                return
            }
            element.forEachChild { walk($0, depth: depth + 1) }
        }
        walk(processing, depth: 0)
        switch found {
        case nil: return "DOWNLINK"
        case "AUX_POE": return "POEORB"
        case "AUX_RES": return "RESORB"
        case "AUX_PRE": return "PREORB"
        case let role?: throw NormalizeError(field: "resource role", "unknown orbit file role '\(role.prefix(40))'")
        }
    }

    // MARK: Assets

    private static func makeAssets(
        _ root: MarkupElement,
        input: Input,
        isSLC: Bool,
        context: ReaderContext
    ) throws(NormalizeError) -> [Asset] {
        let base = URL(string: input.manifestName, relativeTo: context.objectURL)
        let folder = Normalizer.folder(of: base)
        var assets: [Asset] = []
        var keys: Set<String> = []
        func add(_ key: String, _ path: String, title: String, type: String, role: String) throws(NormalizeError) {
            guard keys.insert(key).inserted else { return }
            let clean = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
            guard !clean.isEmpty, !clean.hasPrefix("/"),
                !clean.utf8.split(separator: UInt8(ascii: "/")).contains(where: { $0.elementsEqual("..".utf8) })
            else { throw NormalizeError(field: "fileLocation", "path '\(path.prefix(80))' leaves the product") }
            let plain = Normalizer.baseName(clean)
            if let local = context.localFiles[plain] {
                assets.append(
                    Asset(key: key, href: plain, title: title, mediaType: type, roles: [role], localFile: local)
                )
                return
            }
            guard let base, let href = Normalizer.href(clean, besideFolder: folder, objectURL: base) else {
                throw .unparseable("fileLocation", path)
            }
            assets.append(Asset(key: key, href: href, title: title, mediaType: type, roles: [role]))
        }
        try add("safe-manifest", "manifest.safe", title: "Manifest File", type: "application/xml", role: "metadata")
        var product: [(String, String, String)] = []
        var calibration: [(String, String, String)] = []
        var noise: [(String, String, String)] = []
        var measurement: [(String, String, String)] = []
        root.find("dataObjectSection")?.forEachChild { object in
            guard object.hasLocalName("dataObject"),
                var href = object.find("byteStream/fileLocation")?.attribute("href")
            else { return }
            if href.hasPrefix("./") { href.removeFirst(2) }
            let base = Normalizer.baseName(href)
            guard let (swath, pol) = swathAndPolarisation(base) else { return }
            let band = isSLC ? "\(swath)-\(pol)" : pol
            if href.hasPrefix("annotation/calibration/calibration") {
                calibration.append((band, href, pol.uppercased()))
            } else if href.hasPrefix("annotation/calibration/noise") {
                noise.append((band, href, pol.uppercased()))
            } else if href.hasPrefix("annotation/rfi") {
                return
            } else if href.hasPrefix("annotation/") {
                product.append((band, href, pol.uppercased()))
            } else if href.hasPrefix("measurement/") {
                measurement.append((band, href, pol.uppercased()))
            }
        }
        for (band, href, pol) in product {
            try add(
                "schema-product-\(band)",
                href,
                title: "\(pol) Product Schema",
                type: "application/xml",
                role: "metadata"
            )
        }
        for (band, href, pol) in calibration {
            try add(
                "schema-calibration-\(band)",
                href,
                title: "\(pol) Calibration Schema",
                type: "application/xml",
                role: "metadata"
            )
        }
        for (band, href, pol) in noise {
            try add(
                "schema-noise-\(band)",
                href,
                title: "\(pol) Noise Schema",
                type: "application/xml",
                role: "metadata"
            )
        }
        try add("thumbnail", "preview/quick-look.png", title: "Preview Image", type: "image/png", role: "thumbnail")
        for (band, href, pol) in measurement {
            try add(band, href, title: "\(pol) Data", type: "image/tiff; application=geotiff", role: "data")
        }
        return assets
    }

    /// `s1a-iw-grd-vh-…`, `calibration-s1a-iw1-slc-hh-…` → (swath, polarisation), lowercase.
    static func swathAndPolarisation(_ fileName: String) -> (String, String)? {
        var parts = fileName.split(separator: "-")
        while let first = parts.first, !first.hasPrefix("s1") { parts.removeFirst() }
        guard parts.count >= 4, ["grd", "slc"].contains(parts[2]), ["hh", "hv", "vh", "vv"].contains(parts[3]) else {
            return nil
        }
        return (String(parts[1]), String(parts[3]))
    }
}
