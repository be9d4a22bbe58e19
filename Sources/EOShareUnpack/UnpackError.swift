import EOShareCore
import EOShareFetch

/// Why an object could not be unpacked: its container, the entry at fault (when one is) and
/// the cause. The description is the one-line reason the pipeline quarantines the object with,
/// e.g. `tar.gz entry '../etc/passwd': path escapes the record's folder through '..'`.
public struct UnpackError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What the object was read as: `gzip`, `zlib`, `tar`, `tar.gz`, `tar.zlib` or `zip`.
    public var container: String
    /// The archive entry being read when the problem was found, as the archive names it.
    public var entry: String?
    public var cause: Cause

    public init(container: String, entry: String? = nil, cause: Cause) {
        self.container = container
        self.entry = entry
        self.cause = cause
    }

    /// Where in the data a problem sits: a byte of the object file as fetched, or a byte of
    /// the stream that came out of decompressing it (a tar inside gzip).
    public enum Offset: Sendable, Equatable, CustomStringConvertible {
        case object(Int64)
        case decompressed(Int64)

        public var description: String {
            switch self {
            case .object(let byte): return "byte \(byte)"
            case .decompressed(let byte): return "byte \(byte) of the decompressed stream"
            }
        }
    }

    public enum Cause: Error, Sendable, Equatable, CustomStringConvertible {
        /// A `..` component: the entry would land outside the record's folder.
        case parentReference
        /// A path starting at `/`.
        case absolutePath
        /// A path starting with a Windows drive such as `C:`.
        case driveLetter
        /// A `\`, which Windows tools take for a separator (`..\x`, `C:\x`).
        case backslash
        /// A name no file may carry here (not UTF-8, a control character, empty, too long).
        case invalidName(String)
        /// A symbolic or hard link; the target is shown when the archive states it.
        case link(hard: Bool, target: String?)
        /// A device file, FIFO or socket.
        case specialFile(String)
        /// A second entry with the path of an earlier one.
        case duplicate
        /// A file where an earlier entry put a folder, or the other way round.
        case clashes(with: String)
        /// A feature of the format this reader does not take (sparse files, encryption, …).
        case unsupported(String)
        /// More entries than a record may hold.
        case tooManyEntries(limit: Int)
        /// Decompressed output passed `max_object_bytes`; `inputOffset` is how far into the object.
        case outputLimit(limit: Int64, inputOffset: Int64)
        /// Decompressed output passed `max_expansion_ratio` × the object's size.
        case expansionRatio(limit: Double, inputOffset: Int64)
        /// The data ends before the format says it may; `what` is "compressed stream", "archive", …
        case truncated(String, at: Offset)
        /// The data contradicts its format or its own checksums.
        case corrupt(String, detail: String, at: Offset)
        /// Reading the object or writing its files failed.
        case io(String)

        public var description: String {
            switch self {
            case .parentReference: return "path escapes the record's folder through '..'"
            case .absolutePath: return "absolute path escapes the record's folder"
            case .driveLetter: return "drive-letter path escapes the record's folder"
            case .backslash: return "backslash in the path (a Windows separator could escape the record's folder)"
            case .invalidName(let why): return "invalid name: \(why)"
            case .link(let hard, let target):
                let kind = hard ? "hard link" : "symbolic link"
                return
                    "\(kind)\(target.map { " to \(UnpackError.quoted($0))" } ?? "") refused (links may point anywhere)"
            case .specialFile(let kind): return "\(kind) refused (only regular files and folders are unpacked)"
            case .duplicate: return "duplicate name (an earlier entry has the same path)"
            case .clashes(let other): return "clashes with the earlier entry \(UnpackError.quoted(other))"
            case .unsupported(let what): return "unsupported: \(what)"
            case .tooManyEntries(let limit): return "more than \(limit) entries"
            case .outputLimit(let limit, let offset):
                return "output exceeds max_object_bytes (\(limit) bytes) at input byte \(offset)"
            case .expansionRatio(let limit, let offset):
                let shown = limit == limit.rounded() && abs(limit) < 1e15 ? String(Int64(limit)) : String(limit)
                return "expansion ratio exceeds max_expansion_ratio (\(shown)) at input byte \(offset)"
            case .truncated(let what, let offset): return "\(what) truncated at \(offset)"
            case .corrupt(let what, let detail, let offset): return "corrupt \(what) at \(offset): \(detail)"
            case .io(let message): return message
            }
        }
    }

    public var description: String {
        if let entry { return "\(container) entry \(Self.quoted(entry)): \(cause)" }
        return "\(container): \(cause)"
    }

    /// The same one-line text as `description` (the name the pipeline has always used).
    public var reason: String { description }

    /// A name as a reason shows it: quoted, control characters escaped so the reason stays on
    /// one line, cut at 200 characters.
    package static func quoted(_ name: String) -> String {
        var shown = ""
        for scalar in name.unicodeScalars.prefix(200) {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                shown += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                shown.unicodeScalars.append(scalar)
            }
        }
        if name.unicodeScalars.count > 200 { shown += "…" }
        return "'\(shown)'"
    }
}
