import EOShareCore
import EOShareFetch
import EOShareUnpack

/// The Sentinel-2 MSI bands and how an image file of a SAFE product becomes an asset: key,
/// title, roles, `eo:bands` and `gsd` as stactools-sentinel2 writes them.
package enum Sentinel2Bands {
    package struct Band {
        package let id: String
        package let key: String
        package let title: String
        package let commonName: String
        package let center: Double
        package let fwhm: Double
        /// The band's native resolution in metres: its unsuffixed asset.
        package let gsd: Int

        package var eoBand: JSONValue {
            .object([
                "name": .string(id), "common_name": .string(commonName), "center_wavelength": .number(center),
                "full_width_half_max": .number(fwhm),
            ])
        }
    }

    package static let bands: [Band] = [
        Band(id: "B01", key: "coastal", title: "Coastal", commonName: "coastal", center: 0.443, fwhm: 0.027, gsd: 60),
        Band(id: "B02", key: "blue", title: "Blue", commonName: "blue", center: 0.49, fwhm: 0.098, gsd: 10),
        Band(id: "B03", key: "green", title: "Green", commonName: "green", center: 0.56, fwhm: 0.045, gsd: 10),
        Band(id: "B04", key: "red", title: "Red", commonName: "red", center: 0.665, fwhm: 0.038, gsd: 10),
        Band(
            id: "B05",
            key: "rededge1",
            title: "Red Edge 1",
            commonName: "rededge",
            center: 0.704,
            fwhm: 0.019,
            gsd: 20
        ),
        Band(
            id: "B06",
            key: "rededge2",
            title: "Red Edge 2",
            commonName: "rededge",
            center: 0.74,
            fwhm: 0.018,
            gsd: 20
        ),
        Band(
            id: "B07",
            key: "rededge3",
            title: "Red Edge 3",
            commonName: "rededge",
            center: 0.783,
            fwhm: 0.028,
            gsd: 20
        ),
        Band(id: "B08", key: "nir", title: "NIR 1", commonName: "nir", center: 0.842, fwhm: 0.145, gsd: 10),
        Band(id: "B8A", key: "nir08", title: "NIR 2", commonName: "nir08", center: 0.865, fwhm: 0.033, gsd: 20),
        Band(id: "B09", key: "nir09", title: "NIR 3", commonName: "nir09", center: 0.945, fwhm: 0.026, gsd: 60),
        Band(id: "B10", key: "cirrus", title: "Cirrus", commonName: "cirrus", center: 1.3735, fwhm: 0.075, gsd: 60),
        Band(
            id: "B11",
            key: "swir16",
            title: "SWIR 1.6μm",
            commonName: "swir16",
            center: 1.61,
            fwhm: 0.143,
            gsd: 20
        ),
        Band(
            id: "B12",
            key: "swir22",
            title: "SWIR 2.2μm",
            commonName: "swir22",
            center: 2.19,
            fwhm: 0.242,
            gsd: 20
        ),
    ]

    package static let byID: [String: Band] = Dictionary(uniqueKeysWithValues: bands.map { ($0.id, $0) })

    /// Red, green, blue: the bands of the true-colour image and the preview.
    package static let rgb: JSONValue = .array(["B04", "B03", "B02"].map { byID[$0]!.eoBand })

    package struct AssetSpec {
        package var key: String
        package var title: String
        package var roles: [String]
        package var extra: JSONObject
    }

    /// The asset for an image file name (without extension), or nil for a file stactools does
    /// not publish. `…_B02_20m` → `blue_20m`; `…_B02` (Level-1C) → `blue`; `…_TCI_10m` → `visual`.
    package static func asset(forImage name: String) -> AssetSpec? {
        let resolution = self.resolution(in: name)
        var extra = JSONObject()
        if name.containsUTF8("_PVI") {
            return AssetSpec(key: "preview", title: "True color preview", roles: ["overview"], extra: ["eo:bands": rgb])
        }
        if let band = band(in: name) {
            let res = resolution ?? band.gsd
            let key = res == band.gsd ? band.key : "\(band.key)_\(res)m"
            extra["eo:bands"] = .array([band.eoBand])
            if res == band.gsd { extra["gsd"] = .int(Int64(res)) }
            return AssetSpec(key: key, title: "\(band.title) - \(res)m", roles: ["data", "reflectance"], extra: extra)
        }
        if let resolution { extra["gsd"] = .int(Int64(resolution)) }
        func keyed(_ base: String, default native: Int) -> String {
            guard let resolution, resolution != native else { return base }
            return "\(base)_\(resolution)m"
        }
        if has(name, "TCI") {
            extra["eo:bands"] = rgb
            return AssetSpec(
                key: keyed("visual", default: 10),
                title: "True color image",
                roles: ["visual"],
                extra: extra
            )
        }
        let products: [(code: String, key: String, title: String, roles: [String])] = [
            ("AOT", "aot", "Aerosol optical thickness (AOT)", ["data"]),
            ("WVP", "wvp", "Water Vapour (WVP)", ["data"]),
            ("SCL", "scl", "Scene classification map (SCL)", ["data"]),
            ("CLD", "cloud", "Cloud Probabilities", ["data", "cloud"]),
            ("SNW", "snow", "Snow Probabilities", ["data", "snow-ice"]),
        ]
        for product in products where has(name, product.code) {
            return AssetSpec(
                key: keyed(product.key, default: 20),
                title: product.title,
                roles: product.roles,
                extra: extra
            )
        }
        return nil
    }

    /// `_B02`, `_B8A` in a name → the band.
    package static func band(in name: String) -> Band? {
        let bytes = Array(name.utf8)
        guard bytes.count >= 4 else { return nil }
        for i in 0..<(bytes.count - 3)
        where (bytes[i] == UInt8(ascii: "_") || bytes[i] == UInt8(ascii: "/")) && bytes[i + 1] == UInt8(ascii: "B")
            && TextBytes.isDigit(bytes[i + 2])
            && (TextBytes.isDigit(bytes[i + 3]) || bytes[i + 3] == UInt8(ascii: "A"))
        {
            if let band = byID[String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self)] { return band }
        }
        return nil
    }

    /// `_10m` / `R20m` in a name → 10 / 20 (stactools' `[_R](\d0)m`).
    package static func resolution(in name: String) -> Int? {
        let bytes = Array(name.utf8)
        guard bytes.count >= 4 else { return nil }
        for i in 0..<(bytes.count - 3)
        where (bytes[i] == UInt8(ascii: "_") || bytes[i] == UInt8(ascii: "R")) && TextBytes.isDigit(bytes[i + 1])
            && bytes[i + 2] == UInt8(ascii: "0") && bytes[i + 3] == UInt8(ascii: "m")
        {
            return Int(bytes[i + 1] - 0x30) * 10
        }
        return nil
    }

    /// `_CODE_` or `_CODE` at the end: the product code as its own name part.
    private static func has(_ name: String, _ code: String) -> Bool {
        name.containsUTF8("_\(code)_") || name.hasSuffix("_\(code)")
    }
}
