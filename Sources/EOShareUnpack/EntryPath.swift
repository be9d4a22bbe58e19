import EOShareCore
import EOShareFetch

/// An archive entry's path once checked: relative, inside the record's folder, `/`-separated,
/// UTF-8 with no control characters, `.` and empty components dropped (`./a//b` is `a/b`).
/// Everything that could place a file elsewhere is refused rather than repaired.
package struct EntryPath: Hashable, Sendable, CustomStringConvertible {
    /// Longest path taken (Linux's PATH_MAX), and longest component (NAME_MAX).
    package static let maxBytes = 4096
    package static let maxComponentBytes = 255

    package let components: [String]
    /// The components joined by `/`: the name the record's files carry.
    package let path: String

    package var description: String { path }

    /// The folders above this path, outermost first (`a`, `a/b` for `a/b/c`).
    package var parents: [String] {
        components.indices.dropLast().map { components[...$0].joined(separator: "/") }
    }

    /// Checks the raw name an archive gives; nil when it names the record's folder itself (`./`).
    ///
    /// Every test is on the UTF-8 bytes, as the file system reads the name: Swift compares
    /// `Character`s, and a combining mark after `/` joins it into one (`../\u{301}` has no
    /// `/` Character and passed as one harmless component, yet the kernel splits it at 0x2F
    /// into `..` and the mark, a file outside the folder).
    package static func check<Bytes: Collection<UInt8>>(_ raw: Bytes) throws(UnpackError.Cause) -> EntryPath? {
        guard !raw.isEmpty else { throw .invalidName("empty") }
        guard raw.count <= maxBytes else { throw .invalidName("longer than \(maxBytes) bytes") }
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidName("not valid UTF-8") }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw .invalidName("control character")
        }
        let bytes = Array(raw)
        let slash = UInt8(ascii: "/")
        let dot = UInt8(ascii: ".")
        if bytes.contains(UInt8(ascii: "\\")) { throw .backslash }
        if bytes[0] == slash { throw .absolutePath }
        let components = bytes.split(separator: slash, omittingEmptySubsequences: true).filter {
            !$0.elementsEqual([dot])
        }
        if components.contains(where: { $0.elementsEqual([dot, dot]) }) { throw .parentReference }
        guard let first = components.first else { return nil }
        if isDriveLetter(first) { throw .driveLetter }
        if components.contains(where: { $0.count > maxComponentBytes }) {
            throw .invalidName("a component is longer than \(maxComponentBytes) bytes")
        }
        // Each component is whole scalars (split at an ASCII byte of valid UTF-8).
        let strings = components.map { String(decoding: $0, as: UTF8.self) }
        return EntryPath(components: strings, path: strings.joined(separator: "/"))
    }

    /// `C:`, `c:foo`: Windows reads these as a drive, whatever follows.
    private static func isDriveLetter(_ component: ArraySlice<UInt8>) -> Bool {
        let bytes = Array(component.prefix(2))
        guard bytes.count == 2, bytes[1] == UInt8(ascii: ":") else { return false }
        return (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0] | 0x20)
    }
}
