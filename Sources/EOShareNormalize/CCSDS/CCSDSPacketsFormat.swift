import EOShareCore
import EOShareUnpack
import Foundation

/// CCSDS space packets as a plug-in: the object is one packet file, read with the source's
/// `packets` settings (time code and epoch), which the pipeline loader requires for it.
struct CCSDSPacketsFormat: FormatReader {
    struct Selection {
        var file: UnpackedFile
        var settings: PacketTimeConfig
    }

    var name: String { "ccsds-packets" }
    var mappingDoc: String { "Docs/normalize-mapping.md#ccsds-packets" }
    var settingsKey: String? { "packets" }

    func pick(_ files: [UnpackedFile], source: SourceConfig) throws(NormalizeError) -> Selection {
        guard let settings = source.packets else { throw NormalizeError("the source has no packets settings") }
        guard let file = files.first, files.count == 1 else {
            throw NormalizeError("a packet file object holds exactly one file, found \(files.count)")
        }
        return Selection(file: file, settings: settings)
    }

    func read(_ selection: Selection, context: ReaderContext) throws(NormalizeError) -> ReaderOutput {
        ReaderOutput(records: [
            try CCSDSPacketReader.read(
                file: selection.file.url,
                name: Normalizer.baseName(selection.file.name),
                settings: selection.settings,
                context: context
            )
        ])
    }
}
