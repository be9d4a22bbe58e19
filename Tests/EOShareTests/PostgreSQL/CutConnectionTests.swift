import Foundation
import PostgresNIO
import Testing

@testable import EOShareState

/// A worker whose session the server ended (`pg_terminate_backend`, a lost network) must get
/// an error for what it sends next, never wait forever: postgres-nio 1.33 leaves a query
/// written to a closed connection unanswered, so the state checks before it sends.
@Suite(.enabled(if: TestPostgres.enabled)) struct CutConnectionTests {
    /// What `body` did within a minute (far beyond a loaded machine's delays): "ok",
    /// "failed: …", or "hung" (the attempt is then left waiting: a hung query does not
    /// answer cancellation).
    static func outcome(_ body: @escaping @Sendable () async throws -> Void) async -> String {
        let (first, answer) = AsyncStream<String>.makeStream()
        Task {
            do {
                try await body()
                answer.yield("ok")
            } catch { answer.yield("failed: \(error)") }
        }
        let timer = Task {
            try? await Task.sleep(for: .seconds(60))
            answer.yield("hung")
        }
        for await outcome in first {
            timer.cancel()
            return outcome
        }
        return "hung"
    }

    @Test func statementsOnASessionTheServerEndedFailAtOnce() async throws {
        let url = try await TestPostgres.freshDatabase("cut")
        let connection = try await PostgresDatabase.connect(
            url,
            environment: TestPostgres.passwordEnvironment,
            relativeTo: nil
        )
        let session = PostgresSession(connection: connection, url: url)
        _ = try await TestPostgres.query(
            url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid != pg_backend_pid()"
        )
        for _ in 0..<500 where !connection.isClosed { try? await Task.sleep(for: .milliseconds(10)) }
        #expect(connection.isClosed)

        let read = await Self.outcome { try await session.execute("SELECT 1") }
        #expect(read.hasPrefix("failed: PostgreSQL state \(url): the connection to the database was closed"), "\(read)")
        let transaction = await Self.outcome {
            try await PostgresTransaction.run(connection) { c in try await c.statement("SELECT 1") }
        }
        #expect(transaction.hasPrefix("failed"), "\(transaction)")
        try? await connection.close()
    }

    @Test func aWriteWhoseSessionIsEndedMidwayFailsAndThePoolRecovers() async throws {
        let url = try await TestPostgres.freshDatabase("cut")
        let environment = TestPostgres.passwordEnvironment
        let holder = try await PostgresDatabase.connect(url, environment: environment, relativeTo: nil)
        let database = try await PostgresDatabase.open(url, environment: environment)
        do {
            _ = try await PostgresSession(connection: holder, url: url).execute("SELECT pg_advisory_lock(42)")
            // A write waits for the lock; the server ends its session meanwhile (this test's
            // database only: the cluster is shared with tests running beside it).
            async let waiting = Self.outcome {
                try await database.write { s in _ = try await s.execute("SELECT pg_advisory_xact_lock(42)") }
            }
            var ended = 0
            for _ in 0..<500 where ended == 0 {
                try await Task.sleep(for: .milliseconds(10))
                ended = try await TestPostgres.query(
                    url,
                    """
                    SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                    WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()
                    """
                )[0].decode(Int.self)
            }
            #expect(ended == 1)
            let outcome = await waiting
            #expect(outcome.contains("terminating connection due to administrator command"), "\(outcome)")
            // The pool makes a new connection for what comes next.
            #expect(try await database.read { s in try await s.one("SELECT 1 AS one")?.int("one") } == 1)
        } catch {
            Issue.record(error)
        }
        await database.close()
        try? await holder.close()
    }
}
