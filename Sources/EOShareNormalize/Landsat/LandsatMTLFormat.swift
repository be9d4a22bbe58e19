import EOShareCore
import EOShareUnpack
import Foundation

/// Landsat Collection 2 as a plug-in: the `*_MTL.txt`/`.json`/`.xml` of the object (or its
/// only file), with the same product's `_ANG.txt` for the footprint when it came along.
struct LandsatMTLFormat: FormatReader {
    struct Selection {
        var metadata: UnpackedFile
        var angle: UnpackedFile?
    }

    var name: String { "landsat-mtl" }
    var mappingDoc: String { "Docs/normalize-mapping.md#landsat-mtl" }

    func pick(_ files: [UnpackedFile], source: SourceConfig) throws(NormalizeError) -> Selection {
        let candidates = files.filter { Normalizer.isMTLName(Normalizer.baseName($0.name)) }
        guard let meta = candidates.first ?? (files.count == 1 ? files.first : nil) else {
            throw NormalizeError("no Landsat *_MTL.txt, .json or .xml file in the object")
        }
        // The angle file of the same product gives the footprint, as stactools takes it.
        let product = Normalizer.baseName(meta.name).components(separatedBy: "_MTL.")[0]
        let angle = files.first { Normalizer.baseName($0.name) == product + "_ANG.txt" }
        return Selection(metadata: meta, angle: angle)
    }

    func read(_ selection: Selection, context: ReaderContext) throws(NormalizeError) -> ReaderOutput {
        let meta = selection.metadata
        var record = try LandsatMTLReader.read(
            try Normalizer.bytes(of: meta),
            angle: try selection.angle.map { f throws(NormalizeError) in try Normalizer.bytes(of: f) },
            context: context
        )
        // The metadata file itself always travels with the record.
        if !record.assets.contains(where: { $0.localFile == meta.url }) {
            record.assets.append(
                Asset(
                    key: "metadata",
                    href: Normalizer.baseName(meta.name),
                    title: "Product metadata",
                    mediaType: Normalizer.mediaType(meta.name),
                    roles: ["metadata"],
                    localFile: meta.url
                )
            )
        }
        return ReaderOutput(records: [record])
    }
}
