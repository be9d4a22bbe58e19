import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// The Landsat sensors, which decide band numbering, asset keys and instrument names.
package enum LandsatSensor: Sendable, Hashable {
    case mss, tm, etm, oli, tirs, oliTirs

    /// From the MTL's SENSOR_ID (`OLI_TIRS`, `ETM`, `TM`, `MSS`, …).
    package init?(sensorID: String) {
        switch sensorID {
        case "MSS": self = .mss
        case "TM": self = .tm
        case "ETM", "ETM+": self = .etm
        case "OLI": self = .oli
        case "TIRS": self = .tirs
        case "OLI_TIRS": self = .oliTirs
        default: return nil
        }
    }

    /// From the second letter of a product id (`LC08…` → OLI/TIRS), as stactools does.
    package init?(productID: String, satellite: Int) {
        let letters = Array(productID.utf8)
        guard letters.count > 1 else { return nil }
        switch letters[1] {
        case UInt8(ascii: "M"): self = .mss
        case UInt8(ascii: "T"): self = satellite >= 8 ? .tirs : .tm
        case UInt8(ascii: "E"): self = .etm
        case UInt8(ascii: "O"): self = .oli
        case UInt8(ascii: "C"): self = .oliTirs
        default: return nil
        }
    }

    /// STAC `instruments`, spelled as stactools spells them.
    package var instruments: [String] {
        switch self {
        case .mss: return ["mss"]
        case .tm: return ["tm"]
        case .etm: return ["etm+"]
        case .oli: return ["oli"]
        case .tirs: return ["tirs"]
        case .oliTirs: return ["oli", "tirs"]
        }
    }

    /// Nominal ground sample distance of the reflective bands (stactools' item `gsd`).
    package var gsd: Double {
        switch self {
        case .mss: return 79
        case .tirs: return 100
        case .tm, .etm, .oli, .oliTirs: return 30
        }
    }

    package var isOLIFamily: Bool { self == .oli || self == .tirs || self == .oliTirs }
}

/// One spectral band: its asset key and title (as stactools names them) and its `eo:bands` entry.
package struct LandsatBand: Sendable {
    package let key: String
    package let title: String
    /// Asset `gsd` where it differs from the item's (thermal and panchromatic bands).
    package let gsd: Double?
    /// The asset's `eo:bands`, built once per band (the tables below are static).
    package let eoBands: JSONValue

    package init(
        _ key: String,
        _ title: String,
        _ name: String,
        _ description: String,
        _ center: Double,
        _ fwhm: Double,
        gsd: Double? = nil
    ) {
        self.key = key
        self.title = title
        self.gsd = gsd
        eoBands = .array([
            .object([
                "name": .string(name), "common_name": .string(key), "description": .string(description),
                "center_wavelength": .number(center), "full_width_half_max": .number(fwhm),
            ])
        ])
    }

    /// The band a sensor records under MTL band number `number` (`FILE_NAME_BAND_<n>`).
    package static func band(_ number: Int, sensor: LandsatSensor, satellite: Int) -> LandsatBand? {
        switch sensor {
        // Landsat 1-3 number their MSS bands 4-7; Landsat 4-5 number the same bands 1-4.
        case .mss: return satellite <= 3 ? mss1to3[number] : mss4to5[number]
        case .tm: return tm[number]
        case .etm: return etm[number]
        case .oli, .tirs, .oliTirs: return oliTirs[number]
        }
    }

    private static func mss(first: Int) -> [Int: LandsatBand] {
        [
            first: LandsatBand("green", "Green Band", "B\(first)", "Visible green", 0.55, 0.1),
            first + 1: LandsatBand("red", "Red Band", "B\(first + 1)", "Visible red", 0.65, 0.1),
            first + 2: LandsatBand("nir08", "Near Infrared Band 0.8", "B\(first + 2)", "Near infrared", 0.75, 0.1),
            first + 3: LandsatBand("nir09", "Near Infrared Band 0.9", "B\(first + 3)", "Near infrared", 0.95, 0.3),
        ]
    }

    private static let mss1to3 = mss(first: 4)
    private static let mss4to5 = mss(first: 1)

    private static let tm: [Int: LandsatBand] = [
        1: LandsatBand("blue", "Blue Band", "TM_B1", "Visible blue", 0.49, 0.07),
        2: LandsatBand("green", "Green Band", "TM_B2", "Visible green", 0.56, 0.08),
        3: LandsatBand("red", "Red Band", "TM_B3", "Visible red", 0.66, 0.06),
        4: LandsatBand("nir08", "Near Infrared Band 0.8", "TM_B4", "Near infrared", 0.83, 0.14),
        5: LandsatBand("swir16", "Short-wave Infrared Band 1.6", "TM_B5", "Short-wave infrared", 1.65, 0.2),
        6: LandsatBand("lwir", "Thermal Infrared Band", "TM_B6", "Long-wave infrared", 11.45, 2.1, gsd: 120),
        7: LandsatBand("swir22", "Short-wave Infrared Band 2.2", "TM_B7", "Short-wave infrared", 2.22, 0.27),
    ]

    private static let etm: [Int: LandsatBand] = [
        1: LandsatBand("blue", "Blue Band", "ETM_B1", "Visible blue", 0.48, 0.07),
        2: LandsatBand("green", "Green Band", "ETM_B2", "Visible green", 0.56, 0.08),
        3: LandsatBand("red", "Red Band", "ETM_B3", "Visible red", 0.66, 0.06),
        4: LandsatBand("nir08", "Near Infrared Band 0.8", "ETM_B4", "Near infrared", 0.84, 0.13),
        5: LandsatBand("swir16", "Short-wave Infrared Band 1.6", "ETM_B5", "Short-wave infrared", 1.65, 0.2),
        6: LandsatBand("lwir", "Thermal Infrared Band", "ETM_B6", "Long-wave infrared", 11.34, 2.05, gsd: 60),
        7: LandsatBand("swir22", "Short-wave Infrared Band 2.2", "ETM_B7", "Short-wave infrared", 2.2, 0.28),
        8: LandsatBand("pan", "Panchromatic Band", "ETM_B8", "Visible panchromatic", 0.71, 0.38, gsd: 15),
    ]

    private static let oliTirs: [Int: LandsatBand] = [
        1: LandsatBand("coastal", "Coastal/Aerosol Band", "OLI_B1", "Coastal/Aerosol", 0.44, 0.02),
        2: LandsatBand("blue", "Blue Band", "OLI_B2", "Visible blue", 0.48, 0.06),
        3: LandsatBand("green", "Green Band", "OLI_B3", "Visible green", 0.56, 0.06),
        4: LandsatBand("red", "Red Band", "OLI_B4", "Visible red", 0.65, 0.04),
        5: LandsatBand("nir08", "Near Infrared Band 0.8", "OLI_B5", "Near infrared", 0.87, 0.03),
        6: LandsatBand("swir16", "Short-wave Infrared Band 1.6", "OLI_B6", "Short-wave infrared", 1.61, 0.09),
        7: LandsatBand("swir22", "Short-wave Infrared Band 2.2", "OLI_B7", "Short-wave infrared", 2.2, 0.19),
        8: LandsatBand("pan", "Panchromatic Band", "OLI_B8", "Visible panchromatic", 0.59, 0.18, gsd: 15),
        9: LandsatBand("cirrus", "Cirrus Band", "OLI_B9", "Cirrus", 1.37, 0.02),
        10: LandsatBand("lwir11", "Thermal Infrared Band 10.9", "TIRS_B10", "Long-wave infrared", 10.9, 0.59, gsd: 100),
        11: LandsatBand("lwir12", "Thermal Infrared Band 12.0", "TIRS_B11", "Long-wave infrared", 12.0, 1.01, gsd: 100),
    ]
}

/// How one file named by the MTL becomes a STAC asset: key, title, roles and extra fields as
/// stactools-landsat writes them, and a rank that orders the assets as stactools does.
package struct LandsatAssetSpec: Sendable {
    package var rank: Int
    package var key: String
    package var title: String
    package var description: String?
    package var roles: [String]
    package var extra: JSONObject = [:]

    /// The product's scene facts an asset description depends on.
    package struct Product: Sendable {
        package let productID: String
        package let sensor: LandsatSensor
        package let satellite: Int
        /// 1 or 2, from PROCESSING_LEVEL.
        package let level: Int
    }

    package static let cloudOptimizedGeoTIFF = "image/tiff; application=geotiff; profile=cloud-optimized"

    /// Media type from the file extension.
    package static func mediaType(of fileName: String) -> String? {
        switch fileExtension(fileName) {
        case "tif", "tiff": return cloudOptimizedGeoTIFF
        case "txt": return "text/plain"
        case "xml": return "application/xml"
        case "json": return "application/json"
        case "jpeg", "jpg": return "image/jpeg"
        case "png": return "image/png"
        case "h5": return "application/x-hdf5"
        default: return nil
        }
    }

    /// The spec for the file `fileName` that the MTL names under `mtlKey` (`FILE_NAME_…`).
    package static func spec(mtlKey: String, fileName: String, product: Product) -> LandsatAssetSpec {
        let code = fileCode(fileName, productID: product.productID)
        let l2 = "Collection 2 Level-2"
        // Band files are most of the keys: matched first, before the switch of the others
        // (a switch over strings compares them one by one).
        let bandPrefix = "FILE_NAME_BAND_"
        if mtlKey.hasPrefix(bandPrefix + "ST_B"), let number = Int(mtlKey.dropFirst(bandPrefix.count + 4)),
            let band = LandsatBand.band(number, sensor: product.sensor, satellite: product.satellite)
        {
            var spec = LandsatAssetSpec(
                rank: 300,
                key: band.key,
                title: "Surface Temperature Band",
                description: "\(l2) Thermal Infrared Band (\(code)) Surface Temperature",
                roles: ["data", "temperature"]
            )
            spec.extra["eo:bands"] = band.eoBands
            if let gsd = band.gsd { spec.extra["gsd"] = .number(gsd) }
            return spec
        }
        if mtlKey.hasPrefix(bandPrefix), let number = Int(mtlKey.dropFirst(bandPrefix.count)),
            let band = LandsatBand.band(number, sensor: product.sensor, satellite: product.satellite)
        {
            var spec =
                product.level >= 2
                ? LandsatAssetSpec(
                    rank: 100 + number,
                    key: band.key,
                    title: band.title,
                    description: "\(l2) \(band.title) (\(code)) Surface Reflectance",
                    roles: ["data", "reflectance"]
                )
                : LandsatAssetSpec(
                    rank: 100 + number,
                    key: band.key,
                    title: band.title,
                    description: "Collection 2 Level-1 \(band.title) (\(code)) Top of Atmosphere Radiance",
                    roles: ["data"]
                )
            spec.extra["eo:bands"] = band.eoBands
            if let gsd = band.gsd { spec.extra["gsd"] = .number(gsd) }
            return spec
        }
        switch mtlKey {
        case "FILE_NAME_METADATA_ODL": return metadata(rank: 3, format: "txt", level: product.level)
        case "FILE_NAME_METADATA_XML": return metadata(rank: 4, format: "xml", level: product.level)
        case "FILE_NAME_METADATA_JSON": return metadata(rank: 2, format: "json", level: product.level)
        case "FILE_NAME_ANGLE_COEFFICIENT":
            return LandsatAssetSpec(
                rank: 5,
                key: "ang",
                title: "Angle Coefficients File",
                description: "Collection 2 Level-1 Angle Coefficients File",
                roles: ["metadata"]
            )
        case "FILE_NAME_QUALITY_L1_PIXEL":
            let title = "Pixel Quality Assessment Band"
            return LandsatAssetSpec(
                rank: 6,
                key: "qa_pixel",
                title: title,
                description: "Collection 2 Level-1 \(title) (\(code))",
                roles: product.sensor == .mss ? ["cloud"] : ["cloud", "cloud-shadow", "snow-ice", "water-mask"]
            )
        case "FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION":
            let title =
                product.sensor.isOLIFamily
                ? "Radiometric Saturation and Terrain Occlusion Quality Assessment Band"
                : "Radiometric Saturation and Dropped Pixel Quality Assessment Band"
            return LandsatAssetSpec(
                rank: 7,
                key: "qa_radsat",
                title: title,
                description: "Collection 2 Level-1 \(title) (\(code))",
                roles: ["saturation"]
            )
        case "FILE_NAME_QUALITY_L2_AEROSOL":
            return surfaceReflectanceProduct(
                rank: 200,
                key: "qa_aerosol",
                title: "Aerosol Quality Assessment Band",
                code: code,
                roles: ["data-mask", "water-mask"]
            )
        case "FILE_NAME_ATMOSPHERIC_OPACITY":
            return surfaceReflectanceProduct(
                rank: 201,
                key: "atmos_opacity",
                title: "Atmospheric Opacity Band",
                code: code,
                roles: ["data"]
            )
        case "FILE_NAME_QUALITY_L2_SURFACE_REFLECTANCE_CLOUD":
            return surfaceReflectanceProduct(
                rank: 202,
                key: "cloud_qa",
                title: "Cloud Quality Assessment Band",
                code: code,
                roles: ["cloud", "cloud-shadow", "snow-ice", "water-mask"]
            )
        case "FILE_NAME_ATMOSPHERIC_TRANSMITTANCE":
            return temperatureProduct(rank: 301, key: "atran", title: "Atmospheric Transmittance Band", code: code)
        case "FILE_NAME_CLOUD_DISTANCE":
            return temperatureProduct(rank: 302, key: "cdist", title: "Cloud Distance Band", code: code)
        case "FILE_NAME_DOWNWELL_RADIANCE":
            return temperatureProduct(rank: 303, key: "drad", title: "Downwelled Radiance Band", code: code)
        case "FILE_NAME_UPWELL_RADIANCE":
            return temperatureProduct(rank: 304, key: "urad", title: "Upwelled Radiance Band", code: code)
        case "FILE_NAME_THERMAL_RADIANCE":
            return temperatureProduct(rank: 305, key: "trad", title: "Thermal Radiance Band", code: code)
        case "FILE_NAME_EMISSIVITY":
            return temperatureProduct(
                rank: 306,
                key: "emis",
                title: "Emissivity Band",
                code: code,
                roles: ["data", "emissivity"]
            )
        case "FILE_NAME_EMISSIVITY_STDEV":
            return temperatureProduct(
                rank: 307,
                key: "emsd",
                title: "Emissivity Standard Deviation Band",
                code: code,
                roles: ["data", "emissivity"]
            )
        case "FILE_NAME_QUALITY_L2_SURFACE_TEMPERATURE":
            return LandsatAssetSpec(
                rank: 308,
                key: "qa",
                title: "Surface Temperature Quality Assessment Band",
                description: "\(l2) Quality Assessment Band (\(code)) Surface Temperature Product",
                roles: ["data"]
            )
        default:
            break
        }
        return fallback(mtlKey: mtlKey, fileName: fileName, code: code)
    }

    /// Companion files stactools adds although the MTL does not name them, by file-name suffix.
    package static func companions(productID: String, level: Int) -> [(fileName: String, spec: LandsatAssetSpec)] {
        [
            (
                "\(productID)_thumb_small.jpeg",
                LandsatAssetSpec(rank: 0, key: "thumbnail", title: "Thumbnail image", roles: ["thumbnail"])
            ),
            (
                "\(productID)_thumb_large.jpeg",
                LandsatAssetSpec(
                    rank: 1,
                    key: "reduced_resolution_browse",
                    title: "Reduced resolution browse image",
                    roles: ["overview"]
                )
            ),
            ("\(productID)_MTL.json", metadata(rank: 2, format: "json", level: level)),
        ]
    }

    /// A file this table does not know: keyed by its file-name code (`…_VAA.TIF` → `vaa`),
    /// titled from its MTL key, so no named file is dropped.
    private static func fallback(mtlKey: String, fileName: String, code: String) -> LandsatAssetSpec {
        let bare = mtlKey.hasPrefix("FILE_NAME_") ? String(mtlKey.dropFirst("FILE_NAME_".count)) : mtlKey
        let title = bare.split(separator: "_").map { $0.prefix(1) + $0.dropFirst().lowercased() }.joined(separator: " ")
        let roles: [String]
        switch fileExtension(fileName) {
        case "tif", "tiff": roles = ["data"]
        case "txt", "xml", "json": roles = ["metadata"]
        default: roles = []
        }
        let key = code.isEmpty ? bare.lowercased() : code.lowercased()
        return LandsatAssetSpec(rank: 1000, key: key, title: title, roles: roles)
    }

    private static func metadata(rank: Int, format: String, level: Int) -> LandsatAssetSpec {
        LandsatAssetSpec(
            rank: rank,
            key: "mtl.\(format)",
            title: "Product Metadata File (\(format))",
            description: "Collection 2 Level-\(level) Product Metadata File (\(format))",
            roles: ["metadata"]
        )
    }

    private static func surfaceReflectanceProduct(
        rank: Int,
        key: String,
        title: String,
        code: String,
        roles: [String]
    ) -> LandsatAssetSpec {
        LandsatAssetSpec(
            rank: rank,
            key: key,
            title: title,
            description: "Collection 2 Level-2 \(title) (\(code)) Surface Reflectance Product",
            roles: roles
        )
    }

    private static func temperatureProduct(
        rank: Int,
        key: String,
        title: String,
        code: String,
        roles: [String] = ["data"]
    ) -> LandsatAssetSpec {
        LandsatAssetSpec(
            rank: rank,
            key: key,
            title: title,
            description: "Collection 2 Level-2 \(title) (\(code)) Surface Temperature Product",
            roles: roles
        )
    }

    /// `LC08_…_T1_SR_B2.TIF` → `SR_B2`: the file name without product id and extension.
    package static func fileCode(_ fileName: String, productID: String) -> String {
        var name = fileName
        var id = productID
        return name.withUTF8 { n in
            id.withUTF8 { p in
                var end = n.count
                if let dot = n.lastIndex(of: UInt8(ascii: ".")) { end = dot }
                var start = 0
                if end > p.count, n[p.count] == UInt8(ascii: "_"),
                    p.isEmpty || memcmp(n.baseAddress!, p.baseAddress!, p.count) == 0
                {
                    start = p.count + 1
                }
                return String(decoding: UnsafeBufferPointer(rebasing: n[start..<end]), as: UTF8.self)
            }
        }
    }

    package static func fileExtension(_ fileName: String) -> String {
        guard let dot = fileName.lastIndex(of: ".") else { return "" }
        return fileName[fileName.index(after: dot)...].lowercased()
    }
}
