import EOShareCore
import EOShareUnpack
import Foundation

/// MODIS ECS metadata as a plug-in: the object's `*.hdf.xml` (or its only file); the HDF
/// granule it describes is an asset, local when it came along.
struct MODISECSFormat: FormatReader {
    var name: String { "modis-ecs" }
    var mappingDoc: String { "Docs/normalize-mapping.md#modis-ecs" }

    func pick(_ files: [UnpackedFile], source: SourceConfig) throws(NormalizeError) -> UnpackedFile {
        try Normalizer.pick(files, "MODIS ECS metadata (*.hdf.xml)") { $0.hasSuffix(".hdf.xml") }
    }

    func read(_ file: UnpackedFile, context: ReaderContext) throws(NormalizeError) -> ReaderOutput {
        ReaderOutput(records: [
            try MODISECSReader.read(try Normalizer.bytes(of: file), name: file.name, context: context)
        ])
    }
}
