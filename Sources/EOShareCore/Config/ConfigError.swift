/// An invalid pipeline file: names file:line:column and the offending key (exit 78).
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var column: Int
    /// Dotted key path, e.g. `sources[1].owner`.
    public var key: String
    public var message: String

    /// `file:line:column: key: message`; a file that cannot be read has no position.
    public var description: String {
        line > 0 ? "\(file):\(line):\(column): \(key): \(message)" : "\(file): \(message)"
    }
}
