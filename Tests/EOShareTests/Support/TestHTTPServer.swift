import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real HTTP/1.1 server on 127.0.0.1 for tests, with fault injection and a request log.
///
/// It serves the files under `root` (plus in-memory routes from `setBody`) over plain blocking POSIX sockets, so a
/// libcurl-based client meets genuine TCP behaviour: keep-alive, conditional requests, ranges, resets, truncation.
/// One accept thread plus one thread per connection; `stop()` (or `deinit`) ends them all.
///
/// Sendability: every stored property is an immutable `let` of a `Sendable` type; all mutable state lives in
/// `Core.state`, a `Locked` value, so the compiler checks this conformance.
final class TestHTTPServer: Sendable {
    /// A misbehaviour applied to one attempt (request) on a path; see `inject(path:faults:)`.
    enum Fault: Sendable, Equatable, CustomStringConvertible {
        /// Answer with this status and a short text body, optionally with `Retry-After: seconds`.
        case status(Int, retryAfter: Int? = nil)
        /// Send the headers and `bytes` body bytes, then abort the connection with a TCP RST (SO_LINGER 0).
        case resetAfter(bytes: Int)
        /// Announce the full `Content-Length`, send only `bytes` body bytes, then close normally (FIN).
        case truncate(bytes: Int)
        /// Trickle the body at about `bytesPerSecond`.
        case slowBody(bytesPerSecond: Int)
        /// Answer 200 `text/html` with an HTML error page instead of the resource (like a captive portal).
        case htmlErrorPage
        /// Wait this long before answering.
        case delay(seconds: Double)
        /// Apply several faults to the same attempt, e.g. `[.delay(seconds: 1), .status(503)]`.
        case combined([Fault])
        /// After answering this attempt, serve `body` at the path instead (a new ETag and
        /// Last-Modified): the object changed between two attempts.
        case replaceBody([UInt8])

        var description: String {
            switch self {
            case .status(let code, let retryAfter):
                "status(\(code), retryAfter: \(retryAfter.map(String.init) ?? "nil"))"
            case .resetAfter(let bytes): "resetAfter(bytes: \(bytes))"
            case .truncate(let bytes): "truncate(bytes: \(bytes))"
            case .slowBody(let rate): "slowBody(bytesPerSecond: \(rate))"
            case .htmlErrorPage: "htmlErrorPage"
            case .delay(let seconds): "delay(seconds: \(seconds))"
            case .combined(let faults): "combined(\(faults))"
            case .replaceBody(let body): "replaceBody(\(body.count) bytes)"
            }
        }
    }

    /// One logged request: what the client sent and the status the server answered with.
    struct Request: Sendable, CustomStringConvertible {
        /// Request method, e.g. `GET`; empty when the request line could not be parsed.
        let method: String
        /// The raw request target as sent, e.g. `/a%20b/c.gz?x=1`.
        let target: String
        /// The percent-decoded path without query, e.g. `/a b/c.gz` (the key for faults and counts).
        let path: String
        /// The raw query string after `?`, if any.
        let query: String?
        /// Protocol version from the request line, e.g. `HTTP/1.1`.
        let version: String
        /// Header fields in the order received, names as sent.
        let headers: [(name: String, value: String)]
        /// Status code of the response (the one written in the status line, even when a fault cut the body).
        let status: Int
        /// 1-based number of the TCP connection that carried this request (in accept order).
        let connection: Int
        /// The fault applied to this attempt, if any.
        let fault: Fault?

        /// Case-insensitive header lookup; repeated fields are joined with ", ".
        func header(_ name: String) -> String? {
            let values = headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
            return values.isEmpty ? nil : values.joined(separator: ", ")
        }

        /// Whether this was a conditional request (`If-None-Match` or `If-Modified-Since`).
        var isConditional: Bool { header("If-None-Match") != nil || header("If-Modified-Since") != nil }

        var description: String { "\(method) \(target) -> \(status)" }
    }

    /// Failure of a socket call while setting up the server or a raw client connection.
    struct SocketError: Error, CustomStringConvertible {
        let call: String
        let code: Int32
        var description: String { "\(call) failed: \(String(cString: strerror(code))) (errno \(code))" }
    }

    /// The ephemeral TCP port the server listens on (127.0.0.1 only).
    let port: Int
    private let core: Core

    /// `http://127.0.0.1:PORT/`.
    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)/")! }

    /// Binds 127.0.0.1 on an ephemeral port and starts serving `root` (which need not exist yet: missing → 404).
    /// `readTimeout` (seconds) bounds every socket read and write so no connection thread can hang forever.
    init(root: URL, readTimeout: Double = 10) throws {
        LoopbackProxy.bypass()
        let core = try Core(root: root, readTimeout: readTimeout)
        self.core = core
        self.port = core.port
        core.startAcceptLoop()
    }

    deinit { core.stop() }

    /// Closes the listener and all connections and waits (bounded) for every server thread to end. Idempotent.
    func stop() { core.stop() }

    /// URL for `path`, which must already be percent-encoded (a leading `/` is optional).
    func url(_ path: String) -> URL {
        URL(string: "http://127.0.0.1:\(port)" + Self.normalize(path))!
    }

    // MARK: - Fault injection and switches

    /// Queues `faults` for successive requests to the decoded `path` (GET or HEAD alike): attempt 1 gets
    /// `faults[0]`, attempt 2 `faults[1]`, …; later attempts are served normally. Replaces any earlier queue.
    func inject(path: String, faults: [Fault]) {
        core.state.withLock { $0.faults[Self.normalize(path)] = faults.isEmpty ? nil : faults }
    }

    /// Number of injected faults on `path` not yet consumed by a request.
    func pendingFaults(path: String) -> Int {
        core.state.withLock { $0.faults[Self.normalize(path)]?.count ?? 0 }
    }

    /// Drops every queued fault.
    func clearFaults() {
        core.state.withLock { $0.faults = [:] }
    }

    /// Honour `Range` (default on). Off: ignore `Range`/`If-Range`, answer 200 with the full body, no `Accept-Ranges`.
    var rangeSupport: Bool {
        get { core.state.withLock { $0.settings.rangeSupport } }
        set { core.state.withLock { $0.settings.rangeSupport = newValue } }
    }

    /// Send `ETag` and honour `If-None-Match` (default on). Off: no `ETag`, `If-None-Match` ignored.
    var etagSupport: Bool {
        get { core.state.withLock { $0.settings.etagSupport } }
        set { core.state.withLock { $0.settings.etagSupport = newValue } }
    }

    /// Send `Last-Modified` and honour `If-Modified-Since` (default on).
    var lastModifiedSupport: Bool {
        get { core.state.withLock { $0.settings.lastModifiedSupport } }
        set { core.state.withLock { $0.settings.lastModifiedSupport = newValue } }
    }

    /// When set, every request must carry exactly this `Authorization` header value; others get 401 with
    /// `WWW-Authenticate: Basic realm="eoshare-test"` (and the log shows what they sent).
    var requiredAuthorization: String? {
        get { core.state.withLock { $0.settings.requiredAuthorization } }
        set { core.state.withLock { $0.settings.requiredAuthorization = newValue } }
    }

    /// Keep connections open between requests (default on). Off: every response says `Connection: close`.
    var keepAliveSupport: Bool {
        get { core.state.withLock { $0.settings.keepAlive } }
        set { core.state.withLock { $0.settings.keepAlive = newValue } }
    }

    /// Answers requests for the decoded `path` with `status` and `Location: location` (an absolute URL, e.g. on
    /// another server), before any `requiredAuthorization` check: a redirect the client follows on its own.
    func redirect(path: String, to location: String, status: Int = 302) {
        core.state.withLock { $0.redirects[Self.normalize(path)] = (status, location) }
    }

    // MARK: - In-memory routes

    /// Serves `body` at the decoded `path` (taking precedence over files), with a strong ETag from a content hash
    /// and `Last-Modified` set to now. Replaces an earlier body; conditional and range requests work as for files.
    func setBody(path: String, body: [UInt8], contentType: String) {
        let entity = StaticBody(
            bytes: body,
            contentType: contentType,
            etag: Self.memoryETag(body),
            lastModified: Date()
        )
        core.state.withLock { $0.bodies[Self.normalize(path)] = entity }
    }

    /// Removes an in-memory route added with `setBody`.
    func removeBody(path: String) {
        core.state.withLock { $0.bodies[Self.normalize(path)] = nil }
    }

    // MARK: - Request log

    /// Every request received since start or the last `resetLog()`, in arrival order. An entry is recorded before
    /// its response is written, so once a client has seen a response its request is in the log.
    func requests() -> [Request] {
        core.state.withLock { $0.log }
    }

    /// Number of logged requests whose decoded path is `path`.
    func requestCount(path: String) -> Int {
        let path = Self.normalize(path)
        return core.state.withLock { $0.log.count { $0.path == path } }
    }

    /// Clears the request log (not `connectionCount`).
    func resetLog() {
        core.state.withLock { $0.log = [] }
    }

    /// Number of TCP connections accepted since start (to assert keep-alive reuse).
    var connectionCount: Int { core.state.withLock { $0.accepted } }

    // MARK: - Raw client

    /// Sends `bytes` verbatim on a fresh connection and returns everything the server sends back until it closes
    /// the connection or `timeout` passes. With `halfClose` the write side is shut down after sending, so a
    /// keep-alive server still closes once it has answered. For malformed-request and pipelining tests.
    func sendRaw(_ bytes: [UInt8], halfClose: Bool = true, timeout: Double = 5) throws -> [UInt8] {
        let fd = socket(AF_INET, Sys.streamType, 0)
        guard fd >= 0 else { throw SocketError(call: "socket", code: errno) }
        defer { close(fd) }
        Sys.configureNoSigPipe(fd)
        Sys.setOption(fd, SOL_SOCKET, SO_RCVTIMEO, Sys.timeout(seconds: timeout))
        var address = Sys.loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw SocketError(call: "connect", code: errno) }
        guard Sys.sendAll(fd, bytes[...]) else { throw SocketError(call: "send", code: errno) }
        if halfClose { _ = shutdown(fd, Int32(SHUT_WR)) }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += chunk[..<count]
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        return received
    }

    /// `String` convenience for `sendRaw(_:halfClose:timeout:)`; the reply is decoded as UTF-8 (lossy).
    func sendRaw(_ text: String, halfClose: Bool = true, timeout: Double = 5) throws -> String {
        String(decoding: try sendRaw(Array(text.utf8), halfClose: halfClose, timeout: timeout), as: UTF8.self)
    }

    private static func normalize(_ path: String) -> String {
        path.hasPrefix("/") ? path : "/" + path
    }
}

// MARK: - Shared state

extension TestHTTPServer {
    /// A value guarded by an `NSCondition` (lock plus wake-ups for `stop()` to wait on).
    ///
    /// `@unchecked Sendable` is sound: `value` is private and only read or written inside `withLock` / `wait`,
    /// which hold the condition's lock for the whole access, so accesses are serialised; and both `Value` and
    /// everything `withLock` returns are `Sendable`, so nothing non-Sendable escapes the lock.
    fileprivate final class Locked<Value: Sendable>: @unchecked Sendable {
        private let condition = NSCondition()
        private var value: Value

        init(_ value: Value) { self.value = value }

        /// Runs `body` with exclusive access, then wakes any `wait` callers.
        func withLock<Result: Sendable>(_ body: (inout Value) throws -> Result) rethrows -> Result {
            condition.lock()
            defer {
                condition.broadcast()
                condition.unlock()
            }
            return try body(&value)
        }

        /// Blocks until `predicate` holds or `timeout` seconds pass; returns whether it holds.
        func wait(timeout: Double, until predicate: (Value) -> Bool) -> Bool {
            let deadline = Date(timeIntervalSinceNow: timeout)
            condition.lock()
            defer { condition.unlock() }
            while !predicate(value) {
                if !condition.wait(until: deadline) { return predicate(value) }
            }
            return true
        }
    }

    fileprivate struct Settings: Sendable {
        var rangeSupport = true
        var etagSupport = true
        var lastModifiedSupport = true
        var keepAlive = true
        var requiredAuthorization: String?
    }

    fileprivate struct StaticBody: Sendable {
        let bytes: [UInt8]
        let contentType: String
        let etag: String
        let lastModified: Date
    }

    fileprivate struct State: Sendable {
        var stopped = false
        /// Open connection sockets; only their own thread closes them (after removing them here), so `stop()`
        /// can `shutdown` them under the lock without racing a reused descriptor number.
        var connections: Set<Int32> = []
        var liveThreads = 0
        var accepted = 0
        var faults: [String: [Fault]] = [:]
        var bodies: [String: StaticBody] = [:]
        var redirects: [String: (status: Int, location: String)] = [:]
        var log: [Request] = []
        var settings = Settings()
    }
}

// MARK: - Platform helpers

extension TestHTTPServer {
    /// Thin wrappers over the socket calls that differ between Glibc and Darwin.
    fileprivate enum Sys {
        #if canImport(Glibc)
        static let streamType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        /// MSG_NOSIGNAL: a write to a closed peer returns EPIPE instead of killing the process with SIGPIPE.
        static let sendFlags = Int32(MSG_NOSIGNAL)
        #else
        static let streamType = SOCK_STREAM
        static let sendFlags: Int32 = 0
        #endif

        /// On Darwin there is no MSG_NOSIGNAL; SO_NOSIGPIPE does the same per socket. Also sets close-on-exec
        /// there (Linux gets it atomically from SOCK_CLOEXEC / accept4) so spawned `curl`s never inherit sockets.
        static func configureNoSigPipe(_ fd: Int32) {
            #if canImport(Darwin)
            setOption(fd, SOL_SOCKET, SO_NOSIGPIPE, Int32(1))
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            #endif
        }

        /// Accepts and marks the socket close-on-exec (Glibc's module does not export `accept4`; the window is
        /// harmless for Foundation's `Process`, which closes inherited descriptors when spawning).
        static func acceptConnection(_ listener: Int32) -> Int32 {
            let fd = accept(listener, nil, nil)
            if fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return fd
        }

        static func setOption<T: BitwiseCopyable>(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: T) {
            withUnsafeBytes(of: value) { raw in
                _ = setsockopt(fd, level, name, raw.baseAddress, socklen_t(raw.count))
            }
        }

        static func timeout(seconds: Double) -> timeval {
            let whole = max(0, seconds.rounded(.down))
            return timeval(
                tv_sec: time_t(whole),
                tv_usec: suseconds_t(((seconds - whole) * 1_000_000).rounded())
            )
        }

        static func loopback(port: Int) -> sockaddr_in {
            var address = sockaddr_in()
            #if canImport(Darwin)
            address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
            #endif
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            return address
        }

        /// Writes all of `bytes`, retrying partial writes and EINTR; false on any error (peer gone, timeout).
        static func sendAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
            bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return true }
                var offset = 0
                while offset < raw.count {
                    let sent = send(fd, base + offset, raw.count - offset, sendFlags)
                    if sent > 0 {
                        offset += sent
                    } else if sent < 0 && errno == EINTR {
                        continue
                    } else {
                        return false
                    }
                }
                return true
            }
        }
    }
}

// MARK: - Server core

extension TestHTTPServer {
    /// The part the threads retain: they never hold the `TestHTTPServer` itself, so its `deinit` can run and
    /// stop them.
    fileprivate final class Core: Sendable {
        let root: String
        let port: Int
        let listener: Int32
        let readTimeout: Double
        let state = Locked(State())

        static let maxHeaderBytes = 64 * 1024
        static let maxBodyBytes = 1 << 20

        init(root: URL, readTimeout: Double) throws {
            self.root = root.standardizedFileURL.resolvingSymlinksInPath().path
            self.readTimeout = max(0.01, readTimeout)  // 0 would mean "no timeout" to SO_RCVTIMEO
            let fd = socket(AF_INET, Sys.streamType, 0)
            guard fd >= 0 else { throw SocketError(call: "socket", code: errno) }
            var ready = false
            defer { if !ready { close(fd) } }
            Sys.configureNoSigPipe(fd)
            Sys.setOption(fd, SOL_SOCKET, SO_REUSEADDR, Int32(1))
            var address = Sys.loopback(port: 0)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else { throw SocketError(call: "bind", code: errno) }
            guard listen(fd, 128) == 0 else { throw SocketError(call: "listen", code: errno) }
            var actual = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &actual) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0 else { throw SocketError(call: "getsockname", code: errno) }
            port = Int(UInt16(bigEndian: actual.sin_port))
            listener = fd
            ready = true
        }

        var isStopped: Bool { state.withLock { $0.stopped } }

        func startAcceptLoop() {
            state.withLock { $0.liveThreads += 1 }
            let thread = Thread { [self] in acceptLoop() }
            thread.name = "TestHTTPServer.accept:\(port)"
            thread.start()
        }

        func stop() {
            state.withLock { state in
                if !state.stopped {
                    // Safe: the accept thread closes the listener only after it has seen `stopped`.
                    _ = shutdown(listener, Int32(SHUT_RDWR))
                }
                state.stopped = true
                for fd in state.connections { _ = shutdown(fd, Int32(SHUT_RDWR)) }
            }
            _ = state.wait(timeout: 10) { $0.liveThreads == 0 }
        }

        private func threadEnded() {
            state.withLock { $0.liveThreads -= 1 }
        }

        /// Polls with a short timeout so the loop notices `stop()` even where `shutdown` does not wake `poll`.
        private func acceptLoop() {
            defer {
                close(listener)
                threadEnded()
            }
            while !isStopped {
                var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 50) > 0, !isStopped else { continue }
                let fd = Sys.acceptConnection(listener)
                guard fd >= 0 else {
                    usleep(5_000)  // EINTR, ECONNABORTED, EMFILE…: try again shortly
                    continue
                }
                Sys.configureNoSigPipe(fd)
                Sys.setOption(fd, SOL_SOCKET, SO_RCVTIMEO, Sys.timeout(seconds: readTimeout))
                Sys.setOption(fd, SOL_SOCKET, SO_SNDTIMEO, Sys.timeout(seconds: readTimeout))
                Sys.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, Int32(1))
                let connection: Int? = state.withLock { state in
                    guard !state.stopped else { return nil }
                    state.accepted += 1
                    state.connections.insert(fd)
                    state.liveThreads += 1
                    return state.accepted
                }
                guard let connection else {
                    close(fd)
                    return
                }
                let thread = Thread { [self] in serve(fd, connection: connection) }
                thread.name = "TestHTTPServer.connection#\(connection)"
                thread.start()
            }
        }

        // MARK: Connection

        /// How a connection continues after a response: serve the next request, close gracefully (half-close
        /// and drain), abort with an RST, or just close because the peer already went away.
        private enum Ending { case keepOpen, close, abort, peerGone }

        /// Serves requests on one connection until the client closes, a response ends it, a read times out or the
        /// server stops.
        private func serve(_ fd: Int32, connection: Int) {
            var ending = Ending.close
            defer {
                state.withLock { _ = $0.connections.remove(fd) }
                switch ending {
                case .abort:
                    Sys.setOption(fd, SOL_SOCKET, SO_LINGER, linger(l_onoff: 1, l_linger: 0))
                case .close:
                    lingeringClose(fd)
                case .keepOpen, .peerGone:
                    break
                }
                close(fd)
                threadEnded()
            }
            var buffer: [UInt8] = []
            while !isStopped {
                switch readRequest(fd, &buffer) {
                case .closed:
                    ending = .peerGone
                    return
                case .malformed(let status, let method, let target):
                    let response = Self.textResponse(status)
                    log(
                        Request(
                            method: method,
                            target: target,
                            path: "",
                            query: nil,
                            version: "",
                            headers: [],
                            status: status,
                            connection: connection,
                            fault: nil
                        )
                    )
                    let head = Self.serializeHead(response, version: "HTTP/1.1", keepAlive: false)
                    if Sys.sendAll(fd, head[...]) {
                        _ = stream(response.body, limit: response.body.count, rate: nil, fd)
                    }
                    ending = .close
                    return
                case .request(let request):
                    ending = respond(to: request, connection: connection, fd: fd)
                    if ending != .keepOpen { return }
                }
            }
        }

        /// Half-closes and drains briefly before `close`, so unread request bytes do not turn our FIN into an RST
        /// that could destroy the response in the client's receive buffer.
        private func lingeringClose(_ fd: Int32) {
            _ = shutdown(fd, Int32(SHUT_WR))
            let deadline = Date(timeIntervalSinceNow: 0.5)
            var scratch = [UInt8](repeating: 0, count: 16_384)
            while !isStopped {
                let remaining = Int32(deadline.timeIntervalSinceNow * 1000)
                guard remaining > 0 else { return }
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, min(remaining, 50)) >= 0 else { return }
                guard poller.revents != 0 else { continue }
                let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 && !(count < 0 && errno == EINTR) { return }
            }
        }

        private func log(_ request: Request) {
            state.withLock { $0.log.append(request) }
        }

        /// Sleeps in short slices; returns false as soon as the server stops.
        private func pause(_ seconds: Double) -> Bool {
            let deadline = Date(timeIntervalSinceNow: seconds)
            while !isStopped {
                let remaining = deadline.timeIntervalSinceNow
                if remaining <= 0 { return true }
                usleep(useconds_t(min(remaining, 0.02) * 1_000_000))
            }
            return false
        }

        // MARK: Reading requests

        private enum Incoming {
            case request(Parsed)
            /// Answer `status` and close; `method`/`target` are whatever could be parsed (for the log).
            case malformed(Int, method: String, target: String)
            case closed
        }

        fileprivate struct Parsed {
            let method: String
            let target: String
            let version: String
            let headers: [(name: String, value: String)]
            let rawPath: String
            let path: String
            let query: String?

            func header(_ name: String) -> String? {
                let values = headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
                return values.isEmpty ? nil : values.joined(separator: ", ")
            }

            /// HTTP/1.1 is persistent unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
            var wantsKeepAlive: Bool {
                let tokens = (header("Connection") ?? "").lowercased().split(separator: ",")
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                if tokens.contains("close") { return false }
                return version == "HTTP/1.1" || tokens.contains("keep-alive")
            }
        }

        /// Returns false when the peer closed, the read timed out or failed.
        private func receive(_ fd: Int32, into buffer: inout [UInt8]) -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    buffer += chunk[..<count]
                    return true
                }
                if count < 0 && errno == EINTR { continue }
                return false
            }
        }

        private func readRequest(_ fd: Int32, _ buffer: inout [UInt8]) -> Incoming {
            while true {
                // RFC 9112 §2.2: ignore empty lines before a request line.
                let blank = buffer.prefix { $0 == 13 || $0 == 10 }.count
                if blank > 0 { buffer.removeFirst(blank) }
                if let end = Self.headerEnd(buffer) {
                    guard end <= Self.maxHeaderBytes else { return .malformed(431, method: "", target: "") }
                    let head = Array(buffer[..<end])
                    buffer.removeFirst(end)
                    return parse(head, fd, &buffer)
                }
                if buffer.count > Self.maxHeaderBytes { return .malformed(431, method: "", target: "") }
                guard receive(fd, into: &buffer) else { return .closed }
            }
        }

        /// Index just past the blank line ending the header section (CRLF CRLF, tolerating bare LF).
        private static func headerEnd(_ bytes: [UInt8]) -> Int? {
            var index = 0
            while index < bytes.count {
                if bytes[index] == 10 {
                    if index + 1 < bytes.count && bytes[index + 1] == 10 { return index + 2 }
                    if index + 2 < bytes.count && bytes[index + 1] == 13 && bytes[index + 2] == 10 { return index + 3 }
                }
                index += 1
            }
            return nil
        }

        private func parse(_ head: [UInt8], _ fd: Int32, _ buffer: inout [UInt8]) -> Incoming {
            var lines: [String] = []
            for var line in head.split(separator: 10, omittingEmptySubsequences: false) {
                if line.last == 13 { line = line.dropLast() }
                // Bare CR and other control bytes (except tab) are not allowed anywhere in the header section.
                if line.contains(where: { ($0 < 0x20 && $0 != 9) || $0 == 0x7F }) {
                    return .malformed(400, method: "", target: "")
                }
                lines.append(String(decoding: line, as: UTF8.self))
            }
            while lines.last == "" { lines.removeLast() }
            guard !lines.isEmpty else { return .malformed(400, method: "", target: "") }
            let parts = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { return .malformed(400, method: "", target: "") }
            let (method, target, version) = (parts[0], parts[1], parts[2])
            guard TestHTTPServer.isToken(method) else { return .malformed(400, method: "", target: target) }
            guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
                let looksLikeHTTP = version.hasPrefix("HTTP/") && version.count == 8
                return .malformed(looksLikeHTTP ? 505 : 400, method: method, target: target)
            }
            var headers: [(name: String, value: String)] = []
            for line in lines {
                // No colon, an empty name, whitespace before the colon or obs-fold continuation lines → 400.
                guard let colon = line.firstIndex(of: ":"), TestHTTPServer.isToken(line[..<colon]) else {
                    return .malformed(400, method: method, target: target)
                }
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers.append((String(line[..<colon]), value))
            }
            let names = headers.map { $0.name.lowercased() }
            let hosts = names.count { $0 == "host" }
            if hosts > 1 || (version == "HTTP/1.1" && hosts == 0) {
                return .malformed(400, method: method, target: target)
            }
            if names.contains("transfer-encoding") { return .malformed(501, method: method, target: target) }
            let lengths = Set(headers.filter { $0.name.lowercased() == "content-length" }.map(\.value))
            if !lengths.isEmpty {
                guard lengths.count == 1, let text = lengths.first, let length = TestHTTPServer.digits(text) else {
                    return .malformed(400, method: method, target: target)
                }
                guard length <= Self.maxBodyBytes else { return .malformed(413, method: method, target: target) }
                while buffer.count < length {  // read and discard the request body to stay in sync
                    guard receive(fd, into: &buffer) else { return .closed }
                }
                buffer.removeFirst(length)
            }
            guard let (rawPath, query) = Self.splitTarget(target),
                let path = rawPath.removingPercentEncoding, !path.contains("\u{0}")
            else { return .malformed(400, method: method, target: target) }
            return .request(
                Parsed(
                    method: method,
                    target: target,
                    version: version,
                    headers: headers,
                    rawPath: rawPath,
                    path: path,
                    query: query
                )
            )
        }

        /// Splits origin-form (`/p?q`) or absolute-form (`http://h/p?q`) targets; nil for anything else.
        private static func splitTarget(_ target: String) -> (String, String?)? {
            var rest = Substring(target)
            for scheme in ["http://", "https://"] where target.lowercased().hasPrefix(scheme) {
                rest = rest.dropFirst(scheme.count)
                rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
            }
            guard rest.hasPrefix("/") else { return nil }
            if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
            guard let mark = rest.firstIndex(of: "?") else { return (String(rest), nil) }
            return (String(rest[..<mark]), String(rest[rest.index(after: mark)...]))
        }

        // MARK: Responding

        fileprivate enum Body {
            case bytes([UInt8])
            case file(path: String, offset: Int, count: Int)

            var count: Int {
                switch self {
                case .bytes(let bytes): bytes.count
                case .file(_, _, let count): count
                }
            }
        }

        fileprivate struct Response {
            var status: Int
            var headers: [(String, String)] = []
            var body = Body.bytes([])
            /// Whether the connection must close after this response (e.g. after an error).
            var close = false
        }

        /// What the attempt's fault asks for, flattened from `.combined`.
        private struct Plan {
            enum Cut {
                case none
                case reset(Int)
                case truncate(Int)
            }
            var delay = 0.0
            var status: (code: Int, retryAfter: Int?)?
            var htmlErrorPage = false
            var cut = Cut.none
            var bytesPerSecond: Int?
            var replacement: [UInt8]?

            init(_ fault: Fault?) {
                if let fault { apply(fault) }
            }

            mutating func apply(_ fault: Fault) {
                switch fault {
                case .status(let code, let retryAfter): status = (code, retryAfter)
                case .resetAfter(let bytes): cut = .reset(max(0, bytes))
                case .truncate(let bytes): cut = .truncate(max(0, bytes))
                case .slowBody(let rate): bytesPerSecond = max(1, rate)
                case .htmlErrorPage: htmlErrorPage = true
                case .delay(let seconds): delay += max(0, seconds)
                case .combined(let faults): for fault in faults { apply(fault) }
                case .replaceBody(let body): replacement = body
                }
            }
        }

        /// Answers one request (logging it first) and says how the connection should continue.
        private func respond(to request: Parsed, connection: Int, fd: Int32) -> Ending {
            let (fault, settings, entity, redirect) = state.withLock { state in
                var fault: Fault?
                if var queue = state.faults[request.path], !queue.isEmpty {
                    fault = queue.removeFirst()
                    state.faults[request.path] = queue.isEmpty ? nil : queue
                }
                return (fault, state.settings, state.bodies[request.path], state.redirects[request.path])
            }
            let plan = Plan(fault)
            var response: Response
            if let redirect {
                response = Self.textResponse(redirect.status)
                response.headers.append(("Location", redirect.location))
            } else if let status = plan.status {
                response = Self.textResponse(status.code)
                if let seconds = status.retryAfter { response.headers.append(("Retry-After", String(seconds))) }
            } else if let required = settings.requiredAuthorization, request.header("Authorization") != required {
                response = Self.textResponse(401)
                response.headers.append(("WWW-Authenticate", "Basic realm=\"eoshare-test\""))
            } else if plan.htmlErrorPage {
                response = Response(status: 200, headers: [("Content-Type", "text/html;charset=UTF-8")])
                response.body = .bytes(Array(Self.htmlErrorPage.utf8))
            } else {
                response = route(request, settings: settings, entity: entity)
            }
            log(
                Request(
                    method: request.method,
                    target: request.target,
                    path: request.path,
                    query: request.query,
                    version: request.version,
                    headers: request.headers,
                    status: response.status,
                    connection: connection,
                    fault: fault
                )
            )
            if let replacement = plan.replacement {
                let contentType = entity?.contentType ?? TestHTTPServer.contentType(for: request.path)
                // One second later than the old body, so `If-Range` by date fails as well.
                let modified = Date(timeIntervalSince1970: (entity?.lastModified ?? Date()).timeIntervalSince1970 + 1)
                state.withLock {
                    $0.bodies[request.path] = StaticBody(
                        bytes: replacement,
                        contentType: contentType,
                        etag: TestHTTPServer.memoryETag(replacement),
                        lastModified: modified
                    )
                }
            }
            let keepAlive = settings.keepAlive && request.wantsKeepAlive && !response.close
            if plan.delay > 0 && !pause(plan.delay) { return .close }
            let head = Self.serializeHead(response, version: request.version, keepAlive: keepAlive)
            guard Sys.sendAll(fd, head[...]) else { return .close }
            let length = request.method == "HEAD" ? 0 : response.body.count
            switch plan.cut {
            case .none:
                guard stream(response.body, limit: length, rate: plan.bytesPerSecond, fd) else { return .close }
                return keepAlive ? .keepOpen : .close
            case .truncate(let bytes):
                _ = stream(response.body, limit: min(bytes, length), rate: plan.bytesPerSecond, fd)
                return .close
            case .reset(let bytes):
                _ = stream(response.body, limit: min(bytes, length), rate: plan.bytesPerSecond, fd)
                _ = pause(0.05)  // give the client a moment to read what was sent before the RST discards it
                return .abort
            }
        }

        /// Writes the first `limit` bytes of `body`, optionally throttled to `rate` bytes per second.
        private func stream(_ body: Body, limit: Int, rate: Int?, _ fd: Int32) -> Bool {
            guard limit > 0 else { return true }
            let chunkSize = rate.map { max(1, $0 / 10) } ?? 65_536
            var file: FileHandle?
            if case .file(let path, let offset, _) = body {
                guard let handle = FileHandle(forReadingAtPath: path) else { return false }
                file = handle
                do { try handle.seek(toOffset: UInt64(offset)) } catch { return false }
            }
            defer { try? file?.close() }
            var sent = 0
            while sent < limit {
                let count = min(chunkSize, limit - sent)
                let chunk: ArraySlice<UInt8>
                switch body {
                case .bytes(let bytes):
                    chunk = bytes[sent..<(sent + count)]
                case .file:
                    // A short read means the file shrank under us: end the connection rather than lie.
                    guard let data = try? file?.read(upToCount: count), data.count == count else { return false }
                    chunk = [UInt8](data)[...]
                }
                guard Sys.sendAll(fd, chunk) else { return false }
                sent += count
                if let rate, sent < limit, !pause(Double(count) / Double(rate)) { return false }
            }
            return true
        }

        private static func serializeHead(_ response: Response, version: String, keepAlive: Bool) -> [UInt8] {
            var text = "HTTP/1.1 \(response.status) \(reason(response.status))\r\n"
            text += "Date: \(httpDate(Date()))\r\nServer: TestHTTPServer\r\n"
            for (name, value) in response.headers { text += "\(name): \(value)\r\n" }
            if response.status != 304 && response.status != 204 && response.status >= 200 {
                text += "Content-Length: \(response.body.count)\r\n"
            }
            if !keepAlive {
                text += "Connection: close\r\n"
            } else if version == "HTTP/1.0" {
                text += "Connection: keep-alive\r\n"
            }
            return Array((text + "\r\n").utf8)
        }

        private static func textResponse(_ status: Int) -> Response {
            Response(
                status: status,
                headers: [("Content-Type", "text/plain")],
                body: .bytes(Array("\(status) \(reason(status))\n".utf8)),
                close: status == 400 || status == 413 || status == 431 || status == 501 || status == 505
            )
        }

        private static let htmlErrorPage = """
            <!DOCTYPE html>
            <html><head><title>Service Unavailable</title></head>
            <body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request.</p>
            </body></html>

            """

        // MARK: Routing

        /// A servable entity: a file or an in-memory body, with its validators.
        private struct Resource {
            let count: Int
            let etag: String
            let lastModified: Date
            let contentType: String
            let body: (Int, Int) -> Body
        }

        private func route(_ request: Parsed, settings: Settings, entity: StaticBody?) -> Response {
            guard request.method == "GET" || request.method == "HEAD" else {
                var response = Self.textResponse(405)
                response.headers.append(("Allow", "GET, HEAD"))
                return response
            }
            if let entity {
                let bytes = entity.bytes
                return resourceResponse(
                    Resource(
                        count: bytes.count,
                        etag: entity.etag,
                        lastModified: entity.lastModified,
                        contentType: entity.contentType,
                        body: { offset, count in .bytes(Array(bytes[offset..<(offset + count)])) }
                    ),
                    request: request,
                    settings: settings
                )
            }
            let components = request.path.split(separator: "/").map(String.init)
            guard !components.contains("..") else { return Self.textResponse(404) }
            let relative = components.filter { $0 != "." }.joined(separator: "/")
            let full = URL(fileURLWithPath: relative.isEmpty ? root : root + "/" + relative)
                .resolvingSymlinksInPath().path
            guard full == root || full.hasPrefix(root == "/" ? "/" : root + "/"),
                let attributes = try? FileManager.default.attributesOfItem(atPath: full),
                let type = attributes[.type] as? FileAttributeType
            else { return Self.textResponse(404) }
            if type == .typeDirectory {
                if request.path.hasSuffix("/") { return indexResponse(directory: full, request: request) }
                var response = Self.textResponse(301)
                let query = request.query.map { "?" + $0 } ?? ""
                response.headers.append(("Location", "http://127.0.0.1:\(port)\(request.rawPath)/\(query)"))
                return response
            }
            guard type == .typeRegular, !request.path.hasSuffix("/") else { return Self.textResponse(404) }
            let count = (attributes[.size] as? NSNumber)?.intValue ?? 0
            let modified = attributes[.modificationDate] as? Date ?? Date(timeIntervalSince1970: 0)
            let micros = Int64((modified.timeIntervalSince1970 * 1_000_000).rounded())
            let tag = [UInt64(count), UInt64(bitPattern: micros), TestHTTPServer.fnv1a(Array(request.path.utf8))]
            return resourceResponse(
                Resource(
                    count: count,
                    etag: "\"" + tag.map { String($0, radix: 16) }.joined(separator: "-") + "\"",
                    lastModified: modified,
                    contentType: TestHTTPServer.contentType(for: request.path),
                    body: { offset, count in .file(path: full, offset: offset, count: count) }
                ),
                request: request,
                settings: settings
            )
        }

        /// 304 / 206 / 416 / 200 for a resource, following RFC 9110 §13.2.2's order of precondition evaluation.
        private func resourceResponse(_ resource: Resource, request: Parsed, settings: Settings) -> Response {
            var validators: [(String, String)] = []
            if settings.etagSupport { validators.append(("ETag", resource.etag)) }
            if settings.lastModifiedSupport {
                validators.append(("Last-Modified", TestHTTPServer.httpDate(resource.lastModified)))
            }
            if isNotModified(resource, request: request, settings: settings) {
                return Response(status: 304, headers: validators)
            }
            var headers = [("Content-Type", resource.contentType)]
            if settings.rangeSupport { headers.append(("Accept-Ranges", "bytes")) }
            headers += validators
            if settings.rangeSupport, request.method == "GET", let range = request.header("Range"),
                ifRangeHolds(resource, request: request, settings: settings)
            {
                switch Self.parseRange(range, count: resource.count) {
                case .ignore:
                    break
                case .unsatisfiable:
                    headers.append(("Content-Range", "bytes */\(resource.count)"))
                    return Response(status: 416, headers: headers)
                case .satisfiable(let first, let last):
                    headers.append(("Content-Range", "bytes \(first)-\(last)/\(resource.count)"))
                    return Response(status: 206, headers: headers, body: resource.body(first, last - first + 1))
                }
            }
            return Response(status: 200, headers: headers, body: resource.body(0, resource.count))
        }

        private func isNotModified(_ resource: Resource, request: Parsed, settings: Settings) -> Bool {
            if settings.etagSupport, let candidates = request.header("If-None-Match") {
                // Weak comparison; `If-Modified-Since` is ignored when `If-None-Match` is present.
                let mine = Self.opaque(resource.etag)
                return candidates.split(separator: ",").contains { candidate in
                    let candidate = candidate.trimmingCharacters(in: .whitespaces)
                    return candidate == "*" || Self.opaque(candidate) == mine
                }
            }
            if settings.lastModifiedSupport, let text = request.header("If-Modified-Since"),
                let since = TestHTTPServer.parseHTTPDate(text)
            {
                return resource.lastModified.timeIntervalSince1970.rounded(.down) <= since.timeIntervalSince1970
            }
            return false
        }

        /// `If-Range`: a strong ETag must match exactly, or a date must equal `Last-Modified`; otherwise send 200.
        private func ifRangeHolds(_ resource: Resource, request: Parsed, settings: Settings) -> Bool {
            guard let value = request.header("If-Range") else { return true }
            if value.hasPrefix("\"") || value.hasPrefix("W/") {
                return settings.etagSupport && value == resource.etag
            }
            guard settings.lastModifiedSupport, let date = TestHTTPServer.parseHTTPDate(value) else { return false }
            return date.timeIntervalSince1970 == resource.lastModified.timeIntervalSince1970.rounded(.down)
        }

        private static func opaque(_ tag: String) -> String {
            tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag
        }

        private enum RangeRequest: Equatable {
            case ignore, unsatisfiable
            case satisfiable(Int, Int)
        }

        /// Single `bytes=N-`, `bytes=N-M` or `bytes=-S`; multiple or invalid ranges are ignored (full 200).
        private static func parseRange(_ header: String, count: Int) -> RangeRequest {
            let value = header.trimmingCharacters(in: .whitespaces)
            guard value.lowercased().hasPrefix("bytes=") else { return .ignore }
            let spec = value.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
            guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .ignore }
            let first = String(spec[..<dash])
            let last = String(spec[spec.index(after: dash)...])
            if first.isEmpty {
                guard let suffix = digits(last) else { return .ignore }
                guard suffix > 0, count > 0 else { return .unsatisfiable }
                return .satisfiable(max(0, count - suffix), count - 1)
            }
            guard let start = digits(first) else { return .ignore }
            let end: Int
            if last.isEmpty {
                end = Int.max
            } else {
                guard let parsed = digits(last), parsed >= start else { return .ignore }
                end = parsed
            }
            guard start < count else { return .unsatisfiable }
            return .satisfiable(start, min(end, count - 1))
        }

        /// An Apache-style autoindex page: sort links, "Parent Directory" (`../`), then entries sorted by name.
        /// Dot-files are hidden, as Apache's default `IndexIgnore` does.
        private func indexResponse(directory: String, request: Parsed) -> Response {
            let fileManager = FileManager.default
            let names = ((try? fileManager.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { !$0.hasPrefix(".") }
                .sorted()
            let title = TestHTTPServer.escapeHTML(request.path == "/" ? "/" : String(request.path.dropLast()))
            var html = """
                <!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
                <html>
                 <head>
                  <title>Index of \(title)</title>
                 </head>
                 <body>
                <h1>Index of \(title)</h1>
                  <table>
                   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th>\
                <th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th>\
                <th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>
                   <tr><th colspan="5"><hr></th></tr>
                <tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td>\
                <td><a href="../">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td>\
                <td>&nbsp;</td></tr>

                """
            for name in names {
                let path = URL(fileURLWithPath: directory + "/" + name).resolvingSymlinksInPath().path
                let attributes = (try? fileManager.attributesOfItem(atPath: path)) ?? [:]
                let isDirectory = attributes[.type] as? FileAttributeType == .typeDirectory
                let modified = (attributes[.modificationDate] as? Date).map(TestHTTPServer.listingDate) ?? ""
                let bytes = (attributes[.size] as? NSNumber)?.intValue ?? 0
                let size = isDirectory ? "  - " : TestHTTPServer.apacheSize(bytes)
                let icon =
                    isDirectory
                    ? "<img src=\"/icons/folder.gif\" alt=\"[DIR]\">"
                    : "<img src=\"/icons/unknown.gif\" alt=\"[   ]\">"
                let slash = isDirectory ? "/" : ""
                html += "<tr><td valign=\"top\">\(icon)</td>"
                let href = TestHTTPServer.percentEncode(name) + slash
                html += "<td><a href=\"\(href)\">\(TestHTTPServer.escapeHTML(name))\(slash)</a></td>"
                html += "<td align=\"right\">\(modified)  </td><td align=\"right\">\(size)</td><td>&nbsp;</td></tr>\n"
            }
            html += """
                   <tr><th colspan="5"><hr></th></tr>
                </table>
                <address>Apache/2.4.62 (Unix) Server at 127.0.0.1 Port \(port)</address>
                </body></html>

                """
            return Response(
                status: 200,
                headers: [("Content-Type", "text/html;charset=UTF-8")],
                body: .bytes(Array(html.utf8))
            )
        }
    }
}

// MARK: - Formatting helpers

extension TestHTTPServer {
    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private static let contentTypes: [String: String] = [
        "txt": "text/plain", "html": "text/html", "htm": "text/html", "css": "text/css", "csv": "text/csv",
        "md": "text/markdown", "js": "text/javascript", "json": "application/json", "xml": "application/xml",
        "yaml": "application/yaml", "yml": "application/yaml", "gz": "application/gzip", "tgz": "application/gzip",
        "zip": "application/zip", "tar": "application/x-tar", "bz2": "application/x-bzip2", "xz": "application/x-xz",
        "zst": "application/zstd", "pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg",
        "jpeg": "image/jpeg", "gif": "image/gif", "tif": "image/tiff", "tiff": "image/tiff",
        "nc": "application/x-netcdf", "h5": "application/x-hdf5", "hdf": "application/x-hdf",
    ]

    fileprivate static func contentType(for path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? ""
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "application/octet-stream" }
        return contentTypes[name[name.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }

    fileprivate static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 416: "Range Not Satisfiable"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }

    fileprivate static func utc(_ date: Date) -> tm {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        _ = gmtime_r(&seconds, &parts)
        return parts
    }

    private static func pad(_ value: Int32, _ width: Int = 2) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// RFC 1123 / IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    fileprivate static func httpDate(_ date: Date) -> String {
        let t = utc(date)
        return "\(weekdays[Int(t.tm_wday)]), \(pad(t.tm_mday)) \(months[Int(t.tm_mon)]) \(pad(t.tm_year + 1900, 4)) "
            + "\(pad(t.tm_hour)):\(pad(t.tm_min)):\(pad(t.tm_sec)) GMT"
    }

    /// Parses IMF-fixdate, RFC 850 and asctime dates (RFC 9110 §5.6.7).
    fileprivate static func parseHTTPDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text.trimmingCharacters(in: .whitespaces)) { return date }
        }
        return nil
    }

    /// `2024-05-01 10:00`, as in Apache listings.
    fileprivate static func listingDate(_ date: Date) -> String {
        let t = utc(date)
        return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1))-\(pad(t.tm_mday)) \(pad(t.tm_hour)):\(pad(t.tm_min))"
    }

    /// Apache's short sizes: `512`, `1.0K`, `12K`, `3.4M`.
    fileprivate static func apacheSize(_ count: Int) -> String {
        guard count >= 1024 else { return String(count) }
        var value = Double(count) / 1024
        var unit = 0
        let units = ["K", "M", "G", "T"]
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return (value < 9.95 ? String(format: "%.1f", value) : String(Int(value.rounded()))) + units[unit]
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters (so the result is also HTML-safe).
    fileprivate static func percentEncode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.append(Character(UnicodeScalar(byte)))
            default:
                result += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return result
    }

    fileprivate static func escapeHTML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;")
            .replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// RFC 9110 token characters (methods, header names).
    fileprivate static func isToken<S: StringProtocol>(_ text: S) -> Bool {
        !text.isEmpty
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "a")...UInt8(ascii: "z"):
                    true
                default:
                    "!#$%&'*+-.^_`|~".utf8.contains(byte)
                }
            }
    }

    /// A non-negative decimal made of ASCII digits only (`Int("+5")` would accept a sign); nil on overflow.
    fileprivate static func digits(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
    }

    /// The strong ETag of an in-memory body: its hash and length.
    fileprivate static func memoryETag(_ body: [UInt8]) -> String {
        "\"m\(String(fnv1a(body), radix: 16))-\(String(body.count, radix: 16))\""
    }

    /// 64-bit FNV-1a: a cheap stable hash for ETags.
    fileprivate static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
