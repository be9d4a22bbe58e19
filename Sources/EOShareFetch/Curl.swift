import CEOShareCurl
import EOShareCore
import EOShareState
import Foundation

/// libcurl's global state, initialised exactly once before the first handle.
package enum CurlGlobal {
    package static let initialised: Bool = {
        curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK
    }()

    package static var version: String { String(cString: curl_version()) }

    /// `eoshare/0.1.0 (libcurl/7.88.1)`: servers' operators can tell who is fetching.
    package static let userAgent: String = {
        let curl = version.split(separator: " ").first.map(String.init) ?? "libcurl"
        return "eoshare/\(EOShareVersion.current) (\(curl))"
    }()
}

/// Where a resumed transfer continues: the verified bytes already on disk, and the object
/// they belong to (its total size and a validator for `If-Range`).
package struct ResumePoint: Sendable, Hashable {
    package var offset: Int64
    package var total: Int64
    package var validator: String

    public init(offset: Int64, total: Int64, validator: String) {
        self.offset = offset
        self.total = total
        self.validator = validator
    }
}

/// What one transfer asks for. Credentials live here only for the transfer's duration and
/// never reach a message: every text built from a request uses `Redact`.
package struct TransferRequest: Sendable {
    package var url: URL
    package var headers: [String] = []
    /// `user:password` for HTTP Basic, FTP or SFTP, read from the environment (or the netrc
    /// file) just before.
    package var userPassword: String?
    /// An HTTP bearer token (`Authorization: Bearer …`), read from the environment just before.
    package var bearerToken: String?
    package var caFile: URL?
    /// SFTP: private key file (public key derived by libssh2) and known_hosts file.
    package var sshPrivateKey: String?
    package var sshKnownHosts: String?
    package var maxBytes: Int64
    package var timeouts = TransferTimeouts()
    /// FTP: a listing command instead of a retrieval (`MLSD`, or `LIST` by default for a folder).
    package var customRequest: String?
    /// FTP: names only (`NLST`).
    package var namesOnly = false
    /// FTP/SFTP/file: transfer only when modified after this Unix time (curl's time condition).
    package var modifiedSince: Int64?
    /// Continue a transfer that was interrupted: adds `Range` and `If-Range`.
    package var resume: ResumePoint?

    package var isHTTP: Bool { url.scheme == "http" || url.scheme == "https" }

    /// The credential values this request carries, so no text built from it can show them.
    package var secrets: [String] {
        var out: [String] = []
        if let up = userPassword {
            out.append(up)
            out += up.split(separator: ":", maxSplits: 1).map(String.init)
        }
        if let bearerToken { out.append(bearerToken) }
        return out
    }

    public init(
        url: URL,
        headers: [String] = [],
        userPassword: String? = nil,
        bearerToken: String? = nil,
        caFile: URL? = nil,
        sshPrivateKey: String? = nil,
        sshKnownHosts: String? = nil,
        maxBytes: Int64,
        customRequest: String? = nil,
        modifiedSince: Int64? = nil,
        resume: ResumePoint? = nil
    ) {
        self.url = url
        self.headers = headers
        self.userPassword = userPassword
        self.bearerToken = bearerToken
        self.caFile = caFile
        self.sshPrivateKey = sshPrivateKey
        self.sshKnownHosts = sshKnownHosts
        self.maxBytes = maxBytes
        self.customRequest = customRequest
        self.modifiedSince = modifiedSince
        self.resume = resume
    }
}

/// Why a transfer did not complete.
package enum TransferFailure: Sendable, Equatable {
    /// libcurl's own error (connection, TLS, timeout, protocol).
    case curl(code: Int, message: String, transient: Bool)
    /// The object is larger than `max_object_bytes` (announced or counted).
    case tooLarge(limit: Int64, announced: Int64?)
    /// A 206 that does not continue where we stopped, or for another total size.
    case rangeMismatch(String)
    /// The bytes could not be stored (disk full, write error).
    case sinkFailed(String)
    case cancelled

    package var transient: Bool {
        switch self {
        case .curl(_, _, let transient): transient
        case .rangeMismatch: true
        case .tooLarge, .sinkFailed, .cancelled: false
        }
    }
}

/// What one transfer produced (the body went to the sink).
package struct TransferResult: Sendable {
    /// HTTP status; 200 for a completed FTP, SFTP or file transfer.
    package var status: Int = 0
    package var etag: String?
    /// The `Last-Modified` header, or for FTP/SFTP/file the modification time as Unix seconds.
    package var lastModified: String?
    /// The server's `Date` header: its clock when it answered.
    package var serverDate: String?
    package var contentType: String?
    /// The object's whole size as announced: Content-Length of a 200, the total of a 206's
    /// Content-Range, an FTP SIZE.
    package var announcedLength: Int64?
    package var retryAfter: Double?
    /// FTP/file time condition not met: the object has not changed.
    package var conditionUnmet = false
    /// Whether the server's body was taken as data (2xx, or any non-HTTP transfer).
    package var bodyAccepted = false
    /// Whether the accepted body continued a resumed transfer (206 at the resume point).
    package var resumed = false
    package var failure: TransferFailure?

    package var httpStatusIsTransient: Bool { status == 408 || status == 429 || (500...599).contains(status) }

    public init(
        status: Int = 0,
        etag: String? = nil,
        lastModified: String? = nil,
        serverDate: String? = nil,
        contentType: String? = nil,
        announcedLength: Int64? = nil,
        retryAfter: Double? = nil,
        failure: TransferFailure? = nil
    ) {
        self.status = status
        self.etag = etag
        self.lastModified = lastModified
        self.serverDate = serverDate
        self.contentType = contentType
        self.announcedLength = announcedLength
        self.retryAfter = retryAfter
        self.failure = failure
    }
}

/// The object a transfer writes to, called on the transfer thread only while the transfer
/// runs and read by the submitting task once it has finished.
package protocol TransferSink: AnyObject, Sendable {
    /// The body starts at `offset`: 0 starts over (forget what was written), anything else
    /// continues after the bytes already written; `total` is the object's announced size.
    /// False refuses (the transfer aborts).
    func begin(at offset: Int64, total: Int64?) -> Bool
    /// Appends body bytes; false aborts the transfer.
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// Bytes held so far (counting a kept prefix).
    var count: Int64 { get }
    /// Waits until every byte given to `write` is handed on; false if storing one failed.
    /// Called on the transfer thread when a transfer ends.
    func settle() -> Bool
    /// Stores what was kept for the caller to store; false if that failed. Called by the
    /// awaiting task after each transfer, before anyone reads `count`.
    func complete() -> Bool
}

/// One libcurl easy handle and its error buffer (stable for the handle's life). Lives on
/// the transfer thread only.
package final class CurlEasy {
    package let handle: UnsafeMutableRawPointer
    package let errorBuffer: UnsafeMutablePointer<CChar>

    package init() {
        precondition(CurlGlobal.initialised, "curl_global_init failed")
        handle = curl_easy_init()!
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Sets every option of `request` on a freshly reset handle; callbacks reach `context`.
    /// Returns the header list, which must live until the transfer ends.
    package func configure(
        _ request: TransferRequest,
        context: UnsafeMutableRawPointer
    ) -> UnsafeMutablePointer<curl_slist>? {
        curl_easy_reset(handle)
        errorBuffer[0] = 0
        setLong(CURLOPT_NOSIGNAL, 1)
        setLong(CURLOPT_FOLLOWLOCATION, 1)
        setLong(CURLOPT_MAXREDIRS, 5)
        setString(CURLOPT_PROTOCOLS_STR, "http,https,ftp,ftps,sftp,file")
        setString(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        setString(CURLOPT_USERAGENT, CurlGlobal.userAgent)
        // HTTP/2 over TLS where the server offers it (ALPN), HTTP/1.1 otherwise.
        setLong(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS)
        setLong(CURLOPT_PIPEWAIT, 1)
        setLong(CURLOPT_TCP_KEEPALIVE, 1)
        setLong(CURLOPT_BUFFERSIZE, 256 << 10)
        setLong(CURLOPT_CONNECTTIMEOUT, request.timeouts.connect)
        setLong(CURLOPT_TIMEOUT, request.timeouts.total)
        setLong(CURLOPT_LOW_SPEED_LIMIT, request.timeouts.stallBytesPerSecond)
        setLong(CURLOPT_LOW_SPEED_TIME, request.timeouts.stallSeconds)
        setLong(CURLOPT_FILETIME, 1)
        setLong(CURLOPT_FTP_USE_EPSV, 1)
        eoshare_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        setString(CURLOPT_URL, request.url.absoluteString)
        if let ca = request.caFile { setString(CURLOPT_CAINFO, ca.path) }
        // Credentials as libcurl's own, never as a header of ours: then a redirect to another
        // scheme, host or port goes without them (unrestricted auth stays off). libcurl's
        // netrc stays off too: it would look up every host a redirect leads to.
        setLong(CURLOPT_UNRESTRICTED_AUTH, 0)
        setLong(CURLOPT_NETRC, Int(CURL_NETRC_IGNORED.rawValue))
        if let up = request.userPassword { setString(CURLOPT_USERPWD, up) }
        if let token = request.bearerToken {
            setString(CURLOPT_XOAUTH2_BEARER, token)
            setLong(CURLOPT_HTTPAUTH, EOSHARE_CURLAUTH_BEARER)
        } else if request.userPassword != nil {
            setLong(CURLOPT_HTTPAUTH, EOSHARE_CURLAUTH_BASIC)
        }
        if let key = request.sshPrivateKey {
            setString(CURLOPT_SSH_PRIVATE_KEYFILE, key)
            setLong(CURLOPT_SSH_AUTH_TYPES, EOSHARE_CURLSSH_AUTH_PUBLICKEY)
        } else if request.url.scheme == "sftp" {
            setLong(CURLOPT_SSH_AUTH_TYPES, EOSHARE_CURLSSH_AUTH_PASSWORD | EOSHARE_CURLSSH_AUTH_KEYBOARD)
        }
        if request.url.scheme == "sftp" {
            // No known_hosts means no host is known: refuse rather than trust any key.
            setString(CURLOPT_SSH_KNOWNHOSTS, request.sshKnownHosts ?? "/dev/null")
        }
        if let custom = request.customRequest { setString(CURLOPT_CUSTOMREQUEST, custom) }
        if request.namesOnly { setLong(CURLOPT_DIRLISTONLY, 1) }
        if let since = request.modifiedSince {
            setLong(CURLOPT_TIMECONDITION, Int(CURL_TIMECOND_IFMODSINCE.rawValue))
            eoshare_curl_setopt_off(handle, CURLOPT_TIMEVALUE_LARGE, curl_off_t(since))
        }
        var headers = request.headers
        if let resume = request.resume, request.isHTTP {
            headers.append("Range: bytes=\(resume.offset)-")
            headers.append("If-Range: \(resume.validator)")
        }
        var list: UnsafeMutablePointer<curl_slist>?
        for h in headers { list = curl_slist_append(list, h) }
        if let list { eoshare_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list) }
        eoshare_curl_setopt_data_cb(handle, CURLOPT_WRITEFUNCTION, curlWriteCallback)
        eoshare_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        eoshare_curl_setopt_data_cb(handle, CURLOPT_HEADERFUNCTION, curlHeaderCallback)
        eoshare_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        return list
    }

    package var errorText: String { String(cString: errorBuffer) }

    package func long(_ info: CURLINFO) -> Int {
        var value = 0
        eoshare_curl_getinfo_long(handle, info, &value)
        return value
    }

    package func off(_ info: CURLINFO) -> Int64 {
        var value: curl_off_t = -1
        eoshare_curl_getinfo_off(handle, info, &value)
        return Int64(value)
    }

    private func setLong(_ option: CURLoption, _ value: Int) { eoshare_curl_setopt_long(handle, option, value) }
    private func setString(_ option: CURLoption, _ value: String) { eoshare_curl_setopt_string(handle, option, value) }

    /// Errors worth another attempt: the network or the server, not the request.
    package static func isTransient(_ rc: CURLcode) -> Bool {
        switch rc {
        case CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_RECV_ERROR, CURLE_SEND_ERROR,
            CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING, CURLE_COULDNT_RESOLVE_HOST, CURLE_HTTP2, CURLE_HTTP2_STREAM,
            CURLE_SSL_CONNECT_ERROR, CURLE_FTP_ACCEPT_TIMEOUT, CURLE_FTP_CANT_GET_HOST, CURLE_FTP_ACCEPT_FAILED,
            CURLE_FTP_WEIRD_PASV_REPLY, CURLE_SSH:
            return true
        default:
            return false
        }
    }
}

/// One running transfer as libcurl's callbacks see it (through their user-data pointer).
/// Created, used and dropped on the transfer thread.
package final class TransferContext {
    package let request: TransferRequest
    package let sink: any TransferSink
    package let easy: CurlEasy
    package var headerList: UnsafeMutablePointer<curl_slist>?
    package var headers = ResponseHeaders()
    /// Decided at the first body byte: take it as data, or discard it (an error status's page).
    package var body: BodyMode = .undecided
    package var failure: TransferFailure?
    package var resumed = false
    package var announcedTotal: Int64?

    package enum BodyMode { case undecided, data, discard }

    package init(request: TransferRequest, sink: any TransferSink, easy: CurlEasy) {
        self.request = request
        self.sink = sink
        self.easy = easy
    }

    deinit { curl_slist_free_all(headerList) }

    /// Decides what the body is, once, before its first byte is stored. Returns false to abort.
    package func startBody() -> Bool {
        let status = request.isHTTP ? easy.long(CURLINFO_RESPONSE_CODE) : 200
        guard (200..<300).contains(status) else {
            body = .discard
            return true
        }
        body = .data
        let length = easy.off(CURLINFO_CONTENT_LENGTH_DOWNLOAD_T)
        var offset: Int64 = 0
        if status == 206 {
            guard let resume = request.resume, let range = headers.contentRange.flatMap(ContentRange.init),
                range.first == resume.offset, range.total == resume.total
            else {
                let expected = request.resume.map { "from byte \($0.offset) of \($0.total)" } ?? "no range"
                failure = .rangeMismatch(
                    "206 with Content-Range '\(headers.contentRange ?? "none")' where \(expected) was asked"
                )
                return false
            }
            offset = resume.offset
            announcedTotal = range.total
            resumed = true
        } else if length >= 0 {
            announcedTotal = length
        }
        if let total = announcedTotal, total > request.maxBytes {
            failure = .tooLarge(limit: request.maxBytes, announced: total)
            return false
        }
        guard sink.begin(at: offset, total: announcedTotal) else {
            failure = .sinkFailed("the work file could not be prepared")
            return false
        }
        return true
    }

    /// The result once libcurl reports the transfer done with `code`.
    package func finish(_ code: CURLcode) -> TransferResult {
        var result = TransferResult()
        result.status = request.isHTTP ? easy.long(CURLINFO_RESPONSE_CODE) : (code == CURLE_OK ? 200 : 0)
        result.etag = headers.etag
        result.contentType = headers.contentType
        result.lastModified = headers.lastModified
        result.serverDate = headers.date
        if result.lastModified == nil, !request.isHTTP {
            let filetime = easy.off(CURLINFO_FILETIME_T)
            if filetime >= 0 { result.lastModified = String(filetime) }
        }
        result.announcedLength = announcedTotal
        if result.announcedLength == nil, body != .discard {
            let length = easy.off(CURLINFO_CONTENT_LENGTH_DOWNLOAD_T)
            if length >= 0 { result.announcedLength = length }
        }
        let retryAfter = easy.off(CURLINFO_RETRY_AFTER)
        if retryAfter > 0 { result.retryAfter = Double(retryAfter) }
        result.conditionUnmet = easy.long(CURLINFO_CONDITION_UNMET) == 1
        result.bodyAccepted = body == .data
        result.resumed = resumed
        if let failure {
            result.failure = failure
        } else if code != CURLE_OK {
            var detail = easy.errorText.isEmpty ? String(cString: curl_easy_strerror(code)) : easy.errorText
            if code == CURLE_PEER_FAILED_VERIFICATION, request.url.scheme == "sftp" {
                detail += " (the server's host key is not in EOSHARE_SSH_KNOWN_HOSTS or ~/.ssh/known_hosts)"
            }
            result.failure = .curl(
                code: Int(code.rawValue),
                message: Redact.text(detail, url: request.url, secrets: request.secrets),
                transient: CurlEasy.isTransient(code)
            )
        }
        return result
    }
}

/// `bytes FIRST-LAST/TOTAL` of a 206.
package struct ContentRange: Equatable {
    package var first: Int64
    package var last: Int64
    package var total: Int64

    package init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard t.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = t.dropFirst(6)
        let parts = spec.split(separator: "/")
        guard parts.count == 2, let total = Int64(parts[1]) else { return nil }
        let bounds = parts[0].split(separator: "-")
        guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]) else { return nil }
        (self.first, self.last, self.total) = (first, last, total)
    }
}

private func curlWriteCallback(
    _ ptr: UnsafeMutablePointer<CChar>?,
    _ size: Int,
    _ count: Int,
    _ user: UnsafeMutableRawPointer?
) -> Int {
    let context = Unmanaged<TransferContext>.fromOpaque(user!).takeUnretainedValue()
    let n = size * count
    if context.body == .undecided, !context.startBody() { return 0 }
    guard context.body == .data else { return n }
    // Compared without adding: no sum can overflow, whatever max_object_bytes says.
    if Int64(n) > context.request.maxBytes - context.sink.count {
        context.failure = .tooLarge(limit: context.request.maxBytes, announced: context.announcedTotal)
        return 0
    }
    guard context.sink.write(UnsafeRawBufferPointer(start: ptr, count: n)) else {
        context.failure = .sinkFailed("the bytes could not be written to the work file")
        return 0
    }
    return n
}

private func curlHeaderCallback(
    _ ptr: UnsafeMutablePointer<CChar>?,
    _ size: Int,
    _ count: Int,
    _ user: UnsafeMutableRawPointer?
) -> Int {
    let context = Unmanaged<TransferContext>.fromOpaque(user!).takeUnretainedValue()
    let n = size * count
    context.headers.take(UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}

/// The response headers a transfer keeps, parsed from raw header lines without building a
/// string for the others (this runs for every line of every response).
package struct ResponseHeaders {
    package var etag: String?
    package var lastModified: String?
    package var contentType: String?
    package var contentRange: String?
    package var date: String?

    /// Takes one header line; a status line starts a new response (after a redirect or a
    /// 100 Continue), which forgets the previous one's headers.
    package mutating func take(_ line: UnsafeRawBufferPointer) {
        if line.starts(with: "HTTP/".utf8) {
            self = ResponseHeaders()
            return
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return }
        let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
        let field: WritableKeyPath<ResponseHeaders, String?>
        if Self.equalsIgnoringCase(name, "etag") {
            field = \.etag
        } else if Self.equalsIgnoringCase(name, "last-modified") {
            field = \.lastModified
        } else if Self.equalsIgnoringCase(name, "content-type") {
            field = \.contentType
        } else if Self.equalsIgnoringCase(name, "content-range") {
            field = \.contentRange
        } else if Self.equalsIgnoringCase(name, "date") {
            field = \.date
        } else {
            return
        }
        let isSpace = { (b: UInt8) in b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }
        var value = line[(colon + 1)...]
        while let b = value.first, isSpace(b) { value = value.dropFirst() }
        while let b = value.last, isSpace(b) { value = value.dropLast() }
        self[keyPath: field] = String(decoding: value, as: UTF8.self)
    }

    package static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        return zip(bytes, expected).allSatisfy { a, b in lowercased(a) == b }
    }

    /// An ASCII capital letter as its small letter; any other byte as it is.
    package static func lowercased(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b + 0x20 : b }
}

/// Strips credentials and query strings before URLs reach logs, messages, the state or the
/// ledger.
package enum Redact {
    /// The name of the query's stand-in in a kept URL.
    package static let queryDigestName = "query-sha256"

    /// An object URL as the state, the ledger, the logs and messages know it: no userinfo, no
    /// fragment, and instead of its query (a signature, an API key) the query's SHA-256 in
    /// hex, so two objects that differ only in their query stay two:
    /// `https://host/path/obj.gz?query-sha256=9f86d081…`. The real query serves the transfer
    /// alone (`ObjectRef.transferURL`).
    package static func identity(_ url: URL) -> URL {
        guard url.query != nil || url.fragment != nil || url.user != nil || url.password != nil,
            var c = URLComponents(url: url, resolvingAgainstBaseURL: true)
        else { return url }
        c.user = nil
        c.password = nil
        c.fragment = nil
        if let query = c.percentEncodedQuery {
            c.percentEncodedQuery = query.isEmpty ? nil : "\(queryDigestName)=\(Digest.sha256Hex(Array(query.utf8)))"
        }
        return c.url ?? URL(string: url.scheme.map { "\($0):" } ?? "about:blank")!
    }

    /// For messages: the URL's `identity`, as text.
    package static func url(_ url: URL) -> String { identity(url).absoluteString }

    /// For transfers: the same URL without userinfo (credentials come from the source's settings).
    package static func withoutCredentials(_ url: URL) -> URL {
        guard url.user != nil || url.password != nil,
            var c = URLComponents(url: url, resolvingAgainstBaseURL: true)
        else { return url }
        c.user = nil
        c.password = nil
        return c.url ?? url
    }

    /// libcurl's error text may quote the URL, its query or a credential; replace them.
    package static func text(_ text: String, url: URL, secrets: [String]) -> String {
        var out = text.replacingOccurrences(of: url.absoluteString, with: Redact.url(url))
        var hidden = secrets + [url.password, url.user].compactMap({ $0 })
        if let query = URLComponents(url: url, resolvingAgainstBaseURL: true)?.percentEncodedQuery, !query.isEmpty {
            hidden.append(query)
            hidden += query.split(separator: "&").compactMap {
                $0.split(separator: "=", maxSplits: 1).dropFirst().first
            }
            .map(String.init)
            hidden += hidden.compactMap { $0.removingPercentEncoding }
        }
        // The longest first, so a part never leaves the rest of a longer secret visible.
        for secret in hidden.sorted(by: { $0.count > $1.count }) where secret.count >= 3 {
            out = out.replacingOccurrences(of: secret, with: "***")
        }
        return out
    }
}
