import EOShareCore
import EOShareEmbargo
import Foundation
import PostgresNIO

/// One ingest per pipeline on a PostgreSQL state, as the flock is for SQLite: a session
/// advisory lock held on a connection of its own for the whole run. The server drops it when
/// that connection ends, so a killed worker or a lost host never leaves a stale lock.
///
/// This is the single-worker step towards CONTRACT §7: until work is shared out (claims
/// under leases), a second worker exits 75 (or waits, with `--wait`) as with SQLite.
public final class PostgresRunLock: Sendable {
    let connection: PostgresConnection
    let url: PostgresStateURL

    /// The lock's key: one per database (a database holds one pipeline's state).
    static let key: Int64 = 0x656F_7368_6172_6503  // "eoshare" 03

    public static func acquire(
        _ url: PostgresStateURL,
        wait: Bool,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        relativeTo folder: URL? = nil
    ) async throws -> PostgresRunLock {
        let connection = try await PostgresDatabase.connect(url, environment: environment, relativeTo: folder)
        let session = PostgresSession(connection: connection, url: url)
        do {
            if wait {
                try await session.execute("SELECT pg_advisory_lock(\(key))")
            } else if try await session.one("SELECT pg_try_advisory_lock(\(key)) AS locked")?.bool("locked") != true {
                throw LockBusy(path: "of \(url) (an advisory lock)")
            }
        } catch {
            try? await connection.close()
            throw error
        }
        return PostgresRunLock(connection: connection, url: url)
    }

    private init(connection: PostgresConnection, url: PostgresStateURL) {
        self.connection = connection
        self.url = url
    }

    /// Closing the connection releases the lock. The connection is kept until it has
    /// closed (postgres-nio requires a connection be closed before it is freed).
    public func release() {
        let connection = self.connection
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}

/// The lock an ingest holds for its whole run: the flock beside a SQLite state, the
/// advisory lock of a PostgreSQL one.
public enum IngestLock: Sendable {
    case file(PipelineLock)
    case database(PostgresRunLock)

    public static func acquire(_ pipeline: Pipeline, wait: Bool) async throws -> IngestLock {
        if let url = pipeline.postgres {
            return .database(
                try await PostgresRunLock.acquire(
                    url,
                    wait: wait,
                    relativeTo: pipeline.file.deletingLastPathComponent()
                )
            )
        }
        return .file(try PipelineLock(pipeline: pipeline, wait: wait))
    }

    public func release() {
        switch self {
        case .file(let lock): lock.release()
        case .database(let lock): lock.release()
        }
    }
}
