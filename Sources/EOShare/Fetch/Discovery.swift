import Foundation

/// An object a source offers: found in a listing, named by an index, or the source URL itself.
/// Its URLs carry no credentials (they are added per transfer from the source's settings).
public struct ObjectRef: Sendable, Hashable {
    public var source: String
    /// What the object is known by in the state, the ledger, the logs and messages: its URL
    /// with the query replaced by the query's SHA-256 (`Redact.identity`).
    public var url: URL
    /// The URL the object is fetched from, query and all (a signed URL's signature, an API
    /// key): used for the transfer, never stored or logged.
    var transferURL: URL
    public var name: String
    /// The exact size a listing or an index states.
    public var size: Int64?
    /// A listing's modification time when it is precise to the second or better (a local
    /// folder, FTP MLSD): with an unchanged size it proves the object unchanged.
    public var modified: String?
    /// A rounded size from an HTML index page (`12K`): only catches a body far too small.
    public var approximateSize: Int64?
    /// Expected SHA-256 from an index file, when it gives one.
    public var expectedSHA256: String?
    /// Whether the object came from a listing, which then also shows its sidecars.
    public var listed = false
    /// The `NAME.sha256` or `NAME.md5` beside it, when a listing shows one.
    public var sidecar: Sidecar?
    /// What an HTML index page shows beside the link (its time, to the minute, and size).
    public var listingEntry: String?

    public init(
        source: String, url: URL, name: String, size: Int64? = nil, modified: String? = nil,
        approximateSize: Int64? = nil, expectedSHA256: String? = nil
    ) {
        self.source = source
        self.url = Redact.identity(url)
        transferURL = Redact.withoutCredentials(url)
        self.name = name
        self.size = size
        self.modified = modified
        self.approximateSize = approximateSize
        self.expectedSHA256 = expectedSHA256
    }
}

/// A checksum file beside an object.
public struct Sidecar: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable { case sha256, md5 }
    public var kind: Kind
    public var url: URL
}

/// One entry of a listing, before filtering.
struct ListingEntry: Equatable {
    var name: String
    var size: Int64?
    var approximateSize: Int64?
    var modified: String?
    /// An index page's text beside the link, when it shows a time.
    var shown: String?
}

/// Finds the objects of a source: a listing (local folder, HTTP index page, FTP or SFTP
/// folder), an index file, or one object.
struct Discovery {
    let downloader: Downloader
    let settings: FetchSettings

    func discover(_ source: SourceConfig) async throws(DiscoveryError) -> [ObjectRef] {
        if source.index {
            return try await fromIndex(source).filter { wanted($0.name, source) }
        }
        guard source.isListing else {
            return [ObjectRef(source: source.id, url: source.url, name: source.url.lastPathComponent)]
        }
        let entries: [ListingEntry]
        switch source.url.scheme {
        case "file":
            entries = try localListing(source)
        case "ftp", "ftps", "sftp":
            entries = try await ftpListing(source)
        default:
            entries = try await httpListing(source)
        }
        return Self.refs(entries, source: source).filter { wanted($0.name, source) }
    }

    /// Wanted names: not hidden, not a sidecar (when sidecars are checksums), matching `match`.
    private func wanted(_ name: String, _ source: SourceConfig) -> Bool {
        guard !name.isEmpty, !name.hasPrefix(".") else { return false }
        if source.checksum == .sidecar, Sidecar.Kind.allCases.contains(where: { name.hasSuffix(".\($0.rawValue)") }) {
            return false
        }
        return source.wants(name)
    }

    /// Object references for listing entries, each with the sidecar the listing shows beside it.
    static func refs(_ entries: [ListingEntry], source: SourceConfig) -> [ObjectRef] {
        let names = Set(entries.map(\.name))
        let base = Redact.withoutCredentials(source.url)
        return entries.sorted { $0.name < $1.name }.map { entry in
            var ref = ObjectRef(
                source: source.id, url: base.appendingPathComponent(entry.name), name: entry.name, size: entry.size,
                modified: entry.modified, approximateSize: entry.approximateSize)
            ref.listed = true
            ref.listingEntry = entry.shown
            if let kind = Sidecar.Kind.allCases.first(where: { names.contains(entry.name + ".\($0.rawValue)") }) {
                ref.sidecar = Sidecar(kind: kind, url: base.appendingPathComponent(entry.name + ".\(kind.rawValue)"))
            }
            return ref
        }
    }

    /// A local folder: regular files only (symlinks are not followed out of the folder).
    func localListing(_ source: SourceConfig) throws(DiscoveryError) -> [ListingEntry] {
        let folder = source.url
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        } catch {
            throw DiscoveryError(source: source.id, reason: "cannot list \(folder.path): \(error.localizedDescription)")
        }
        var out: [ListingEntry] = []
        for name in names {
            var st = stat()
            let path = folder.appendingPathComponent(name).path
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            out.append(
                ListingEntry(
                    name: name, size: Int64(st.st_size), modified: "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"))
        }
        return out
    }

    /// An HTTP index page: the links to files directly inside the listed folder, with the
    /// size the page shows beside each (exact when in bytes, approximate when `12K`).
    func httpListing(_ source: SourceConfig) async throws(DiscoveryError) -> [ListingEntry] {
        let body = try await fetchText(source, url: source.url, what: "listing")
        let html = String(decoding: body, as: UTF8.self)
        let base = source.url.path.hasSuffix("/") ? source.url.path : source.url.path + "/"
        var seen = Set<String>()
        var out: [ListingEntry] = []
        for (href, after) in Self.links(in: html) {
            guard let url = URL(string: href, relativeTo: source.url)?.absoluteURL,
                url.query == nil, url.fragment == nil,
                url.scheme == source.url.scheme, url.host == source.url.host, url.port == source.url.port,
                url.path.hasPrefix(base), !url.absoluteString.hasSuffix("/")
            else { continue }
            let rest = String(url.path.dropFirst(base.count))
            guard !rest.isEmpty, !rest.contains("/"), seen.insert(rest).inserted else { continue }
            var entry = ListingEntry(name: rest)
            entry.shown = Self.shownEntry(after)
            switch Self.listedSize(after) {
            case .exact(let n)?: entry.size = n
            case .approximate(let n)?: entry.approximateSize = n
            case nil: break
            }
            out.append(entry)
        }
        return out
    }

    /// FTP (MLSD, else LIST, else NLST) or SFTP (libcurl's `ls -l` style) folder listing.
    func ftpListing(_ source: SourceConfig) async throws(DiscoveryError) -> [ListingEntry] {
        var attempts: [(command: String?, namesOnly: Bool)] = [(nil, false), (nil, true)]
        if source.url.scheme != "sftp" { attempts.insert(("MLSD", false), at: 0) }
        var lastError: DiscoveryError?
        for (command, namesOnly) in attempts {
            var request = Fetcher.request(for: source, url: source.url, settings: settings)
            request.customRequest = command
            request.namesOnly = namesOnly
            let text: String
            do {
                text = String(decoding: try await small(request, source: source, what: "listing"), as: UTF8.self)
            } catch {
                // Another listing command helps only when the server refused this one.
                guard let code = error.curlCode, !FTPListing.fatalCodes.contains(code) else { throw error }
                lastError = error
                continue
            }
            let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
            let entries: [ListingEntry]
            if command == "MLSD" {
                entries = lines.compactMap(FTPListing.mlsd)
            } else if namesOnly {
                entries = lines.map { ListingEntry(name: $0.trimmingCharacters(in: .whitespaces)) }
            } else {
                let parsed = lines.compactMap(FTPListing.unix)
                // A format we cannot read (not `ls -l` style): ask for names only.
                guard parsed.count == lines.filter({ !$0.hasPrefix("total ") }).count else { continue }
                entries = parsed
            }
            return entries.filter { !$0.name.isEmpty && $0.name != "." && $0.name != ".." && !$0.name.contains("/") }
        }
        throw lastError ?? DiscoveryError(source: source.id, reason: "listing \(Redact.url(source.url)) is unreadable")
    }

    /// An index file: one URL a line, or a JSON array of URLs or of {url, size, sha256}.
    func fromIndex(_ source: SourceConfig) async throws(DiscoveryError) -> [ObjectRef] {
        let body = try await fetchText(source, url: source.url, what: "index")
        var refs: [ObjectRef] = []
        func add(_ text: String, size: Int64? = nil, sha: String? = nil) throws(DiscoveryError) {
            // An absolute URL (the usual entry) is parsed once; only a relative one is resolved.
            let absolute = URL(string: text).flatMap { $0.scheme == nil ? nil : $0 }
            guard let url = absolute ?? URL(string: text, relativeTo: source.url)?.absoluteURL, url.scheme != nil else {
                // Up to its query: what follows a `?` may be a key.
                let shown = text.prefix { $0 != "?" && $0 != "#" }.prefix(100)
                throw DiscoveryError(source: source.id, reason: "index entry '\(shown)' is not a URL")
            }
            refs.append(
                ObjectRef(
                    source: source.id, url: url, name: url.lastPathComponent, size: size,
                    expectedSHA256: sha?.lowercased()))
        }
        let firstByte = body.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        if firstByte == UInt8(ascii: "[") {
            let json: JSONValue
            do { json = try JSONValue.parse(body) } catch {
                throw DiscoveryError(source: source.id, reason: "index: \(error)")
            }
            for entry in json.arrayValue ?? [] {
                if let s = entry.stringValue {
                    try add(s)
                } else if let u = entry["url"]?.stringValue {
                    let size = entry["size"].flatMap(Self.byteCount)
                    if let stated = entry["size"], stated != .null, size == nil {
                        // Not a byte count (1e300, -1, 12.5, "big"): unknown, the transfer's
                        // own length still checked.
                        let shown = Redact.url(URL(string: u) ?? source.url)
                        settings.logger.warning(
                            "source \(source.id): index entry \(shown) states size \(Self.describe(stated)), not a byte count; ignored")
                    }
                    try add(u, size: size, sha: entry["sha256"]?.stringValue)
                } else {
                    throw DiscoveryError(source: source.id, reason: "index entry is neither a URL nor {url, …}")
                }
            }
        } else {
            for entry in Self.indexLines(body) { try add(entry) }
        }
        return refs
    }

    /// A size an index states, when it is a whole number of bytes an Int64 holds; nil for
    /// anything else (a fraction, a negative number, 1e300), which a plain conversion would
    /// trap on.
    static func byteCount(_ value: JSONValue) -> Int64? {
        switch value {
        case .int(let n): return n >= 0 ? n : nil
        case .number(let d): return Int64(exactly: d).flatMap { $0 >= 0 ? $0 : nil }
        default: return nil
        }
    }

    /// A JSON value in a message, short (an index is input: it may hold anything).
    static func describe(_ value: JSONValue) -> String { String(value.serializedString().prefix(40)) }

    /// The entries of a plain index: its lines without blanks at either end, skipping empty
    /// lines and `#` comments. Split and trimmed as bytes: an index lists every object of a
    /// source, and Foundation's trimming cost 5 µs an entry, a tenth of fetching a small object.
    static func indexLines(_ body: [UInt8]) -> [String] {
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

    func fetchText(_ source: SourceConfig, url: URL, what: String) async throws(DiscoveryError) -> [UInt8] {
        try await small(Fetcher.request(for: source, url: url, settings: settings), source: source, what: what)
    }

    private func small(_ request: TransferRequest, source: SourceConfig, what: String) async throws(DiscoveryError)
        -> [UInt8]
    {
        switch await downloader.fetchSmall(request, limit: 64 << 20) {
        case .success((_, let body)): return body
        case .failure(let error):
            throw DiscoveryError(source: source.id, reason: "\(what): \(error)", curlCode: error.curlCode)
        }
    }

    /// The href of each <a> element with the text after it up to the next link (where
    /// index pages show the date and size).
    static func links(in html: String) -> [(href: String, after: Substring)] {
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
                (value.replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&quot;", with: "\"")
                    .replacingOccurrences(of: "&#39;", with: "'"), after))
        }
        return out
    }

    /// The text after a link without its tags.
    static func text(_ after: Substring) -> String {
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
    static func shownEntry(_ after: Substring) -> String? {
        let tokens = text(after).split(whereSeparator: { $0 == " " || $0 == "\t" }).filter { $0 != "&nbsp;" }
        guard tokens.contains(where: { $0.contains(":") && $0.first?.isNumber == true }) else { return nil }
        return tokens.joined(separator: " ")
    }

    /// The size an index page shows after a link: `1234` (bytes) or `12K`, `3.4M`, `1.1G`.
    enum ListedSize: Equatable {
        case exact(Int64)
        case approximate(Int64)
    }

    static func listedSize(_ after: Substring) -> ListedSize? {
        // The size is the last token that looks like one.
        for token in text(after).split(separator: " ").reversed() {
            if let n = Int64(token), !token.contains(":") { return n >= 0 ? .exact(n) : nil }
            let scales: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
            guard let unit = token.last, let scale = scales[unit], let value = Double(token.dropLast())
            else { continue }
            // `infK`, `nanM`, `-3K`, `1e300G` read as numbers but are no size: unknown (a
            // plain Int64 conversion would trap on them).
            let bytes = (value * Double(scale)).rounded()
            guard bytes.isFinite, bytes >= 0, let n = Int64(exactly: bytes) else { return nil }
            return .approximate(n)
        }
        return nil
    }
}

/// Parsers for FTP listing lines.
enum FTPListing {
    /// libcurl errors no other listing command can help with: resolving, connecting, TLS,
    /// login, a missing folder, a timeout.
    static let fatalCodes: Set<Int> = [6, 7, 9, 28, 35, 51, 60, 67, 78]

    /// `type=file;size=123;modify=20240501100000; name` (RFC 3659). The time becomes Unix
    /// seconds, the form libcurl's file time takes.
    static func mlsd(_ line: String) -> ListingEntry? {
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
    static func unix(_ line: String) -> ListingEntry? {
        if line.hasPrefix("total ") { return nil }
        let fields = line.split(separator: " ", maxSplits: 8, omittingEmptySubsequences: true)
        guard fields.count == 9, let type = fields[0].first, "-dlcbps".contains(type), fields[0].count >= 10
        else { return nil }
        guard type == "-" else { return ListingEntry(name: "") }  // a folder or link: parsed, skipped below
        return ListingEntry(name: String(fields[8]), size: Int64(fields[4]).flatMap { $0 >= 0 ? $0 : nil })
    }

    static func unixTime(mlsd: String) -> Int64? {
        let digits = mlsd.prefix(14)
        // ASCII digits only: `isNumber` admits `½` or `٣`, which Int32 cannot read.
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

/// Why a source could not be listed (or its index read): the source and the cause, with
/// URLs redacted. The run goes on with the other sources.
public struct DiscoveryError: Error, CustomStringConvertible {
    public var source: String
    public var reason: String
    var curlCode: Int?
    public var description: String { "source \(source): \(reason)" }

    init(source: String, reason: String, curlCode: Int? = nil) {
        self.source = source
        self.reason = reason
        self.curlCode = curlCode
    }
}
