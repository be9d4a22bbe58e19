import EOShareCore
import EOShareUnpack
import Foundation

/// Sentinel-2 SAFE as a plug-in: `MTD_MSIL1C.xml` or `MTD_MSIL2A.xml`, with the
/// `manifest.safe` and `GRANULE/*/MTD_TL.xml` of the same .SAFE folder when present.
struct Sentinel2SAFEFormat: FormatReader {
    var name: String { "sentinel2-safe" }
    var mappingDoc: String { "Docs/normalize-mapping.md#sentinel2-safe" }

    func pick(_ files: [UnpackedFile], source: SourceConfig) throws(NormalizeError) -> Sentinel2SAFEReader.Input {
        let product = try Normalizer.pick(files, "a Sentinel-2 MTD_MSIL1C.xml or MTD_MSIL2A.xml") {
            let base = Normalizer.baseName($0)
            return base == "MTD_MSIL1C.xml" || base == "MTD_MSIL2A.xml"
        }
        // Companions sit in the same .SAFE folder as the product metadata.
        let folder = Normalizer.folderName(product.name)
        let manifest = files.first { $0.name == folder + "manifest.safe" }
        let granule = files.first {
            $0.name.hasPrefix(folder + "GRANULE/") && $0.name.hasSuffix("/MTD_TL.xml")
                && $0.name.utf8.count > folder.utf8.count + 19
        }
        return Sentinel2SAFEReader.Input(
            productName: product.name,
            product: try Normalizer.bytes(of: product),
            productFile: product.url,
            manifest: try manifest.map { f throws(NormalizeError) in try Normalizer.bytes(of: f) },
            manifestFile: manifest?.url,
            granuleName: granule?.name,
            granule: try granule.map { f throws(NormalizeError) in try Normalizer.bytes(of: f) },
            granuleFile: granule?.url
        )
    }

    func read(_ input: Sentinel2SAFEReader.Input, context: ReaderContext) throws(NormalizeError) -> ReaderOutput {
        ReaderOutput(records: [try Sentinel2SAFEReader.read(input, context: context)])
    }
}
