/// An invalid pipeline file: names file:line:column and the offending key (exit 78).
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var column: Int
    /// Dotted key path, e.g. `sources[1].owner`.
    public var key: String
    public var message: String

    public var description: String { "\(file):\(line):\(column): \(key): \(message)" }
}
