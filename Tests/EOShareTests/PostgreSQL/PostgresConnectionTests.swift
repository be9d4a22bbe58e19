import Foundation
import PostgresNIO
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOSharePublish
@testable import EOShareState

/// Connecting to a real PostgreSQL 15 (the test cluster): the password from `PGPASSWORD` or a
/// password file, TLS as the URL asks, the schema migrated once however many workers start.
@Suite(.enabled(if: TestPostgres.enabled)) struct PostgresConnectionTests {
    @Test func connectsWithThePasswordFromTheEnvironmentAndMigrates() async throws {
        let url = try await TestPostgres.freshDatabase("conn")
        let store = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        await store.close()
        let versions = try await TestPostgres.query(url, "SELECT version, name FROM schema_migrations ORDER BY version")
        #expect(versions.map { try! $0.decode(Int.self) } == PostgresSchema.all.map(\.version))
        let tables = try await TestPostgres.query(
            url,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        #expect(
            tables.map { try! $0.decode(String.self) } == [
                "dirty_catalogs", "extents", "ledger", "meta", "objects", "publications", "quarantine", "records",
                "runs", "schema_migrations", "sources_listed", "work", "workers",
            ]
        )
    }

    @Test func readsThePasswordFromAPasswordFile() async throws {
        let url = try await TestPostgres.freshDatabase("pgpass")
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("pghome-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let password = try #require(TestPostgres.environment["PGPASSWORD"])
        let line = "\(url.host):\(url.port):\(url.database):\(url.user):\(password)\n"
        try Data(("# the test cluster\n" + line).utf8).write(to: home.appendingPathComponent(".pgpass"))
        chmod(home.appendingPathComponent(".pgpass").path, 0o600)
        let store = try await PostgresStateStore.open(url, environment: ["HOME": home.path])
        try await store.setMeta("k", "v")
        #expect(try await store.meta("k") == "v")
        await store.close()
    }

    @Test func aWrongPasswordIsOneClearLine() async throws {
        let url = try await TestPostgres.freshDatabase("badpw")
        do {
            _ = try await PostgresStateStore.open(url, environment: ["PGPASSWORD": "not-the-password", "HOME": "/x"])
            Issue.record("a wrong password connected")
        } catch let error as PostgresStateError {
            #expect(error.description.hasPrefix("PostgreSQL state \(url):"))
            #expect(error.description.contains("password authentication failed"))
            #expect(!error.description.contains("not-the-password"))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func noServerIsOneClearLine() async throws {
        let url = PostgresStateURL(user: "eoshare", host: "127.0.0.1", port: 1, database: "none", sslMode: .disable)
        do {
            _ = try await PostgresStateStore.open(url, environment: ["PGPASSWORD": "x"])
            Issue.record("connected to nothing")
        } catch let error as PostgresStateError {
            #expect(error.description.hasPrefix("PostgreSQL state postgresql://eoshare@127.0.0.1:1/none"))
            #expect(error.description.lowercased().contains("connect"))
        }
    }

    /// `sslmode=require`: TLS without verification; `verify-full`: the chain against
    /// `sslrootcert` and the host name; the session must then really be encrypted.
    @Test(arguments: ["require", "verify-ca", "verify-full"])
    func connectsOverTLS(_ mode: String) async throws {
        var url = try await TestPostgres.freshDatabase("tls")
        url.sslMode = try #require(PostgresStateURL.SSLMode(rawValue: mode))
        if mode != "require" {
            let ca: String = try #require(TestPostgres.caFile)
            url.sslRootCert = ca
        }
        let store = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        let ssl = try await store.database.read { s in
            try await s.one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")!.bool("ssl")
        }
        #expect(ssl)
        await store.close()
    }

    @Test func verifyFullRefusesAServerItsRootsDoNotVouchFor() async throws {
        var url = try await TestPostgres.freshDatabase("tlsbad")
        url.sslMode = .verifyFull  // the system's roots: the test CA is not among them
        await #expect(throws: PostgresStateError.self) {
            _ = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        }
        // The certificate names 127.0.0.1 and localhost; another name for the host is refused.
        let ca: String = try #require(TestPostgres.caFile)
        url.sslRootCert = ca
        url.host = "127.0.0.2"
        await #expect(throws: PostgresStateError.self) {
            _ = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        }
    }

    /// Eight workers starting at once on an empty database: one migrates, the others wait for
    /// the lock and find the schema done; none fails, each version is applied once.
    @Test func workersStartingTogetherMigrateOnce() async throws {
        let url = try await TestPostgres.freshDatabase("race")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let store = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
                    await store.close()
                }
            }
            try await group.waitForAll()
        }
        let rows = try await TestPostgres.query(url, "SELECT count(*), count(DISTINCT version) FROM schema_migrations")
        let (n, distinct) = try rows[0].decode((Int, Int).self)
        #expect(n == PostgresSchema.all.count)
        #expect(distinct == n)
    }

    @Test func aSchemaFromANewerEoshareIsRefused() async throws {
        let url = try await TestPostgres.freshDatabase("newer")
        let store = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        await store.close()
        _ = try await TestPostgres.query(url, "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
        await #expect {
            _ = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        } throws: { error in
            "\(error)".contains("version 999") && "\(error)".contains("upgrade eoshare")
        }
    }
}
