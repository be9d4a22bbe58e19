import EOShareCore
import EOShareUnpack
import Foundation

/// Writes realistic, distinct Landsat Collection 2 Level-2 MTL files (ODL text, JSON or
/// XML, optionally gzip-compressed) as a member's feed folder, for tests at scale, the demo
/// fixtures and benchmarks. The same seed always writes the same bytes.
public struct LandsatFeedGenerator {
    public enum Encoding: String, Sendable { case txt, json, xml, mixed }

    public var seed: UInt64 = 1
    public var encoding: Encoding = .txt
    public var gzip = false
    public var start: Date
    public var days = 300
    public var processedWithin = 16
    public var sidecars = false

    public init(start: Date) { self.start = start }

    /// Writes `count` records into `folder` and returns their file names.
    @discardableResult
    public func write(count: Int, to folder: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: seed)
        var used = Set<String>()
        var names: [String] = []
        for n in 0..<count {
            var scene = LandsatScene.random(&rng, start: start, days: days, processedWithin: processedWithin)
            while !used.insert("\(scene.path)-\(scene.row)-\(scene.acquiredDay)").inserted {
                scene = LandsatScene.random(&rng, start: start, days: days, processedWithin: processedWithin)
            }
            let enc: Encoding = encoding == .mixed ? [.txt, .json, .xml][n % 3] : encoding
            let doc = scene.document()
            var bytes: [UInt8]
            switch enc {
            case .txt, .mixed: bytes = Array(doc.odl().utf8)
            case .json: bytes = Array(doc.json().utf8)
            case .xml: bytes = Array(doc.xml().utf8)
            }
            var name = "\(scene.productId)_MTL.\(enc == .mixed ? "txt" : enc.rawValue)"
            if gzip {
                bytes = Deflater.gzip(bytes)
                name += ".gz"
            }
            try Data(bytes).write(to: folder.appendingPathComponent(name))
            if sidecars {
                try Data("\(Digest.sha256Hex(bytes))  \(name)\n".utf8).write(
                    to: folder.appendingPathComponent(name + ".sha256")
                )
            }
            names.append(name)
        }
        return names
    }
}

/// A small deterministic PRNG (SplitMix64), so feeds are reproducible.
public struct SplitMix64: RandomNumberGenerator {
    package var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One synthetic scene with the attributes a real Level-2 MTL carries.
package struct LandsatScene {
    package var spacecraft: Int  // 8 or 9
    package var path: Int
    package var row: Int
    package var acquired: Date
    package var processedDays: Int
    package var centerLat: Double
    package var centerLon: Double
    package var cloud: Double
    package var sunAzimuth: Double
    package var sunElevation: Double
    package var roll: Double
    package var category: String

    package var acquiredDay: String { String(Timestamp.format(acquired).prefix(10)) }

    package static func random(_ rng: inout SplitMix64, start: Date, days: Int, processedWithin: Int) -> LandsatScene {
        let lat = Double.random(in: -56...70, using: &rng)
        // Footprints stay within ±180° (up to ±2.8° wide at 70° latitude).
        let lon = Double.random(in: -176...176, using: &rng)
        let offset =
            Double(Int.random(in: 0..<max(days, 1), using: &rng)) * 86_400
            + Double.random(in: 36_000...60_000, using: &rng)
        return LandsatScene(
            spacecraft: Bool.random(using: &rng) ? 8 : 9,
            path: Int((180 - lon) / 360 * 233) % 233 + 1,
            row: max(1, min(248, Int((90 - lat) / 180 * 248))),
            acquired: start.addingTimeInterval(offset.rounded()),
            processedDays: Int.random(in: 1...max(1, processedWithin), using: &rng),
            centerLat: lat,
            centerLon: lon,
            cloud: (Double.random(in: 0...100, using: &rng) * 100).rounded() / 100,
            sunAzimuth: Double.random(in: 20...160, using: &rng),
            sunElevation: Double.random(in: 10...70, using: &rng),
            roll: (Double.random(in: -0.02...0.02, using: &rng) * 1000).rounded() / 1000,
            category: Int.random(in: 0..<5, using: &rng) == 0 ? "T2" : "T1"
        )
    }

    package var processed: Date { acquired.addingTimeInterval(Double(processedDays) * 86_400) }

    package var productId: String {
        func day(_ d: Date) -> String { Timestamp.format(d).prefix(10).replacingOccurrences(of: "-", with: "") }
        let pr = String(format: "%03d%03d", path, row)
        return "LC0\(spacecraft)_L2SP_\(pr)_\(day(acquired))_\(day(processed))_02_\(category)"
    }

    package func document() -> MTLDocumentWriter {
        let id = productId
        let zone = Int((centerLon + 180) / 6) + 1
        let dLat = 0.95
        let dLon = 0.95 / max(cos(centerLat * .pi / 180), 0.2)
        func f(_ v: Double, _ digits: Int) -> MTLDocumentWriter.Value { .number(String(format: "%.\(digits)f", v)) }
        let time = Timestamp.format(acquired)
        let centerTime = String(time.dropFirst(11).dropLast()) + ".1234560Z"
        let bands = ["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7", "ST_B10"]
        var files: [(String, MTLDocumentWriter.Value)] = []
        for (i, b) in bands.enumerated() {
            let key = i < 7 ? "FILE_NAME_BAND_\(i + 1)" : "FILE_NAME_BAND_ST_B10"
            files.append((key, .string("\(id)_\(b).TIF")))
        }
        files += [
            ("FILE_NAME_QUALITY_L1_PIXEL", .string("\(id)_QA_PIXEL.TIF")),
            ("FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION", .string("\(id)_QA_RADSAT.TIF")),
            ("FILE_NAME_ANGLE_COEFFICIENT", .string("\(id)_ANG.txt")),
            ("FILE_NAME_METADATA_ODL", .string("\(id)_MTL.txt")),
            ("FILE_NAME_METADATA_XML", .string("\(id)_MTL.xml")),
        ]
        let sceneId = String(format: "LC%d%03d%03d%@LGN00", spacecraft, path, row, dayOfYear(acquired))
        let easting = 500_000.0 + (centerLon - Double(zone * 6 - 183)) * 111_320 * cos(centerLat * .pi / 180)
        let northing = centerLat * 110_574 + (centerLat < 0 ? 10_000_000 : 0)
        let ulx = (easting - 114_000).rounded()
        let uly = (northing + 114_000).rounded()
        return MTLDocumentWriter(groups: [
            (
                "PRODUCT_CONTENTS",
                [
                    ("ORIGIN", .string("Image courtesy of the U.S. Geological Survey")),
                    ("DIGITAL_OBJECT_IDENTIFIER", .string("https://doi.org/10.5066/P9OGBGM6")),
                    ("LANDSAT_PRODUCT_ID", .string(id)), ("PROCESSING_LEVEL", .string("L2SP")),
                    ("COLLECTION_NUMBER", .number("02")), ("COLLECTION_CATEGORY", .string(category)),
                    ("OUTPUT_FORMAT", .string("GEOTIFF")),
                ] + files
            ),
            (
                "IMAGE_ATTRIBUTES",
                [
                    ("SPACECRAFT_ID", .string("LANDSAT_\(spacecraft)")), ("SENSOR_ID", .string("OLI_TIRS")),
                    ("WRS_TYPE", .number("2")), ("WRS_PATH", .number("\(path)")), ("WRS_ROW", .number("\(row)")),
                    ("NADIR_OFFNADIR", .string("NADIR")), ("DATE_ACQUIRED", .number(acquiredDay)),
                    ("SCENE_CENTER_TIME", .string(centerTime)), ("STATION_ID", .string("LGN")),
                    ("CLOUD_COVER", f(cloud, 2)), ("CLOUD_COVER_LAND", f(min(100, cloud * 1.1), 2)),
                    ("IMAGE_QUALITY_OLI", .number("9")), ("IMAGE_QUALITY_TIRS", .number("9")),
                    ("ROLL_ANGLE", f(roll, 3)), ("SUN_AZIMUTH", f(sunAzimuth, 8)),
                    ("SUN_ELEVATION", f(sunElevation, 8)),
                    ("EARTH_SUN_DISTANCE", .number("0.9849984")),
                ]
            ),
            (
                "PROJECTION_ATTRIBUTES",
                [
                    ("MAP_PROJECTION", .string("UTM")), ("DATUM", .string("WGS84")), ("ELLIPSOID", .string("WGS84")),
                    ("UTM_ZONE", .number("\(zone)")), ("GRID_CELL_SIZE_REFLECTIVE", .number("30.00")),
                    ("GRID_CELL_SIZE_THERMAL", .number("30.00")), ("REFLECTIVE_LINES", .number("7601")),
                    ("REFLECTIVE_SAMPLES", .number("7601")), ("THERMAL_LINES", .number("7601")),
                    ("THERMAL_SAMPLES", .number("7601")), ("ORIENTATION", .string("NORTH_UP")),
                    ("CORNER_UL_LAT_PRODUCT", f(centerLat + dLat, 5)),
                    ("CORNER_UL_LON_PRODUCT", f(centerLon - dLon, 5)),
                    ("CORNER_UR_LAT_PRODUCT", f(centerLat + dLat, 5)),
                    ("CORNER_UR_LON_PRODUCT", f(centerLon + dLon, 5)),
                    ("CORNER_LL_LAT_PRODUCT", f(centerLat - dLat, 5)),
                    ("CORNER_LL_LON_PRODUCT", f(centerLon - dLon, 5)),
                    ("CORNER_LR_LAT_PRODUCT", f(centerLat - dLat, 5)),
                    ("CORNER_LR_LON_PRODUCT", f(centerLon + dLon, 5)),
                    ("CORNER_UL_PROJECTION_X_PRODUCT", f(ulx, 3)), ("CORNER_UL_PROJECTION_Y_PRODUCT", f(uly, 3)),
                    ("CORNER_UR_PROJECTION_X_PRODUCT", f(ulx + 228_000, 3)),
                    ("CORNER_UR_PROJECTION_Y_PRODUCT", f(uly, 3)),
                    ("CORNER_LL_PROJECTION_X_PRODUCT", f(ulx, 3)),
                    ("CORNER_LL_PROJECTION_Y_PRODUCT", f(uly - 228_000, 3)),
                    ("CORNER_LR_PROJECTION_X_PRODUCT", f(ulx + 228_000, 3)),
                    ("CORNER_LR_PROJECTION_Y_PRODUCT", f(uly - 228_000, 3)),
                ]
            ),
            (
                "LEVEL2_PROCESSING_RECORD",
                [
                    ("ORIGIN", .string("Image courtesy of the U.S. Geological Survey")),
                    ("LANDSAT_PRODUCT_ID", .string(id)), ("PROCESSING_LEVEL", .string("L2SP")),
                    ("OUTPUT_FORMAT", .string("GEOTIFF")),
                    ("DATE_PRODUCT_GENERATED", .string(Timestamp.format(processed))),
                    ("PROCESSING_SOFTWARE_VERSION", .string("LPGS_16.3.0")),
                    ("ALGORITHM_SOURCE_SURFACE_REFLECTANCE", .string("LaSRC_1.6.0")),
                ]
            ),
            (
                "LEVEL1_PROCESSING_RECORD",
                [
                    ("LANDSAT_SCENE_ID", .string(sceneId)),
                    ("LANDSAT_PRODUCT_ID", .string(id.replacingOccurrences(of: "L2SP", with: "L1TP"))),
                    ("PROCESSING_LEVEL", .string("L1TP")), ("COLLECTION_CATEGORY", .string(category)),
                    ("DATE_PRODUCT_GENERATED", .string(Timestamp.format(acquired.addingTimeInterval(14_400)))),
                    ("DATA_SOURCE_ELEVATION", .string("GLS2000")),
                ]
            ),
            (
                "LEVEL1_PROJECTION_PARAMETERS",
                [
                    ("MAP_PROJECTION", .string("UTM")), ("DATUM", .string("WGS84")), ("ELLIPSOID", .string("WGS84")),
                    ("UTM_ZONE", .number("\(zone)")), ("GRID_CELL_SIZE_REFLECTIVE", .number("30.00")),
                    ("ORIENTATION", .string("NORTH_UP")), ("RESAMPLING_OPTION", .string("CUBIC_CONVOLUTION")),
                ]
            ),
        ])
    }

    package func dayOfYear(_ d: Date) -> String {
        let text = Timestamp.format(d)
        let year = String(text.prefix(4))
        let jan1 = Timestamp.parse("\(year)-01-01T00:00:00Z")!
        return year + String(format: "%03d", Int(d.timeIntervalSince(jan1) / 86_400) + 1)
    }
}

/// An MTL as groups of ordered key/value pairs, written in any of USGS's three encodings.
package struct MTLDocumentWriter {
    package enum Value {
        case string(String)
        case number(String)
        package var text: String {
            switch self {
            case .string(let s), .number(let s): return s
            }
        }
    }
    package var groups: [(String, [(String, Value)])]

    package func odl() -> String {
        var s = "GROUP = LANDSAT_METADATA_FILE\n"
        for (g, pairs) in groups {
            s += "  GROUP = \(g)\n"
            for (k, v) in pairs {
                switch v {
                case .string(let t): s += "    \(k) = \"\(t)\"\n"
                case .number(let t): s += "    \(k) = \(t)\n"
                }
            }
            s += "  END_GROUP = \(g)\n"
        }
        return s + "END_GROUP = LANDSAT_METADATA_FILE\nEND\n"
    }

    /// USGS's JSON encoding: every value is a string.
    package func json() -> String {
        var inner = JSONObject()
        for (g, pairs) in groups {
            var o = JSONObject()
            for (k, v) in pairs { o[k] = .string(v.text) }
            inner[g] = .object(o)
        }
        return JSONValue.object(["LANDSAT_METADATA_FILE": .object(inner)]).serializedString(pretty: true)
    }

    package func xml() -> String {
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LANDSAT_METADATA_FILE>\n"
        for (g, pairs) in groups {
            s += "  <\(g)>\n"
            for (k, v) in pairs {
                let t = v.text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                s += "    <\(k)>\(t)</\(k)>\n"
            }
            s += "  </\(g)>\n"
        }
        return s + "</LANDSAT_METADATA_FILE>\n"
    }
}
