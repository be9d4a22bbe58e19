import EOShare
import Foundation
import PostgresNIO
import Testing

/// The throwaway PostgreSQL cluster `make test` starts (Tests/Support/postgres-cluster.sh):
/// its URL in `EOSHARE_TEST_POSTGRES`, the password in `PGPASSWORD`, the CA of its TLS
/// certificate in `EOSHARE_TEST_POSTGRES_CA`. Each test takes a database of its own, so
/// tests run in parallel. Under CI the cluster must be there: a test that needs it fails
/// without it, never skips.
enum TestPostgres {
    static let environment = ProcessInfo.processInfo.environment

    static var baseURL: PostgresStateURL? {
        environment["EOSHARE_TEST_POSTGRES"].flatMap { try? PostgresStateURL.parse($0) }
    }

    static var isCI: Bool { environment["CI"] == "true" }

    /// Whether tests needing PostgreSQL run: always under CI (and fail there without it).
    static var enabled: Bool { baseURL != nil || isCI }

    /// Only the password variable: tests never lean on a developer's own `~/.pgpass`.
    static var passwordEnvironment: [String: String] {
        var env = ["HOME": "/nonexistent"]
        env["PGPASSWORD"] = environment["PGPASSWORD"]
        return env
    }

    static var caFile: String? { environment["EOSHARE_TEST_POSTGRES_CA"] }

    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "EOSHARE_TEST_POSTGRES is not set: run the tests with `make test`, which starts a PostgreSQL cluster"
        }
    }

    /// A new, empty database on the test cluster, owned by the test role.
    static func freshDatabase(_ label: String = "t") async throws -> PostgresStateURL {
        guard var url = baseURL else { throw Missing() }
        let name = "eoshare_\(label)_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: url.host,
                port: url.port,
                username: url.user,
                password: environment["PGPASSWORD"],
                database: url.database,
                tls: .disable
            ),
            id: 1,
            logger: .init(label: "test")
        )
        defer { Task { try? await connection.close() } }
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: .init(label: "test"))
        url.database = name
        return url
    }

    /// Runs SQL on a database as the test role (checks made beside the code under test).
    static func query(_ url: PostgresStateURL, _ sql: String) async throws -> [PostgresRow] {
        try await withConnection(url) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: .init(label: "test")).collect()
        }
    }

    /// `body` on one connection to a database as the test role, closed afterwards.
    static func withConnection<R>(
        _ url: PostgresStateURL,
        _ body: (PostgresConnection) async throws -> R
    ) async throws -> R {
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: url.host,
                port: url.port,
                username: url.user,
                password: environment["PGPASSWORD"],
                database: url.database,
                tls: .disable
            ),
            id: 2,
            logger: .init(label: "test")
        )
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
