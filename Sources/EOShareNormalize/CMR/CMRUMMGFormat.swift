import EOShareCore
import EOShareUnpack
import Foundation

/// NASA CMR UMM-G as a plug-in: the object's `.json`/`.umm_json` file (or its only file).
/// CMR answers are JSON whatever their URL: declared so fetch does not take one for an
/// error page.
struct CMRUMMGFormat: FormatReader {
    var name: String { "cmr-umm-g" }
    var mappingDoc: String { "Docs/normalize-mapping.md#cmr-umm-g" }
    var objectMediaType: String? { "application/json" }

    func pick(_ files: [UnpackedFile], source: SourceConfig) throws(NormalizeError) -> UnpackedFile {
        try Normalizer.pick(files, "a CMR UMM-G JSON file (.json or .umm_json)") {
            $0.hasSuffix(".json") || $0.hasSuffix(".umm_json")
        }
    }

    func read(_ file: UnpackedFile, context: ReaderContext) throws(NormalizeError) -> ReaderOutput {
        try CMRGranuleReader.read(try Normalizer.bytes(of: file), context: context)
    }
}
