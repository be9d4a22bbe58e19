import Foundation

/// A `state: postgresql://USER@HOST:PORT/DB` value (CONTRACT §3, §7), read as libpq reads a
/// connection URI, with two refusals of our own: a password (it belongs in `PGPASSWORD` or
/// `~/.pgpass`, never in a pipeline file that is copied, committed and shown) and any query
/// parameter we would not honour (a silently ignored `sslmode` would be a lie about TLS).
public struct PostgresStateURL: Sendable, Equatable, CustomStringConvertible {
    /// libpq's `sslmode` values; `prefer` is its default too.
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    /// The CA bundle that verifies the server (`verify-ca`, `verify-full`); nil: the system's.
    public var sslRootCert: String?

    public static let schemes: Set<String> = ["postgresql", "postgres"]

    /// Whether a `state:` value names PostgreSQL rather than a SQLite file.
    public static func isPostgres(_ value: String) -> Bool {
        schemes.contains { value.lowercased().hasPrefix($0 + "://") }
    }

    /// The URL as it can be shown: never holds a secret, since none is accepted.
    public var description: String {
        var s = "postgresql://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
        var query: [String] = []
        if sslMode != .prefer { query.append("sslmode=\(sslMode.rawValue)") }
        if let sslRootCert { query.append("sslrootcert=\(sslRootCert)") }
        if !query.isEmpty { s += "?" + query.joined(separator: "&") }
        return s
    }

    public init(
        user: String,
        host: String,
        port: Int = 5432,
        database: String,
        sslMode: SSLMode = .prefer,
        sslRootCert: String? = nil
    ) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
        self.sslMode = sslMode
        self.sslRootCert = sslRootCert
    }

    /// Why a value is not a usable state URL; one line, without the value's secrets.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    public static func parse(_ text: String) throws(Invalid) -> PostgresStateURL {
        guard isPostgres(text), let c = URLComponents(string: text) else {
            throw Invalid(description: "not a postgresql://USER@HOST:PORT/DB URL")
        }
        if c.password != nil {
            throw Invalid(
                description: "a password does not belong in the pipeline file: give it in PGPASSWORD or ~/.pgpass"
            )
        }
        guard let user = c.user.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw Invalid(description: "the URL names no user (postgresql://USER@HOST:PORT/DB)")
        }
        guard var host = c.host.flatMap({ $0.removingPercentEncoding }), !host.isEmpty else {
            throw Invalid(description: "the URL names no host (postgresql://USER@HOST:PORT/DB)")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = c.port ?? 5432
        guard (1...65535).contains(port) else { throw Invalid(description: "port \(port) is out of range") }
        let path = c.percentEncodedPath
        guard path.hasPrefix("/"), let database = String(path.dropFirst()).removingPercentEncoding,
            !database.isEmpty, !database.contains("/")
        else {
            throw Invalid(description: "the URL names no database (postgresql://USER@HOST:PORT/DB)")
        }
        var url = PostgresStateURL(user: user, host: host, port: port, database: database)
        var seen = Set<String>()
        for item in c.queryItems ?? [] {
            guard seen.insert(item.name).inserted else {
                throw Invalid(description: "parameter '\(item.name)' is given twice")
            }
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    let known = SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
                    throw Invalid(description: "sslmode '\(item.value ?? "")' is not one of \(known)")
                }
                url.sslMode = mode
            case "sslrootcert":
                guard let value = item.value, !value.isEmpty else {
                    throw Invalid(description: "sslrootcert names no file")
                }
                url.sslRootCert = value
            default:
                throw Invalid(description: "parameter '\(item.name)' is not supported (sslmode, sslrootcert are)")
            }
        }
        if url.sslRootCert != nil, url.sslMode != .verifyCA, url.sslMode != .verifyFull {
            throw Invalid(description: "sslrootcert is used only with sslmode=verify-ca or verify-full")
        }
        return url
    }
}
