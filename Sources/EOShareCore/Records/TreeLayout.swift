import Foundation

/// Where a record lives in a viewer's tree (CONTRACT §6):
/// `<collection>/<YYYY>/<MM>/<DD>/<folder>/<folder>.json`, or `<collection>/undated/<folder>/…`
/// for a record without a datetime. Day, month and year are the UTC ones of the item's
/// `datetime` (or `start_datetime`).
public struct ItemPlace: Sendable, Hashable {
    /// `YYYY/MM/DD`, or `undated`.
    public var day: String
    /// The folder name derived from the record id (`ItemFolderName`).
    public var folder: String

    public init(day: String, folder: String) {
        self.day = day
        self.folder = folder
    }

    public init(start: Date?, id: String) throws(ItemFolderName.Refusal) {
        self.day = Self.day(of: start)
        self.folder = try ItemFolderName.encode(id)
    }

    public static let undated = "undated"

    /// The day folder path of an instant (UTC), or `undated`.
    public static func day(of start: Date?) -> String {
        let seconds = start?.timeIntervalSince1970 ?? .nan
        // Dates outside years 0–9999 (a hostile datetime) have no day folder either.
        guard seconds.isFinite, seconds > -62_167_219_200, seconds < 253_402_300_800 else { return undated }
        let c = UTCCalendar.civilFromDays(Int((seconds / 86_400).rounded(.down)))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(String(format: "%04d", c.year))/\(two(c.month))/\(two(c.day))"
    }

    /// `<collection>/<day>/<folder>` relative to the viewer's tree.
    public func relativePath(collection: String) -> String { "\(collection)/\(day)/\(folder)" }

    /// How many folders the item folder lies below the viewer's root (collection, day parts, item).
    package var depth: Int { day == Self.undated ? 3 : 5 }
}

/// The folder name of a record: its id with every byte outside `A–Z a–z 0–9 - _ .` written
/// as `%XX` (and `%` itself), a leading `.` too, and the dots of a name the layout uses
/// (`catalog.json`, `collection.json`). Decoding `%XX` gives the id back, so two ids never
/// share a folder; the item carries the id itself, unchanged.
public enum ItemFolderName {
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Names the layout itself uses beside item folders.
    package static let reserved: Set<String> = ["catalog.json", "collection.json"]
    /// The longest folder name: `<folder>.json` must fit NAME_MAX (255 bytes).
    package static let maxLength = 250

    public static func encode(_ id: String) throws(Refusal) -> String {
        guard !id.isEmpty else { throw Refusal(description: "record id is empty") }
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(id.utf8.count)
        for (i, b) in id.utf8.enumerated() {
            let plain =
                (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D
                || b == 0x5F || (b == 0x2E && i > 0)
            if plain {
                out.append(b)
            } else {
                out += [0x25, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            }
        }
        var name = String(decoding: out, as: UTF8.self)
        if reserved.contains(name) { name = name.replacingOccurrences(of: ".", with: "%2E") }
        guard name.utf8.count <= maxLength else {
            throw Refusal(description: "record id is too long for a folder name (\(id.utf8.count) bytes)")
        }
        return name
    }

    /// The id a folder name stands for; nil when the name is not one `encode` makes.
    public static func decode(_ name: String) -> String? {
        var out: [UInt8] = []
        var bytes = name.utf8.makeIterator()
        func nibble(_ c: UInt8?) -> UInt8? {
            switch c {
            case .some(let c) where c >= 0x30 && c <= 0x39: return c - 0x30
            case .some(let c) where c >= 0x41 && c <= 0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        while let b = bytes.next() {
            if b == 0x25 {
                guard let hi = nibble(bytes.next()), let lo = nibble(bytes.next()) else { return nil }
                out.append(hi << 4 | lo)
            } else {
                out.append(b)
            }
        }
        guard let id = String(validating: out, as: UTF8.self), (try? encode(id)) == name else { return nil }
        return id
    }
}
