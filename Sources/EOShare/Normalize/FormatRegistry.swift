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

    /// The source format of that name, or nil when no reader has it.
    public static func format(named name: String) -> SourceFormat? {
        reader(named: name).map(SourceFormat.init)
    }
}
