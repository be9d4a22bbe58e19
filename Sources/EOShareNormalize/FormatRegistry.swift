import EOShareCore
import Foundation

/// Every format the pipeline reads, one line each: the only place a format is named. The
/// pipeline loader takes `format:` values from here, the normalizer its readers.
public enum FormatRegistry {
    public static let readers: [any FormatReader] = [
        LandsatMTLFormat(),
        Sentinel2SAFEFormat(),
        Sentinel1SAFEFormat(),
        MODISECSFormat(),
        CMRUMMGFormat(),
        CCSDSPacketsFormat(),
    ]

    /// The `format:` values, in the registry's order.
    public static var names: [String] { readers.map(\.name) }

    public static func reader(named name: String) -> (any FormatReader)? {
        readers.first { $0.name == name }
    }

    /// Every format as the stages before normalize see it.
    public static var formats: [SourceFormat] { readers.map(SourceFormat.init) }

    /// The source format of that name, or nil when no reader has it.
    public static func format(named name: String) -> SourceFormat? {
        reader(named: name).map(SourceFormat.init)
    }
}

extension Pipeline {
    /// Loads and validates a pipeline file against the registered formats (the loader in
    /// EOShareCore takes them as a list, so it names none).
    public static func load(from file: URL) throws(ConfigError) -> Pipeline {
        try load(from: file, formats: FormatRegistry.formats)
    }

    /// Parses pipeline YAML against the registered formats.
    public static func parse(_ text: String, file: URL) throws(ConfigError) -> Pipeline {
        try parse(text, file: file, formats: FormatRegistry.formats)
    }
}
