import Foundation

/// An object a source offers: found in a listing, named by an index, or the source URL itself.
public struct ObjectRef: Sendable, Hashable {
    public var source: String
    public var url: URL
    public var name: String
    /// Size and modification time from a local listing (cheap change detection for file://).
    public var size: Int64?
    public var modified: String?
    /// Expected SHA-256 from an index file, when it gives one.
    public var expectedSHA256: String?
}

/// Finds the objects of a source: a local folder, an HTTP index page, an index file, or one object.
struct Discovery {
    let worker: CurlWorker
    let limits: Limits

    func discover(_ source: SourceConfig) async throws -> [ObjectRef] {
        let sidecarSuffixes = [".sha256", ".md5"]
        func wanted(_ name: String) -> Bool {
            guard !name.isEmpty, !name.hasPrefix(".") else { return false }
            if source.checksum == .sidecar, sidecarSuffixes.contains(where: name.hasSuffix) { return false }
            return source.wants(name)
        }
        if source.index {
            return try await fromIndex(source).filter { wanted($0.name) }
        }
        guard source.isListing else {
            return [ObjectRef(source: source.id, url: source.url, name: source.url.lastPathComponent)]
        }
        if source.url.isFileURL {
            return try localListing(source).filter { wanted($0.name) }
        }
        return try await httpListing(source).filter { wanted($0.name) }
    }

    /// A local folder: regular files only (symlinks are not followed out of the folder).
    func localListing(_ source: SourceConfig) throws -> [ObjectRef] {
        let folder = source.url
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        } catch {
            throw DiscoveryError(source: source.id, reason: "cannot list \(folder.path): \(error.localizedDescription)")
        }
        var out: [ObjectRef] = []
        for name in names {
            var st = stat()
            let path = folder.appendingPathComponent(name).path
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            out.append(
                ObjectRef(
                    source: source.id, url: folder.appendingPathComponent(name), name: name, size: Int64(st.st_size),
                    modified: "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"))
        }
        return out
    }

    /// An HTTP index page: the links to files directly inside the listed folder.
    func httpListing(_ source: SourceConfig) async throws -> [ObjectRef] {
        let (result, body) = try await fetchText(source, url: source.url, what: "listing")
        guard result.status == 200 else {
            throw DiscoveryError(source: source.id, reason: "listing answered HTTP \(result.status)")
        }
        let html = String(decoding: body, as: UTF8.self)
        var seen = Set<String>()
        var out: [ObjectRef] = []
        for href in Self.hrefs(in: html) {
            guard let url = URL(string: href, relativeTo: source.url)?.absoluteURL,
                url.query == nil, url.fragment == nil,
                url.scheme == source.url.scheme, url.host == source.url.host, url.port == source.url.port
            else { continue }
            let base = source.url.path.hasSuffix("/") ? source.url.path : source.url.path + "/"
            let path = url.path
            guard path.hasPrefix(base), !url.absoluteString.hasSuffix("/") else { continue }
            let rest = String(path.dropFirst(base.count))
            guard !rest.isEmpty, !rest.contains("/"), seen.insert(rest).inserted else { continue }
            out.append(ObjectRef(source: source.id, url: url, name: rest))
        }
        return out.sorted { $0.name < $1.name }
    }

    /// An index file: one URL a line, or a JSON array of URLs or of {url, size, sha256}.
    func fromIndex(_ source: SourceConfig) async throws -> [ObjectRef] {
        let (result, body) = try await fetchText(source, url: source.url, what: "index")
        guard result.status == 200 else {
            throw DiscoveryError(source: source.id, reason: "index answered HTTP \(result.status)")
        }
        var refs: [ObjectRef] = []
        func add(_ text: String, size: Int64? = nil, sha: String? = nil) throws {
            guard let url = URL(string: text, relativeTo: source.url)?.absoluteURL, url.scheme != nil else {
                throw DiscoveryError(source: source.id, reason: "index entry '\(text.prefix(100))' is not a URL")
            }
            refs.append(
                ObjectRef(source: source.id, url: url, name: url.lastPathComponent, size: size, expectedSHA256: sha?.lowercased()))
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
                    try add(u, size: entry["size"]?.doubleValue.map { Int64($0) }, sha: entry["sha256"]?.stringValue)
                } else {
                    throw DiscoveryError(source: source.id, reason: "index entry is neither a URL nor {url, …}")
                }
            }
        } else {
            for line in String(decoding: body, as: UTF8.self).split(whereSeparator: \.isNewline) {
                let t = line.trimmingCharacters(in: .whitespaces)
                if t.isEmpty || t.hasPrefix("#") { continue }
                try add(t)
            }
        }
        return refs
    }

    func fetchText(_ source: SourceConfig, url: URL, what: String) async throws -> (TransferResult, [UInt8]) {
        let request = Fetcher.request(for: source, url: url, limits: limits)
        do {
            return try await Retry.run(limits: limits) { () async throws(TransferError) in
                try await worker.fetchSmall(request, limit: 64 << 20)
            }
        } catch {
            throw DiscoveryError(source: source.id, reason: "\(what) \(Redact.url(url)): \(error)")
        }
    }

    /// The href values of <a> elements, entity-decoded.
    static func hrefs(in html: String) -> [String] {
        var out: [String] = []
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
            out.append(
                value.replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&quot;", with: "\"")
                    .replacingOccurrences(of: "&#39;", with: "'"))
            rest = s
        }
        return out
    }
}

struct DiscoveryError: Error, CustomStringConvertible {
    var source: String
    var reason: String
    var description: String { "source \(source): \(reason)" }
}

/// Exponential back-off with full jitter for transient failures, honouring Retry-After.
enum Retry {
    static func run<T>(limits: Limits, _ body: () async throws(TransferError) -> T) async throws(TransferError) -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch {
                guard error.transient, attempt < limits.retries else { throw error }
                attempt += 1
                let cap = min(30.0, 0.25 * pow(2.0, Double(attempt)))
                let delay = max(error.retryAfter ?? 0, Double.random(in: 0...cap))
                try? await Task.sleep(nanoseconds: UInt64(min(delay, 120) * 1e9))
            }
        }
    }
}
