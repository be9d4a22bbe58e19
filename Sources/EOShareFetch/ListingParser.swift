import EOShareCore
import EOShareState
import Foundation

/// One entry of a listing, before filtering.
package struct ListingEntry: Equatable {
    package var name: String
    package var size: Int64?
    package var approximateSize: Int64?
    package var modified: String?
    /// An index page's text beside the link, when it shows a time.
    package var shown: String?

    public init(
        name: String,
        size: Int64? = nil,
        approximateSize: Int64? = nil,
        modified: String? = nil,
        shown: String? = nil
    ) {
        self.name = name
        self.size = size
        self.approximateSize = approximateSize
        self.modified = modified
        self.shown = shown
    }
}

/// The parsing of what a source lists: HTTP index pages, index files and FTP listing lines.
/// Pure functions of the text, kept apart from `Discovery` (which fetches it) so they compile
/// without libcurl for the fuzz targets in Tests/Fuzz.
package enum ListingParser {
    /// One entry of an index file: an object URL as written, with the size and SHA-256 a JSON
    /// index may give.
    package struct IndexEntry: Equatable {
        package var url: String
        package var size: Int64?
        package var sha256: String?
        /// A size the index stated that is no byte count (1e300, -1, 12.5, "big"), as shown:
        /// the entry's size is then unknown, and the transfer's own length is still checked.
        package var unreadableSize: String? = nil
    }

    /// Why an index file cannot be read (the message names it as the index's).
    package struct IndexError: Error, CustomStringConvertible {
        package var reason: String
        package var description: String { reason }
    }

    /// The entries of an index file: a JSON array of URLs or of {url, size, sha256}, or one
    /// URL a line.
    package static func indexEntries(_ body: [UInt8]) throws(IndexError) -> [IndexEntry] {
        let firstByte = body.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        guard firstByte == UInt8(ascii: "[") else { return indexLines(body).map { IndexEntry(url: $0) } }
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch {
            throw IndexError(reason: "index: \(error)")
        }
        var entries: [IndexEntry] = []
        for entry in json.arrayValue ?? [] {
            if let s = entry.stringValue {
                entries.append(IndexEntry(url: s))
            } else if let u = entry["url"]?.stringValue {
                var e = IndexEntry(url: u, sha256: entry["sha256"]?.stringValue)
                if let stated = entry["size"], stated != .null {
                    // A whole number of bytes an Int64 holds: 1e300 or -1 is no size, and the
                    // conversion of 1e300 would trap.
                    if let bytes = byteCount(stated) {
                        e.size = bytes
                    } else {
                        e.unreadableSize = String(stated.serializedString().prefix(40))
                    }
                }
                entries.append(e)
            } else {
                throw IndexError(reason: "index entry is neither a URL nor {url, …}")
            }
        }
        return entries
    }

    /// A size an index states, when it is a whole number of bytes an Int64 holds; nil for
    /// anything else (a fraction, a negative number, 1e300), which a plain conversion would
    /// trap on.
    package static func byteCount(_ value: JSONValue) -> Int64? {
        switch value {
        case .int(let n): return n >= 0 ? n : nil
        case .number(let d): return Int64(exactly: d).flatMap { $0 >= 0 ? $0 : nil }
        default: return nil
        }
    }

    /// The entries of a plain index: its lines without blanks at either end, skipping empty
    /// lines and `#` comments. Split and trimmed as bytes: an index lists every object of a
    /// source, and Foundation's trimming cost 5 µs an entry, a tenth of fetching a small object.
    package static func indexLines(_ body: [UInt8]) -> [String] {
        var entries: [String] = []
        var start = 0
        while start < body.count {
            let end = body[start...].firstIndex(of: 0x0A) ?? body.count
            let line = TextBytes.trimmed(body, start, end)
            start = end + 1
            if line.isEmpty || body[line.lowerBound] == UInt8(ascii: "#") { continue }
            entries.append(TextBytes.text(body[line]))
        }
        return entries
    }

    /// The href of each <a> element with the text after it up to the next link (where
    /// index pages show the date and size).
    package static func links(in html: String) -> [(href: String, after: Substring)] {
        var out: [(String, Substring)] = []
        var rest = html[...]
        while let r = rest.range(of: "href", options: .caseInsensitive) {
            rest = rest[r.upperBound...]
            var s = rest.drop { $0 == " " }
            guard s.first == "=" else { continue }
            s = s.dropFirst().drop { $0 == " " }
            guard let q = s.first else { break }
            let value: Substring
            if q == "\"" || q == "'" {
                let body = s.dropFirst()
                guard let end = body.firstIndex(of: q) else { break }
                value = body[..<end]
            } else {
                value = s.prefix { $0 != " " && $0 != ">" }
            }
            rest = s
            let next = rest.range(of: "<a ", options: .caseInsensitive)?.lowerBound ?? rest.endIndex
            var after = rest[..<next]
            if let close = after.range(of: "</a>", options: .caseInsensitive) { after = after[close.upperBound...] }
            after = after.prefix { $0 != "\n" }
            out.append(
                (
                    value.replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&quot;", with: "\"")
                        .replacingOccurrences(of: "&#39;", with: "'"), after
                )
            )
        }
        return out
    }

    /// The text after a link without its tags.
    package static func text(_ after: Substring) -> String {
        var text = ""
        var inTag = false
        for c in after {
            switch c {
            case "<": inTag = true
            case ">":
                inTag = false
                text.append(" ")
            default:
                if !inTag { text.append(c) }
            }
        }
        return text
    }

    /// What the page shows beside a link, spaces collapsed, when it includes a time (`10:00`):
    /// `2024-05-01 10:00 12K`. Without a time it could not tell a change.
    package static func shownEntry(_ after: Substring) -> String? {
        let tokens = text(after).split(whereSeparator: { $0 == " " || $0 == "\t" }).filter { $0 != "&nbsp;" }
        guard tokens.contains(where: { $0.contains(":") && $0.first?.isNumber == true }) else { return nil }
        return tokens.joined(separator: " ")
    }

    /// The size an index page shows after a link: `1234` (bytes) or `12K`, `3.4M`, `1.1G`.
    package enum ListedSize: Equatable {
        case exact(Int64)
        case approximate(Int64)
    }

    package static func listedSize(_ after: Substring) -> ListedSize? {
        // The size is the last token that looks like one.
        for token in text(after).split(separator: " ").reversed() {
            if let n = Int64(token), !token.contains(":") {
                guard n >= 0 else { continue }
                return .exact(n)
            }
            let scales: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
            guard let unit = token.last, let scale = scales[unit], let value = Double(token.dropLast())
            else { continue }
            // `1e300G`, `nanK` or `-3M` is text, not a size (and 1e300 would trap in Int64).
            guard let bytes = Int64(exactly: (value * Double(scale)).rounded()), bytes >= 0 else { continue }
            return .approximate(bytes)
        }
        return nil
    }
}

/// Parsers for FTP listing lines.
package enum FTPListing {
    /// libcurl errors no other listing command can help with: resolving, connecting, TLS,
    /// login, a missing folder, a timeout.
    package static let fatalCodes: Set<Int> = [6, 7, 9, 28, 35, 51, 60, 67, 78]

    /// `type=file;size=123;modify=20240501100000; name` (RFC 3659). The time becomes Unix
    /// seconds, the form libcurl's file time takes.
    package static func mlsd(_ line: String) -> ListingEntry? {
        guard let space = line.firstIndex(of: " ") else { return nil }
        let name = String(line[line.index(after: space)...])
        var facts: [String: String] = [:]
        for fact in line[..<space].split(separator: ";") {
            let kv = fact.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { facts[kv[0].lowercased()] = String(kv[1]) }
        }
        guard facts["type"]?.lowercased() == "file" else { return nil }
        var entry = ListingEntry(name: name, size: facts["size"].flatMap { Int64($0) }.flatMap { $0 >= 0 ? $0 : nil })
        if let modify = facts["modify"], let seconds = unixTime(mlsd: modify) { entry.modified = String(seconds) }
        return entry
    }

    /// `-rw-r--r--   1 owner group   1234 May 01 10:00 name`: regular files only. The time
    /// is minute- or day-precise, so it is not kept.
    package static func unix(_ line: String) -> ListingEntry? {
        if line.hasPrefix("total ") { return nil }
        let fields = line.split(separator: " ", maxSplits: 8, omittingEmptySubsequences: true)
        guard fields.count == 9, let type = fields[0].first, "-dlcbps".contains(type), fields[0].count >= 10
        else { return nil }
        guard type == "-" else { return ListingEntry(name: "") }  // a folder or link: parsed, skipped below
        return ListingEntry(name: String(fields[8]), size: Int64(fields[4]).flatMap { $0 >= 0 ? $0 : nil })
    }

    package static func unixTime(mlsd: String) -> Int64? {
        let digits = mlsd.prefix(14)
        // ASCII digits only: `isNumber` is also true of `٣` or `½`, which Int32 cannot read.
        guard digits.count == 14, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var parts = tm()
        let n = digits.map { Int32(String($0))! }
        func value(_ range: Range<Int>) -> Int32 { n[range].reduce(0) { $0 * 10 + $1 } }
        parts.tm_year = value(0..<4) - 1900
        parts.tm_mon = value(4..<6) - 1
        parts.tm_mday = value(6..<8)
        parts.tm_hour = value(8..<10)
        parts.tm_min = value(10..<12)
        parts.tm_sec = value(12..<14)
        return Int64(timegm(&parts))
    }
}
