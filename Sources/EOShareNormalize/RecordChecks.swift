import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// What the normalize stage does beside the readers, free of the pipeline's types so the
/// readers compile on their own (the fuzz targets in Tests/Fuzz): hrefs of files beside an
/// object, names inside an object, and the checks every record passes before publication.
/// The stage itself (picking files, running a reader) is in `Normalizer.swift`.
package struct Normalizer {
    /// The URL of a file at `path` (relative, `/`-separated, already checked to stay inside)
    /// beside the object: what `URL(string: path, relativeTo: objectURL)` resolves to, built
    /// from the object's folder (`folder`, resolved once per record) and the path's segments
    /// percent-encoded, so a `:` in a name cannot make it a scheme. Resolving a URL per asset
    /// was a tenth of the normalize stage's time.
    package static func href(_ path: String, besideFolder folder: String?, objectURL: URL) -> String? {
        func isPlain(_ b: UInt8) -> Bool {
            TextBytes.isNameByte(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "~")
                || b == UInt8(ascii: "/")
        }
        var relative = path
        // Agency file names are plain: escaped only when they are not.
        if !path.utf8.allSatisfy(isPlain) {
            let hex = Array("0123456789ABCDEF".utf8)
            var escaped: [UInt8] = []
            escaped.reserveCapacity(path.utf8.count + 8)
            for b in path.utf8 {
                if isPlain(b) {
                    escaped.append(b)
                } else {
                    escaped.append(contentsOf: [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
            }
            relative = String(decoding: escaped, as: UTF8.self)
        }
        if let folder, folder.hasSuffix("/") { return folder + relative }
        return URL(string: relative, relativeTo: objectURL)?.absoluteString
    }

    /// The folder of `url` with its trailing `/`, as a string: the base for `href`.
    package static func folder(of url: URL?) -> String? {
        url.flatMap { URL(string: ".", relativeTo: $0)?.absoluteString }
    }

    /// The last path component of a name inside an object.
    package static func baseName(_ name: String) -> String {
        guard let slash = name.utf8.lastIndex(of: UInt8(ascii: "/")) else { return name }
        return String(Substring(name.utf8[name.utf8.index(after: slash)...]))
    }

    /// The folder part of a name, with its trailing `/` (empty for a bare name).
    package static func folderName(_ name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return "" }
        return String(name[...slash])
    }

    package static func isMTLName(_ name: String) -> Bool {
        name.hasSuffix("_MTL.txt") || name.hasSuffix("_MTL.json") || name.hasSuffix("_MTL.xml")
    }

    package static func mediaType(_ name: String) -> String {
        if name.hasSuffix(".json") { return "application/json" }
        if name.hasSuffix(".xml") { return "application/xml" }
        return "text/plain"
    }

    // MARK: Checks

    /// What every record needs before it may be published, whatever its format.
    package static func check(_ r: Record) throws(NormalizeError) {
        guard !r.id.isEmpty else { throw .missing("id") }
        // The id stays the provider's; its folder name is derived from it (ItemFolderName).
        let folder: String
        do {
            folder = try ItemFolderName.encode(r.id)
        } catch {
            throw NormalizeError(field: "id", error.description)
        }
        guard !r.owner.isEmpty else { throw .missing("owner") }
        guard r.datetime != nil || (r.startDatetime != nil && r.endDatetime != nil) else { throw .missing("datetime") }
        for (field, date) in [
            ("datetime", r.datetime), ("start_datetime", r.startDatetime), ("end_datetime", r.endDatetime),
            ("processed", r.processed),
        ] {
            guard let date, !Timestamp.writable.contains(date) else { continue }
            throw NormalizeError(
                field: field,
                "\(date.timeIntervalSince1970) s since 1970 is not a year 0000-9999 time"
            )
        }
        if let start = r.startDatetime, let end = r.endDatetime, start > end {
            throw NormalizeError(field: "end_datetime", "is before start_datetime")
        }
        if let geometry = r.geometry { try GeoJSONCheck.check(geometry, bbox: r.bbox) }
        for a in r.assets where a.isLocal {
            guard !a.href.utf8.contains(UInt8(ascii: "/")), !a.href.hasPrefix("."), a.href != "\(folder).json" else {
                throw NormalizeError(field: "assets.\(a.key)", "file name '\(a.href)' is not allowed in an item folder")
            }
        }
    }

    public init() {

    }
}
