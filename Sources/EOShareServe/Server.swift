import EOShare
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL

/// `eoshare serve`: the STAC API on Hummingbird. Every request is authenticated for the
/// prefix it names (`/<member>/…` needs that member's bearer token, `/public/…` none), then
/// answered by `STACAPI`, and logged in one line (never with its token).
public enum STACServer {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// A fixed instant for every decision (`--at`); nil: each request's own instant.
        public var at: Date?

        public init(host: String = "127.0.0.1", port: Int = 8080, at: Date? = nil) {
            self.host = host
            self.port = port
            self.at = at
        }
    }

    /// Bodies above this size are refused (a search body is a few kilobytes).
    static let maximumBody = 1 << 20

    /// Serves until SIGTERM or SIGINT (`handleSignals`) or until the task is cancelled;
    /// `onRunning` gets the bound port (useful with port 0).
    public static func run(
        served: ServedPipeline,
        options: Options,
        accessLog: @escaping @Sendable (String) -> Void,
        handleSignals: Bool = true,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let app = try application(served: served, options: options, accessLog: accessLog, onRunning: onRunning)
        try await app.runService(gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [])
    }

    /// The application, ready to run.
    static func application(
        served: ServedPipeline,
        options: Options,
        accessLog: @escaping @Sendable (String) -> Void,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let snapshot = try served.snapshot().get()
        let tls = try snapshot.pipeline.serve.flatMap { settings -> TLSConfiguration? in
            guard let certificate = settings.certificate, let key = settings.key else { return nil }
            return try tlsConfiguration(certificate: certificate, key: key)
        }
        let api = STACAPI(served: served, at: options.at)
        let fileIO = FileIO()
        let secure = tls != nil
        let responder = CallbackResponder<BasicRequestContext> { request, context in
            let started = ContinuousClock.now
            let (response, viewer) = await handle(
                request,
                context,
                api: api,
                served: served,
                secure: secure,
                fileIO: fileIO
            )
            let elapsed = ContinuousClock.now - started
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            accessLog(
                "\(Timestamp.format(Date())) \(viewer ?? "-") \(request.method.rawValue) \(request.uri.path) "
                    + "\(response.status.code) \(String(format: "%.1f", ms))ms"
            )
            return response
        }
        var logger = Logger(label: "eoshare.serve")
        // Hummingbird's own messages (a cancelled connection at shutdown is an "error" there);
        // failures to bind are thrown, and every request is in the access log.
        logger.logLevel = .critical
        return Application(
            responder: responder,
            server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: ApplicationConfiguration(
                address: .hostname(options.host, port: options.port),
                serverName: "eoshare"
            ),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? options.port) },
            logger: logger
        )
    }

    static func tlsConfiguration(certificate: URL, key: URL) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate.path).map { NIOSSLCertificateSource.certificate($0) }
        let privateKey = try NIOSSLPrivateKey(file: key.path, format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
    }

    /// The response, and the viewer the request named (for the access log).
    static func handle(
        _ request: Request,
        _ context: BasicRequestContext,
        api: STACAPI,
        served: ServedPipeline,
        secure: Bool,
        fileIO: FileIO
    ) async -> (Response, String?) {
        let rawSegments = request.uri.path.split(separator: "/").map(String.init)
        let decoded = rawSegments.map { $0.removingPercentEncoding }
        guard !decoded.contains(where: { $0 == nil }) else {
            return (send(.error(400, "BadRequest", "the path is not percent-encoded properly")), nil)
        }
        let segments = decoded.map { $0! }
        guard let first = segments.first else {
            return (send(.error(404, "NotFound", "the API is under /<member>/ and /public/")), nil)
        }
        let snapshot: ServedPipeline.Snapshot
        switch served.snapshot() {
        case .success(let s): snapshot = s
        case .failure(let e):
            return (send(.error(503, "Unavailable", "the pipeline file does not load: \(e.description)")), first)
        }
        let viewer: Viewer
        if first == "public" {
            viewer = .public
        } else if snapshot.pipeline.member(first) != nil {
            viewer = .member(first)
            // The service description is the same for everyone and names no record.
            let isServiceDescription = segments.count == 2 && segments[1] == "api"
            if !isServiceDescription, let refusal = authenticate(request, member: first, tokens: snapshot.tokens) {
                return (send(refusal), first)
            }
        } else {
            return (send(.error(404, "NotFound", "no member '\(first)'")), nil)
        }
        var body: [UInt8] = []
        if request.method == .post {
            do {
                let buffer = try await request.body.collect(upTo: maximumBody)
                body = Array(buffer.readableBytesView)
            } catch {
                return (send(.error(413, "PayloadTooLarge", "the body is larger than \(maximumBody) bytes")), first)
            }
        }
        let head = request.method == .head
        let apiRequest = APIRequest(
            method: head ? "GET" : request.method.rawValue,
            segments: segments,
            query: query(request.uri.query),
            headers: request.headers.map { ($0.name.canonicalName, $0.value) },
            body: body,
            base: base(request, secure: secure)
        )
        var answer = await api.respond(apiRequest, snapshot: snapshot, viewer: viewer)
        if head {
            if answer.file == nil, !answer.headers.contains(where: { $0.0 == "Content-Length" }) {
                answer.headers.append(("Content-Length", String(answer.body.count)))
            }
            answer.body = []
            answer.file = nil
        }
        if let file = answer.file {
            do {
                let range = file.range.map { Int($0.lowerBound)...Int($0.upperBound) } ?? 0...Int(max(0, file.size - 1))
                let body =
                    file.size == 0
                    ? ResponseBody() : try await fileIO.loadFile(path: file.path, range: range, context: context)
                return (
                    Response(status: .init(code: answer.status), headers: fields(answer.headers), body: body), first
                )
            } catch {
                return (send(.error(404, "NotFound", "the asset's bytes cannot be read")), first)
            }
        }
        return (send(answer), first)
    }

    /// nil when the request carries one of the member's tokens; otherwise the 401 to send.
    /// Another member's token is refused like a wrong one: a member reaches its own prefix only.
    static func authenticate(_ request: Request, member: String, tokens: TokenFile) -> APIResponse? {
        guard let header = request.headers[.authorization] else {
            var r = APIResponse.error(401, "Unauthorized", "\(member)'s endpoints need \(member)'s bearer token")
            r.headers.append(("WWW-Authenticate", "Bearer realm=\"eoshare \(member)\""))
            return r
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
            tokens.admits(parts[1].trimmingCharacters(in: .whitespaces), as: member)
        else {
            var r = APIResponse.error(401, "Unauthorized", "the token is not one of \(member)'s")
            r.headers.append(("WWW-Authenticate", "Bearer realm=\"eoshare \(member)\", error=\"invalid_token\""))
            return r
        }
        return nil
    }

    /// Query parameters in order, `+` as space, percent-decoded.
    static func query(_ raw: String?) -> [(String, String)] {
        guard let raw, !raw.isEmpty else { return [] }
        return raw.split(separator: "&").compactMap { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            guard let key = kv.first, !key.isEmpty else { return nil }
            return (decode(key), kv.count > 1 ? decode(kv[1]) : "")
        }
    }

    /// Where the client reached the API: its Host, behind a reverse proxy the forwarded
    /// scheme, host and path prefix (X-Forwarded-Proto, -Host, -Prefix).
    static func base(_ request: Request, secure: Bool) -> String {
        func header(_ name: String) -> String? {
            HTTPField.Name(name).flatMap { request.headers[$0] }?.split(separator: ",").first
                .map { $0.trimmingCharacters(in: CharacterSet.whitespaces) }
        }
        let scheme = header("X-Forwarded-Proto") ?? (secure ? "https" : "http")
        let host = header("X-Forwarded-Host") ?? request.head.authority ?? "localhost"
        var prefix = header("X-Forwarded-Prefix") ?? ""
        while prefix.hasSuffix("/") { prefix.removeLast() }
        if !prefix.isEmpty, !prefix.hasPrefix("/") { prefix = "/" + prefix }
        return "\(scheme)://\(host)\(prefix)"
    }

    static func fields(_ headers: [(String, String)]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers {
            if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) }
        }
        return fields
    }

    static func send(_ answer: APIResponse) -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(answer.body)
        return Response(
            status: .init(code: answer.status),
            headers: fields(answer.headers),
            body: .init(byteBuffer: buffer)
        )
    }
}
