import EOShareCore
import EOShareEmbargo
import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// A connection pool to a PostgreSQL state (postgres-nio's `PostgresClient`), running for as
/// long as this object is open. The first connection is made directly, so a wrong password,
/// a refused TLS handshake or an absent server is one clear error at once rather than a
/// pool retrying in the background; the schema is migrated on it.
public final class PostgresDatabase: Sendable {
    public let url: PostgresStateURL
    public let client: PostgresClient
    private let runner: Task<Void, Never>
    static let logger = Logger(label: "eoshare.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    static let maximumConnections = 8

    /// Connects, checks the server answers as it should, migrates the schema, and starts the pool.
    public static func open(
        _ url: PostgresStateURL,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        relativeTo folder: URL? = nil
    ) async throws -> PostgresDatabase {
        let (password, tls) = try credentials(url, environment: environment, relativeTo: folder)
        let first = try await connect(url, environment: environment, relativeTo: folder)
        do {
            try await PostgresSchema.migrate(first)
            try await first.close()
        } catch {
            try? await first.close()
            throw error as? PostgresStateError ?? PostgresStateError(url: url, error)
        }
        var configuration = PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.user,
            password: password,
            database: url.database,
            tls: tls.map { $0.required ? .require($0.configuration) : .prefer($0.configuration) } ?? .disable
        )
        configuration.options.connectTimeout = .seconds(15)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.additionalStartupParameters = startupParameters(environment)
        return PostgresDatabase(url: url, client: PostgresClient(configuration: configuration))
    }

    /// One connection of its own (outside the pool): the first of `open`, or one that holds
    /// a session lock for a whole run.
    static func connect(
        _ url: PostgresStateURL,
        environment: [String: String],
        relativeTo folder: URL?
    ) async throws -> PostgresConnection {
        let (password, tls) = try credentials(url, environment: environment, relativeTo: folder)
        do {
            let context = try tls.map { try NIOSSLContext(configuration: $0.configuration) }
            var configuration = PostgresConnection.Configuration(
                host: url.host,
                port: url.port,
                username: url.user,
                password: password,
                database: url.database,
                tls: context.map { tls!.required ? .require($0) : .prefer($0) } ?? .disable
            )
            configuration.options.connectTimeout = .seconds(15)
            configuration.options.additionalStartupParameters = startupParameters(environment)
            return try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        } catch {
            throw PostgresStateError(url: url, error)
        }
    }

    /// What `pg_stat_activity` shows of this process's connections: which worker they are.
    static let applicationName = "eoshare[\(ProcessInfo.processInfo.processIdentifier)]"

    /// Every connection says which worker it is (`pg_stat_activity`), and a transaction left
    /// idle longer than a work lease (a worker paused mid-change) is ended by the server, so
    /// the row and advisory locks it held go to the others.
    static func startupParameters(_ environment: [String: String]) -> [(String, String)] {
        let lease = WorkQueue.seconds(WorkQueue.lease(environment))
        return [
            ("application_name", applicationName),
            ("idle_in_transaction_session_timeout", "\(Int(max(lease, 1) * 1000))"),
        ]
    }

    static func credentials(
        _ url: PostgresStateURL,
        environment: [String: String],
        relativeTo folder: URL?
    ) throws -> (password: String?, tls: (configuration: TLSConfiguration, required: Bool)?) {
        let password: String?
        do { password = try PostgresPassword.resolve(for: url, environment: environment) } catch {
            throw PostgresStateError(url: url, message: error.description)
        }
        return (password, try tlsConfiguration(url, relativeTo: folder))
    }

    private init(url: PostgresStateURL, client: PostgresClient) {
        self.url = url
        self.client = client
        runner = Task { await client.run() }
    }

    deinit { runner.cancel() }

    /// Stops the pool; its connections close.
    public func close() async {
        runner.cancel()
        _ = await runner.result
    }

    /// The TLS libpq's `sslmode` asks for: none (`disable`); offered, unverified (`allow`,
    /// `prefer`); required, unverified (`require`); required and the chain verified against
    /// `sslrootcert` or the system's roots (`verify-ca`), and the host name too (`verify-full`).
    static func tlsConfiguration(
        _ url: PostgresStateURL,
        relativeTo folder: URL?
    ) throws -> (configuration: TLSConfiguration, required: Bool)? {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch url.sslMode {
        case .disable:
            return nil
        case .allow, .prefer, .require:
            tls.certificateVerification = .none
        case .verifyCA, .verifyFull:
            tls.certificateVerification = url.sslMode == .verifyFull ? .fullVerification : .noHostnameVerification
            if let root = url.sslRootCert {
                let path =
                    root.hasPrefix("/") || folder == nil ? root : folder!.appendingPathComponent(root).path
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw PostgresStateError(url: url, message: "sslrootcert \(path) cannot be read")
                }
                tls.trustRoots = .file(path)
            }
        }
        return (tls, url.sslMode == .require || url.sslMode == .verifyCA || url.sslMode == .verifyFull)
    }
}

/// A PostgreSQL state that cannot be reached or refused a statement: one line naming the
/// database (never a password: none is ever in the URL) and the server's or the network's
/// own words (postgres-nio's errors print a placeholder, to keep queries out of logs).
public struct PostgresStateError: Error, CustomStringConvertible {
    public var description: String
    /// The server's SQLSTATE, when the server answered (e.g. 40001, 55P03).
    public var sqlState: String?

    public init(url: PostgresStateURL, message: String, sqlState: String? = nil) {
        description = "PostgreSQL state \(url): \(message)"
        self.sqlState = sqlState
    }

    public init(url: PostgresStateURL, _ error: any Error) {
        if let e = error as? PSQLError {
            if let info = e.serverInfo, let message = info[.message] {
                let state = info[.sqlState]
                self.init(url: url, message: message + (state.map { " (SQLSTATE \($0))" } ?? ""), sqlState: state)
            } else if let underlying = e.underlying {
                self.init(url: url, message: "\(e.code): \(underlying)")
            } else {
                self.init(url: url, message: "\(e.code)")
            }
        } else {
            self.init(url: url, message: "\(error)")
        }
    }
}
