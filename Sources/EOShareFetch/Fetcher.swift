import EOShareCore
import EOShareState
import Foundation
import Logging
import Synchronization

/// A verified object in the work folder, ready to unpack.
public struct FetchedObject: Sendable {
    public var ref: ObjectRef
    public var file: URL
    public var size: Int64
    public var sha256: String
    public var etag: String?
    public var lastModified: String?
    /// The index-page entry to remember: set only when it proves the object unchanged while
    /// it stays the same (the object was fetched at least a minute after it last changed).
    public var listed: String?

    public init(
        ref: ObjectRef,
        file: URL,
        size: Int64,
        sha256: String,
        etag: String? = nil,
        lastModified: String? = nil,
        listed: String? = nil
    ) {
        self.ref = ref
        self.file = file
        self.size = size
        self.sha256 = sha256
        self.etag = etag
        self.lastModified = lastModified
        self.listed = listed
    }
}

public enum FetchOutcome: Sendable {
    case fetched(FetchedObject)
    /// Not modified since the last run (304, same listing size and time, or same bytes);
    /// `remember` is what the state should keep of it now (new validators for the same
    /// bytes), written by the publish stage with the run's instant.
    case unchanged(ObjectRef, remember: StoredObject? = nil)
    /// A bad object, with the bytes that arrived when they are the evidence (an error page, a
    /// checksum or size mismatch); nil when the transfer itself failed.
    case quarantined(ObjectRef, reason: String, evidence: RefusedBytes?)
}

/// Bytes that arrived whole but were refused, kept in the work folder.
public struct RefusedBytes: Sendable {
    public var file: URL
    /// Computed as they arrived: what the state remembers of them, without the file being
    /// read again.
    public var sha256: String
}

/// What every transfer of a run shares: the limits, where credentials are read, the logger.
package struct FetchSettings: Sendable {
    package var limits: Limits
    package var environment: [String: String]
    package var logger: Logger
    /// `$NETRC` or `~/.netrc`, read once when a source with `auth: {netrc: true}` first needs it.
    package let netrc: NetrcCache

    package init(limits: Limits, environment: [String: String]? = nil, logger: Logger) {
        self.limits = limits
        self.environment = environment ?? ProcessInfo.processInfo.environment
        self.logger = logger
        netrc = NetrcCache(environment: self.environment)
    }
}

/// Fetches one object: conditionally (ETag, Last-Modified, a listing's size and time, an FTP
/// modification time), with retries and resumption, streaming to a work file while the
/// SHA-256 (and, for `.md5` sidecars, the MD5) is computed, then verified: the announced and
/// listed sizes, an error page served as data, the index's SHA-256 and the sidecar.
package struct Fetcher {
    package let downloader: Downloader
    package let source: SourceConfig
    package let settings: FetchSettings
    package let workPath: String

    /// Numbers the work files of this process.
    private static let workFileNumber = Atomic<Int>(0)

    /// A request for `url` with the source's credentials, TLS and limits. Credentials go only
    /// to the source's own origin and its `credential_hosts`: an object an index lists on any
    /// other host is fetched without them. They travel as libcurl credentials (never as a
    /// header of ours), which libcurl does not send on when a redirect leaves the origin.
    package static func request(for source: SourceConfig, url: URL, settings: FetchSettings) -> TransferRequest {
        let clean = Redact.withoutCredentials(url)
        var r = TransferRequest(url: clean, maxBytes: settings.limits.maxObjectBytes)
        r.caFile = source.caFile
        r.timeouts = settings.limits.timeouts
        let env = settings.environment
        if clean.scheme == "sftp" {
            r.sshKnownHosts =
                env["EOSHARE_SSH_KNOWN_HOSTS"]
                ?? env["HOME"].map { $0 + "/.ssh/known_hosts" }.flatMap {
                    FileManager.default.fileExists(atPath: $0) ? $0 : nil
                }
        }
        guard source.sendsCredentials(to: clean) else { return r }
        if let user = source.url.user {
            let password = source.url.password.map { ":" + ($0.removingPercentEncoding ?? $0) } ?? ""
            r.userPassword = (user.removingPercentEncoding ?? user) + password
        }
        switch source.auth {
        case .bearerTokenEnv(let name)?:
            if let token = env[name] { r.bearerToken = token }
        case .basicEnv(let user, let password)?:
            if let u = env[user], let p = env[password] { r.userPassword = "\(u):\(p)" }
        case .netrc?:
            // A user in the url comes first, as with libcurl's optional netrc.
            if r.userPassword == nil, let host = clean.host, let login = settings.netrc.netrc?.login(for: host) {
                r.userPassword = login.user + ":" + (login.password ?? "")
            }
        case nil:
            break
        }
        if clean.scheme == "sftp" { r.sshPrivateKey = env["EOSHARE_SSH_KEY"] }
        return r
    }

    /// Fetches `ref`; `known` is what the state remembers of it.
    package func fetch(_ ref: ObjectRef, known: StoredObject?) async -> FetchOutcome {
        // A precise listing tells size and time: nothing to transfer when both are unchanged.
        if let known, known.sha256 != nil, let size = ref.size, let modified = ref.modified, known.size == size,
            known.lastModified == modified
        {
            return .unchanged(ref)
        }
        // An index page shows times to the minute: the same entry proves nothing changed only
        // if it was remembered from a fetch a minute or more after the last change.
        if let known, known.sha256 != nil, let entry = ref.listingEntry, known.listed == entry {
            return .unchanged(ref)
        }
        if source.checksum == .sidecar, ref.listed, ref.sidecar == nil {
            let reason = "no \(ref.name).sha256 or \(ref.name).md5 beside it in the listing"
            return .quarantined(ref, reason: reason, evidence: nil)
        }
        var request = Self.request(for: source, url: ref.transferURL, settings: settings)
        if let known, known.sha256 != nil {
            if request.isHTTP {
                if let etag = known.etag { request.headers.append("If-None-Match: \(etag)") }
                if let lm = known.lastModified, lm.contains(" ") { request.headers.append("If-Modified-Since: \(lm)") }
            } else if let lm = known.lastModified, let seconds = Int64(lm) {
                request.modifiedSince = seconds
            }
        }
        // One flat work folder per run: a unique prefix (a number counted in this process)
        // instead of a folder per object, as creating inodes is what costs on a busy
        // filesystem. The path is joined as text: URL.appendingPathComponent stats it on Linux.
        let number = Self.workFileNumber.add(1, ordering: .relaxed).newValue
        let path = "\(workPath)/\(number)-\(ref.name)"
        // The URL only for an object that stays (a Foundation URL costs microseconds to make).
        var file: URL { URL(fileURLWithPath: path, isDirectory: false) }
        // MD5 only when a .md5 sidecar is, or may be, the checksum to match.
        let wantsMD5 = source.checksum == .sidecar && (ref.sidecar == nil || ref.sidecar?.kind == .md5)
        let sink: FileSink
        do { sink = try FileSink(path: path, md5: wantsMD5, digester: downloader.transfers.digester) } catch {
            return .quarantined(ref, reason: "fetch: \(error)", evidence: nil)
        }
        let result: TransferResult
        switch await downloader.run(request, into: sink, resumable: true) {
        case .success(let r): result = r
        case .failure(let error):
            WorkFiles.discard(path)
            return .quarantined(ref, reason: "fetch: \(error)", evidence: nil)
        }
        if result.status == 304 || result.conditionUnmet {
            WorkFiles.discard(path)
            return .unchanged(ref)
        }
        let digests = sink.finish()
        let lastModified = ref.modified ?? result.lastModified
        if let problem = await verify(ref, result: result, sink: sink, digests: digests) {
            // An error page told by its bytes alone, and the very bytes refused before: the same
            // bad bytes count as unchanged, as content that fails to unpack does, instead of
            // being quarantined on every run. They are still asked for in full each time (the
            // state keeps no validators of refused bytes), so the right file in their place,
            // even with the same size and time, is read.
            if let known, known.outcome == .refused || known.outcome == .quarantined, known.sha256 == digests.sha256,
                ErrorPage.detect(name: ref.name, format: source.format, contentType: nil, head: sink.head) != nil
            {
                WorkFiles.discard(path)
                return .unchanged(ref)
            }
            return .quarantined(ref, reason: problem, evidence: RefusedBytes(file: file, sha256: digests.sha256))
        }
        let listed =
            HTTPDate.settled(lastModified: result.lastModified, serverDate: result.serverDate)
            ? ref.listingEntry : nil
        // Same bytes as before under new headers: nothing changed (a record stays, content once
        // refused stays quarantined once). Bytes refused while fetching passed this time, so
        // what refused them has changed: they go on.
        if let known, known.sha256 == digests.sha256, known.outcome != .refused {
            WorkFiles.discard(path)
            var updated = known
            updated.etag = result.etag
            updated.lastModified = lastModified
            updated.size = sink.count
            updated.listed = listed
            return .unchanged(ref, remember: updated)
        }
        return .fetched(
            FetchedObject(
                ref: ref,
                file: file,
                size: sink.count,
                sha256: digests.sha256,
                etag: result.etag,
                lastModified: lastModified,
                listed: listed
            )
        )
    }

    /// Everything that must hold of a complete body, in order; the first failure's reason.
    package func verify(
        _ ref: ObjectRef,
        result: TransferResult,
        sink: FileSink,
        digests: (sha256: String, md5: String?)
    )
        async -> String?
    {
        let bytes = sink.count
        if let announced = result.announcedLength, announced != bytes {
            return "size \(bytes) bytes differs from the \(announced) bytes the server announced"
        }
        if let size = ref.size, size != bytes {
            return "size \(bytes) bytes differs from the \(size) bytes the \(ref.listed ? "listing" : "index") states"
        }
        if let page = ErrorPage.detect(
            name: ref.name,
            format: source.format,
            contentType: result.contentType,
            head: sink.head
        ) {
            return "\(page) was served with status \(result.status) instead of the object (error page?)"
        }
        if let approximate = ref.approximateSize, approximate >= 1024, bytes * 2 < approximate {
            return "only \(bytes) bytes arrived where the listing shows about \(approximate) (error page?)"
        }
        if let expected = ref.expectedSHA256, expected != digests.sha256 {
            return "SHA-256 \(digests.sha256) differs from the index's \(expected)"
        }
        if source.checksum == .sidecar {
            return await verifySidecar(ref, digests: digests)
        }
        return nil
    }

    /// The sidecar the listing showed, or else `NAME.sha256` then `NAME.md5`, must name the
    /// digest of the bytes that arrived.
    package func verifySidecar(_ ref: ObjectRef, digests: (sha256: String, md5: String?)) async -> String? {
        // Beside the object's path; the object's query (its signature) is not the sidecar's.
        var path = URLComponents(url: ref.transferURL, resolvingAgainstBaseURL: true)
        path?.query = nil
        path?.fragment = nil
        let base = (path?.url ?? ref.transferURL).deletingLastPathComponent()
        let candidates =
            ref.sidecar.map { [$0] }
            ?? Sidecar.Kind.allCases.map {
                Sidecar(kind: $0, url: base.appendingPathComponent("\(ref.name).\($0.rawValue)"))
            }
        for sidecar in candidates {
            let request = Self.request(for: source, url: sidecar.url, settings: settings)
            let body: [UInt8]
            switch await downloader.fetchSmall(request, limit: 64 << 10) {
            case .success((_, let b)): body = b
            case .failure(let error) where error.status == 404 || error.status == 410: continue
            case .failure(let error): return "checksum sidecar: \(error)"
            }
            let text = String(decoding: body, as: UTF8.self).lowercased()
            let stated = text.split(whereSeparator: { " \n\r\t*".contains($0) }).first.map(String.init)
            let actual = sidecar.kind == .sha256 ? digests.sha256 : (digests.md5 ?? "")
            guard stated == actual else {
                return "checksum \(sidecar.kind.rawValue) mismatch: the sidecar says \(stated ?? "nothing"), "
                    + "the bytes are \(actual)"
            }
            return nil
        }
        return "checksum sidecar \(ref.name).sha256 or \(ref.name).md5 not found"
    }
}

/// Recognises an error page served as data: HTML where the object is not a page, JSON where
/// the source's format and the object's name expect something else. Works on the first
/// bytes as bytes (an object is usually binary; decoding it as text would cost more than
/// the check).
package enum ErrorPage {
    package static func detect(name: String, format: SourceFormat, contentType: String?, head: [UInt8]) -> String? {
        // Compared as ASCII bytes: `contains` on a String goes through NSString on Linux.
        let lower = String(decoding: name.utf8.map(ResponseHeaders.lowercased), as: UTF8.self)
        let type = String(decoding: (contentType ?? "").utf8.map(ResponseHeaders.lowercased), as: UTF8.self)
        // Leading white space and a UTF-8 byte order mark.
        let body = head.drop {
            $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || $0 == 0xEF || $0 == 0xBB || $0 == 0xBF
        }
        let expectsHTML = lower.hasSuffix(".html") || lower.hasSuffix(".htm")
        let looksHTML = startsCaseInsensitive(body, "<!doctype html") || startsCaseInsensitive(body, "<html")
        if !expectsHTML, type.hasPrefix("text/html") || type.hasPrefix("application/xhtml") || looksHTML {
            return "an HTML page"
        }
        let expectsJSON = lower.containsUTF8(".json") || format.servesJSON
        if !expectsJSON, type.containsUTF8("json"), body.first == UInt8(ascii: "{") || body.first == UInt8(ascii: "[") {
            return "a JSON document (\(type))"
        }
        return nil
    }

    /// Whether `bytes` start with the lowercase ASCII `prefix`, ignoring letter case.
    package static func startsCaseInsensitive(_ bytes: ArraySlice<UInt8>, _ prefix: StaticString) -> Bool {
        guard bytes.count >= prefix.utf8CodeUnitCount else { return false }
        return Array(bytes.prefix(prefix.utf8CodeUnitCount)).withUnsafeBytes {
            ResponseHeaders.equalsIgnoringCase($0, prefix)
        }
    }
}

/// HTTP dates (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, what servers send).
package enum HTTPDate {
    /// Unix seconds, or nil for any other form. Read from the bytes (every fetched object
    /// has two of these dates, and `split` plus `timegm` showed in the per-object cost).
    package static func parse(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { b -> Int64? in
            // "Sun, 06 Nov 1994 08:49:37 GMT": weekday and comma, then fixed-width fields.
            guard b.count == 29, b[3] == UInt8(ascii: ","), b[4] == 0x20, b[7] == 0x20, b[11] == 0x20, b[16] == 0x20,
                b[19] == UInt8(ascii: ":"), b[22] == UInt8(ascii: ":"), b[25] == 0x20,
                b[26] == UInt8(ascii: "G"), b[27] == UInt8(ascii: "M"), b[28] == UInt8(ascii: "T")
            else { return nil }
            func number(_ from: Int, _ count: Int) -> Int64? {
                var value: Int64 = 0
                for i in from..<(from + count) {
                    guard TextBytes.isDigit(b[i]) else { return nil }
                    value = value * 10 + Int64(b[i] - 0x30)
                }
                return value
            }
            let monthName = UInt32(b[8]) << 16 | UInt32(b[9]) << 8 | UInt32(b[10])
            guard let day = number(5, 2), let year = number(12, 4), let hour = number(17, 2),
                let minute = number(20, 2), let second = number(23, 2),
                let month = months.firstIndex(of: monthName).map({ Int64($0) + 1 }),
                (1...31).contains(day), hour < 24, minute < 60, second <= 60
            else { return nil }
            let days = Int64(UTCCalendar.daysFromCivil(Int(year), Int(month), Int(day)))
            return days * 86_400 + hour * 3_600 + minute * 60 + second
        }
    }

    /// "Jan" … "Dec" as three bytes in one number.
    private static let months: [UInt32] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .map { name in name.utf8.reduce(0) { $0 << 8 | UInt32($1) } }

    /// Whether the server answered in a later minute than the one the object last changed
    /// in, both by the server's clock. Then a later change would show a later minute on an
    /// index page (whatever its time zone: offsets are whole minutes), so an unchanged entry
    /// means an unchanged object.
    package static func settled(lastModified: String?, serverDate: String?) -> Bool {
        guard let modified = lastModified.flatMap(parse), let date = serverDate.flatMap(parse) else { return false }
        return date / 60 > modified / 60
    }
}
