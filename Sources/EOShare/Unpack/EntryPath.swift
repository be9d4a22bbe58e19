/// An archive entry's path once checked: relative, inside the record's folder, `/`-separated,
/// UTF-8 with no control characters, `.` and empty components dropped (`./a//b` is `a/b`).
/// Everything that could place a file elsewhere is refused rather than repaired.
struct EntryPath: Hashable, Sendable, CustomStringConvertible {
    /// Longest path taken (Linux's PATH_MAX), and longest component (NAME_MAX).
    static let maxBytes = 4096
    static let maxComponentBytes = 255

    let components: [String]
    /// The components joined by `/`: the name the record's files carry.
    let path: String

    var description: String { path }

    /// The folders above this path, outermost first (`a`, `a/b` for `a/b/c`).
    var parents: [String] {
        components.indices.dropLast().map { components[...$0].joined(separator: "/") }
    }

    /// Checks the raw name an archive gives; nil when it names the record's folder itself (`./`).
    static func check<Bytes: Collection<UInt8>>(_ raw: Bytes) throws(UnpackError.Cause) -> EntryPath? {
        guard !raw.isEmpty else { throw .invalidName("empty") }
        guard raw.count <= maxBytes else { throw .invalidName("longer than \(maxBytes) bytes") }
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidName("not valid UTF-8") }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw .invalidName("control character")
        }
        if text.contains("\\") { throw .backslash }
        if text.hasPrefix("/") { throw .absolutePath }
        let components = text.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        if components.contains("..") { throw .parentReference }
        guard let first = components.first else { return nil }
        if isDriveLetter(first) { throw .driveLetter }
        if components.contains(where: { $0.utf8.count > maxComponentBytes }) {
            throw .invalidName("a component is longer than \(maxComponentBytes) bytes")
        }
        let strings = components.map(String.init)
        return EntryPath(components: strings, path: strings.joined(separator: "/"))
    }

    /// `C:`, `c:foo`: Windows reads these as a drive, whatever follows.
    private static func isDriveLetter(_ component: Substring) -> Bool {
        let bytes = Array(component.utf8.prefix(2))
        guard bytes.count == 2, bytes[1] == UInt8(ascii: ":") else { return false }
        return (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0] | 0x20)
    }
}
