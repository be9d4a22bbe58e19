import EOShareCore
import EOShareState
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
    package var transferURL: URL
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
        source: String,
        url: URL,
        name: String,
        size: Int64? = nil,
        modified: String? = nil,
        approximateSize: Int64? = nil,
        expectedSHA256: String? = nil
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

    package init(kind: Kind, url: URL) {
        self.kind = kind
        self.url = url
    }
}

/// Finds the objects of a source: a listing (local folder, HTTP index page, FTP or SFTP
/// folder), an index file, or one object.
package struct Discovery {
    package let downloader: Downloader
    package let settings: FetchSettings

    /// How many objects discovery hands on at a time. A local folder is read a chunk at a
    /// time, so a run holds one chunk of a million-object folder, never the folder (issue 17:
    /// memory flat in the record count); a listing fetched as one document is parsed whole,
    /// then handed on in chunks.
    package static let chunkSize = 1024

    /// Every object of `source`, handed to `chunk` a chunk at a time. Local folders come in
    /// the order the directory gives, each chunk sorted by name; other listings and indexes
    /// in name (listing) or index order.
    package func discover(
        _ source: SourceConfig,
        chunk: ([ObjectRef]) async -> Void
    ) async throws(DiscoveryError) {
        func inChunks(_ refs: [ObjectRef]) async {
            var start = 0
            while start < refs.count {
                let end = min(start + Self.chunkSize, refs.count)
                await chunk(Array(refs[start..<end]))
                start = end
            }
        }
        if source.index {
            await inChunks(try await fromIndex(source).filter { wanted($0.name, source) })
            return
        }
        guard source.isListing else {
            await chunk([ObjectRef(source: source.id, url: source.url, name: source.url.lastPathComponent)])
            return
        }
        let entries: [ListingEntry]
        switch source.url.scheme {
        case "file":
            let folder = source.url.path
            try await localListing(source) { entries in
                let refs = Self.refs(entries, source: source) { name in
                    var st = stat()
                    return Sidecar.Kind.allCases.first { lstat(folder + "/" + name + ".\($0.rawValue)", &st) == 0 }
                }
                await chunk(refs.filter { wanted($0.name, source) })
            }
            return
        case "ftp", "ftps", "sftp":
            entries = try await ftpListing(source)
        default:
            entries = try await httpListing(source)
        }
        let names = Set(entries.map(\.name))
        let refs = Self.refs(entries, source: source) { name in
            Sidecar.Kind.allCases.first { names.contains(name + ".\($0.rawValue)") }
        }
        await inChunks(refs.filter { wanted($0.name, source) })
    }

    /// Every object of `source` at once (tests and benchmarks).
    package func discover(_ source: SourceConfig) async throws(DiscoveryError) -> [ObjectRef] {
        var all: [ObjectRef] = []
        try await discover(source) { all += $0 }
        return all
    }

    /// Wanted names: not hidden, not a sidecar (when sidecars are checksums), matching `match`.
    private func wanted(_ name: String, _ source: SourceConfig) -> Bool {
        guard !name.isEmpty, !name.hasPrefix(".") else { return false }
        if source.checksum == .sidecar, Sidecar.Kind.allCases.contains(where: { name.hasSuffix(".\($0.rawValue)") }) {
            return false
        }
        return source.wants(name)
    }

    /// Object references for listing entries, sorted by name, each with the sidecar the listing
    /// shows beside it (`sidecar` tells which kind, if any, is listed for a name).
    package static func refs(
        _ entries: [ListingEntry],
        source: SourceConfig,
        sidecar: (String) -> Sidecar.Kind?
    ) -> [ObjectRef] {
        let base = Redact.withoutCredentials(source.url)
        return entries.sorted { $0.name < $1.name }.map { entry in
            var ref = ObjectRef(
                source: source.id,
                url: base.appendingPathComponent(entry.name),
                name: entry.name,
                size: entry.size,
                modified: entry.modified,
                approximateSize: entry.approximateSize
            )
            ref.listed = true
            ref.listingEntry = entry.shown
            if let kind = sidecar(entry.name) {
                ref.sidecar = Sidecar(kind: kind, url: base.appendingPathComponent(entry.name + ".\(kind.rawValue)"))
            }
            return ref
        }
    }

    /// A local folder, read a chunk at a time: regular files only (symlinks are not followed
    /// out of the folder).
    package func localListing(
        _ source: SourceConfig,
        chunk: ([ListingEntry]) async -> Void
    ) async throws(DiscoveryError) {
        let folder = source.url.path
        guard let directory = opendir(folder) else {
            let reason = String(cString: strerror(errno))
            throw DiscoveryError(source: source.id, reason: "cannot list \(folder): \(reason)")
        }
        defer { closedir(directory) }
        var entries: [ListingEntry] = []
        while true {
            errno = 0
            let next = readdir(directory)
            if let next {
                let name = withUnsafeBytes(of: next.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                var st = stat()
                guard name != ".", name != "..", lstat(folder + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG
                else { continue }
                entries.append(
                    ListingEntry(
                        name: name,
                        size: Int64(st.st_size),
                        modified: "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
                    )
                )
            } else if errno != 0 {
                let reason = String(cString: strerror(errno))
                throw DiscoveryError(source: source.id, reason: "cannot list \(folder): \(reason)")
            }
            if entries.count == Self.chunkSize || (next == nil && !entries.isEmpty) {
                await chunk(entries)
                entries.removeAll(keepingCapacity: true)
            }
            if next == nil { return }
        }
    }

    /// An HTTP index page: the links to files directly inside the listed folder, with the
    /// size the page shows beside each (exact when in bytes, approximate when `12K`).
    package func httpListing(_ source: SourceConfig) async throws(DiscoveryError) -> [ListingEntry] {
        let body = try await fetchText(source, url: source.url, what: "listing")
        let html = String(decoding: body, as: UTF8.self)
        let base = source.url.path.hasSuffix("/") ? source.url.path : source.url.path + "/"
        var seen = Set<String>()
        var out: [ListingEntry] = []
        for (href, after) in ListingParser.links(in: html) {
            guard let url = URL(string: href, relativeTo: source.url)?.absoluteURL,
                url.query == nil, url.fragment == nil,
                url.scheme == source.url.scheme, url.host == source.url.host, url.port == source.url.port,
                url.path.hasPrefix(base), !url.absoluteString.hasSuffix("/")
            else { continue }
            let rest = String(url.path.dropFirst(base.count))
            guard !rest.isEmpty, !rest.contains("/"), seen.insert(rest).inserted else { continue }
            var entry = ListingEntry(name: rest)
            entry.shown = ListingParser.shownEntry(after)
            switch ListingParser.listedSize(after) {
            case .exact(let n)?: entry.size = n
            case .approximate(let n)?: entry.approximateSize = n
            case nil: break
            }
            out.append(entry)
        }
        return out
    }

    /// FTP (MLSD, else LIST, else NLST) or SFTP (libcurl's `ls -l` style) folder listing.
    package func ftpListing(_ source: SourceConfig) async throws(DiscoveryError) -> [ListingEntry] {
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
    package func fromIndex(_ source: SourceConfig) async throws(DiscoveryError) -> [ObjectRef] {
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
                    source: source.id,
                    url: url,
                    name: url.lastPathComponent,
                    size: size,
                    expectedSHA256: sha?.lowercased()
                )
            )
        }
        let entries: [ListingParser.IndexEntry]
        do { entries = try ListingParser.indexEntries(body) } catch {
            throw DiscoveryError(source: source.id, reason: error.reason)
        }
        for entry in entries {
            if let stated = entry.unreadableSize {
                let shown = URL(string: entry.url).map(Redact.url) ?? "(not a URL)"
                settings.logger.warning(
                    "source \(source.id): index entry \(shown) states size \(stated), not a byte count; ignored"
                )
            }
            try add(entry.url, size: entry.size, sha: entry.sha256)
        }
        return refs
    }

    package func fetchText(_ source: SourceConfig, url: URL, what: String) async throws(DiscoveryError) -> [UInt8] {
        try await small(Fetcher.request(for: source, url: url, settings: settings), source: source, what: what)
    }

    private func small(
        _ request: TransferRequest,
        source: SourceConfig,
        what: String
    ) async throws(DiscoveryError)
        -> [UInt8]
    {
        switch await downloader.fetchSmall(request, limit: 64 << 20) {
        case .success((_, let body)): return body
        case .failure(let error):
            throw DiscoveryError(source: source.id, reason: "\(what): \(error)", curlCode: error.curlCode)
        }
    }
}

/// Why a source could not be listed (or its index read): the source and the cause, with
/// URLs redacted. The run goes on with the other sources.
public struct DiscoveryError: Error, CustomStringConvertible {
    public var source: String
    public var reason: String
    package var curlCode: Int?
    public var description: String { "source \(source): \(reason)" }

    package init(source: String, reason: String, curlCode: Int? = nil) {
        self.source = source
        self.reason = reason
        self.curlCode = curlCode
    }
}
