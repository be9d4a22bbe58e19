import CEOShareCurl
import Foundation

/// libcurl's global state, initialised exactly once before the first handle.
enum CurlGlobal {
    static let initialised: Bool = {
        curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK
    }()

    static var version: String { String(cString: curl_version()) }
}

/// What one transfer asks for.
struct TransferRequest {
    var url: URL
    var headers: [String] = []
    /// Basic credentials, read from the environment just before the transfer.
    var userPassword: String?
    var useNetrc = false
    var caFile: URL?
    var maxBytes: Int64
    var connectTimeout: Int = 30
    /// Abort when slower than 1 byte/s for this long (a stalled transfer).
    var stallSeconds: Int = 60
}

/// What one transfer produced (the body went to the sink).
struct TransferResult {
    var status: Int
    var etag: String?
    var lastModified: String?
    var contentType: String?
    /// Content-Length or the listing's announced size, when given.
    var announcedLength: Int64?
    var bytes: Int64
}

/// Why a transfer failed, and whether trying again may help.
struct TransferError: Error, CustomStringConvertible {
    var message: String
    var transient: Bool
    var retryAfter: Double?
    var description: String { message }
}

/// One libcurl easy handle, reused across transfers (connection reuse, keep-alive).
/// Owned by one thread at a time; never shared between concurrent transfers.
final class CurlEasy {
    private let handle: UnsafeMutableRawPointer
    /// libcurl writes error text here; stable address for the handle's life.
    private let errorBuffer: UnsafeMutablePointer<CChar>

    init() {
        precondition(CurlGlobal.initialised, "curl_global_init failed")
        handle = curl_easy_init()!
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Runs one blocking transfer. `sink` gets the body of 2xx responses only, so an error
    /// page never lands in a data file. Returning false from the sink aborts the transfer.
    func perform(_ request: TransferRequest, sink: (UnsafeRawBufferPointer) -> Bool) throws(TransferError)
        -> TransferResult
    {
        curl_easy_reset(handle)
        // The sink is used only while curl_easy_perform runs, so it never really escapes.
        return try withoutActuallyEscaping(sink) { sink throws(TransferError) -> TransferResult in
            let context = TransferContext(handle: handle, maxBytes: request.maxBytes, sink: sink)
            return try withExtendedLifetime(context) { () throws(TransferError) -> TransferResult in
            let opaque = Unmanaged.passUnretained(context).toOpaque()
            setLong(CURLOPT_NOSIGNAL, 1)
            setLong(CURLOPT_FOLLOWLOCATION, 1)
            setLong(CURLOPT_MAXREDIRS, 5)
            setString(CURLOPT_PROTOCOLS_STR, "http,https,ftp,ftps,sftp,file")
            setString(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
            setString(CURLOPT_USERAGENT, "eoshare/\(EOShareVersion.current) (\(CurlGlobal.version.split(separator: " ").first ?? "libcurl"))")
            setLong(CURLOPT_CONNECTTIMEOUT, request.connectTimeout)
            setLong(CURLOPT_LOW_SPEED_LIMIT, 1)
            setLong(CURLOPT_LOW_SPEED_TIME, request.stallSeconds)
            setLong(CURLOPT_FILETIME, 1)
            setLong(CURLOPT_FTP_USE_EPSV, 1)
            eoshare_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
            errorBuffer[0] = 0
            setString(CURLOPT_URL, request.url.absoluteString)
            if let ca = request.caFile { setString(CURLOPT_CAINFO, ca.path) }
            if let up = request.userPassword {
                setString(CURLOPT_USERPWD, up)
                setLong(CURLOPT_HTTPAUTH, 1 /* CURLAUTH_BASIC, a macro Swift cannot import */)
            }
            if request.useNetrc { setLong(CURLOPT_NETRC, Int(CURL_NETRC_OPTIONAL.rawValue)) }
            var list: UnsafeMutablePointer<curl_slist>?
            for h in request.headers { list = curl_slist_append(list, h) }
            defer { curl_slist_free_all(list) }
            if let list { eoshare_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list) }
            eoshare_curl_setopt_data_cb(handle, CURLOPT_WRITEFUNCTION, curlWriteCallback)
            eoshare_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, opaque)
            eoshare_curl_setopt_data_cb(handle, CURLOPT_HEADERFUNCTION, curlHeaderCallback)
            eoshare_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, opaque)

            let rc = curl_easy_perform(handle)
            var status = 0
            var code: Int = 0
            eoshare_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
            status = code
            if rc != CURLE_OK {
                if context.abortedForSize {
                    throw TransferError(
                        message: "object exceeds max_object_bytes (\(request.maxBytes) bytes)", transient: false)
                }
                if context.abortedBySink {
                    throw TransferError(message: "transfer aborted: the data could not be stored", transient: false)
                }
                let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(rc))
                throw TransferError(
                    message: "\(detail) (curl \(rc.rawValue))", transient: Self.isTransient(rc),
                    retryAfter: nil)
            }
            // file:// and FTP report 0 for success; treat as 200.
            if status == 0 { status = 200 }
            var length: curl_off_t = -1
            eoshare_curl_getinfo_off(handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length)
            var retryAfter: curl_off_t = 0
            eoshare_curl_getinfo_off(handle, CURLINFO_RETRY_AFTER, &retryAfter)
            var lastModified = context.headers["last-modified"]
            if lastModified == nil, request.url.isFileURL || request.url.scheme == "ftp" {
                var filetime: curl_off_t = -1
                eoshare_curl_getinfo_off(handle, CURLINFO_FILETIME_T, &filetime)
                if filetime >= 0 { lastModified = String(filetime) }
            }
            if status == 429 || status == 408 || status >= 500 {
                throw TransferError(
                    message: "HTTP \(status) from \(Redact.url(request.url))", transient: true,
                    retryAfter: retryAfter > 0 ? Double(retryAfter) : nil)
            }
            return TransferResult(
                status: status, etag: context.headers["etag"], lastModified: lastModified,
                contentType: context.headers["content-type"], announcedLength: length >= 0 ? Int64(length) : nil,
                bytes: context.bytes)
            }
        }
    }

    static func isTransient(_ rc: CURLcode) -> Bool {
        switch rc {
        case CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_RECV_ERROR, CURLE_SEND_ERROR,
            CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING, CURLE_COULDNT_RESOLVE_HOST, CURLE_HTTP2, CURLE_HTTP2_STREAM,
            CURLE_SSL_CONNECT_ERROR, CURLE_FTP_ACCEPT_TIMEOUT:
            return true
        default:
            return false
        }
    }

    private func setLong(_ option: CURLoption, _ value: Int) { eoshare_curl_setopt_long(handle, option, value) }
    private func setString(_ option: CURLoption, _ value: String) { eoshare_curl_setopt_string(handle, option, value) }
}

/// Per-transfer state reached from libcurl's C callbacks through their user-data pointer.
private final class TransferContext {
    let handle: UnsafeMutableRawPointer
    let maxBytes: Int64
    let sink: (UnsafeRawBufferPointer) -> Bool
    var headers: [String: String] = [:]
    var bytes: Int64 = 0
    var abortedForSize = false
    var abortedBySink = false

    init(handle: UnsafeMutableRawPointer, maxBytes: Int64, sink: @escaping (UnsafeRawBufferPointer) -> Bool) {
        self.handle = handle
        self.maxBytes = maxBytes
        self.sink = sink
    }

    var status: Int {
        var code = 0
        eoshare_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }
}

private func curlWriteCallback(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?)
    -> Int
{
    let context = Unmanaged<TransferContext>.fromOpaque(user!).takeUnretainedValue()
    let n = size * count
    let status = context.status
    // Only a successful body is data; 0 is file:// or FTP.
    guard status == 0 || (200..<300).contains(status) else { return n }
    context.bytes += Int64(n)
    if context.bytes > context.maxBytes {
        context.abortedForSize = true
        return 0
    }
    guard context.sink(UnsafeRawBufferPointer(start: ptr, count: n)) else {
        context.abortedBySink = true
        return 0
    }
    return n
}

private func curlHeaderCallback(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?)
    -> Int
{
    let context = Unmanaged<TransferContext>.fromOpaque(user!).takeUnretainedValue()
    let n = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: n), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        // A new response (after a redirect or 100-continue): forget the previous headers.
        context.headers.removeAll()
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        context.headers[name] = value
    }
    return n
}

/// Strips credentials and query strings from URLs before they reach logs or messages.
enum Redact {
    static func url(_ url: URL) -> String {
        guard var c = URLComponents(url: url, resolvingAgainstBaseURL: true) else { return url.lastPathComponent }
        c.user = nil
        c.password = nil
        if c.query != nil { c.query = nil }
        return c.string ?? url.lastPathComponent
    }
}

public enum EOShareVersion {
    public static let current = "0.1.0"
}
