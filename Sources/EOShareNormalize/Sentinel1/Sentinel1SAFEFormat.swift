import EOShareCore
import EOShareUnpack
import Foundation

/// Sentinel-1 SAFE as a plug-in: the object's `manifest.safe`, with the first product
/// annotation (`annotation/s1?-….xml`) of the same .SAFE folder when present. The
/// product's name is its folder's, else the object's (`S1A_…_6FF8.SAFE.zip`).
struct Sentinel1SAFEFormat: FormatReader {
    var name: String { "sentinel1-safe" }
    var mappingDoc: String { "Docs/normalize-mapping.md#sentinel1-safe" }

    func pick(_ files: [UnpackedFile], source: SourceConfig) throws(NormalizeError) -> Sentinel1SAFEReader.Input {
        guard let manifest = files.first(where: { Normalizer.baseName($0.name) == "manifest.safe" }) else {
            throw NormalizeError("no Sentinel-1 manifest.safe in the object (\(files.count) files)")
        }
        let folder = Normalizer.folderName(manifest.name)
        let annotation = files.first {
            $0.name.hasPrefix(folder + "annotation/s1") && $0.name.hasSuffix(".xml")
                && !$0.name.dropFirst(folder.count + 11).contains("/")
        }
        let product = Normalizer.baseName(String(folder.dropLast()))
        return Sentinel1SAFEReader.Input(
            productName: product.isEmpty ? nil : product,
            manifestName: manifest.name,
            manifest: try Normalizer.bytes(of: manifest),
            manifestFile: manifest.url,
            annotation: try annotation.map { f throws(NormalizeError) in try Normalizer.bytes(of: f) }
        )
    }

    func read(_ input: Sentinel1SAFEReader.Input, context: ReaderContext) throws(NormalizeError) -> ReaderOutput {
        ReaderOutput(records: [try Sentinel1SAFEReader.read(input, context: context)])
    }
}
