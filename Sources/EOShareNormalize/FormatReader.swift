import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// A metadata format as a plug-in. The normalize stage knows formats only through this
/// protocol and `FormatRegistry`; each format's folder holds its conformance
/// (`<Folder>/*Format.swift`): which files of an unpacked object it reads, and how.
///
/// The conformances, this file and the registry use the pipeline's types (`UnpackedFile`,
/// `SourceConfig`); the readers they call do not, so the fuzz targets compile the readers
/// without them (Tests/Fuzz/run.sh leaves these files out).
public protocol FormatReader: Sendable {
    /// What `pick` hands to `read`: the format's files found among the object's.
    associatedtype Selection

    /// The pipeline's `format:` value.
    var name: String { get }

    /// Where the format's field mapping is documented: a section of `Docs/`.
    var mappingDoc: String { get }

    /// The media type of the format's objects whatever their names say, when the format fixes
    /// it (a CMR UMM-G answer is JSON at any URL). The fetch stage reads it through the
    /// source's `SourceFormat` to tell an error page from data, so fetch knows no format.
    var objectMediaType: String? { get }

    /// The key of the source settings block the format needs (`packets`), or nil.
    var settingsKey: String? { get }

    /// Finds the files the format reads among the object's (names may be paths inside an
    /// archive); throws naming what is missing.
    func pick(_ files: [UnpackedFile], source: SourceConfig) throws(NormalizeError) -> Selection

    /// Reads the picked files into records.
    func read(_ selection: Selection, context: ReaderContext) throws(NormalizeError) -> ReaderOutput
}

extension FormatReader {
    public var objectMediaType: String? { nil }
    public var settingsKey: String? { nil }

    /// Picks and reads in one step (opens the existential for the normalizer).
    func normalize(
        _ files: [UnpackedFile],
        source: SourceConfig,
        context: ReaderContext
    ) throws(NormalizeError) -> ReaderOutput {
        try read(try pick(files, source: source), context: context)
    }
}

extension SourceFormat {
    /// The format as the other stages see it: its name and what it declares for them.
    public init(_ reader: any FormatReader) {
        self.init(name: reader.name, objectMediaType: reader.objectMediaType, settingsKey: reader.settingsKey)
    }
}
