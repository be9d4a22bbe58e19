import EOShareCore
import Foundation
import PostgresNIO
import Synchronization

/// The ingest worker a PostgreSQL state is written by, when many share it (CONTRACT §7):
/// intents and runs carry it, so that a worker recovers or declares dead only what belongs to
/// workers that are gone (no heartbeat for a lease), never a live worker's work in flight.
public final class PostgresWorkerIdentity: Sendable {
    private let current = Mutex<(id: UUID, lease: Double)?>(nil)

    public init() {}

    public func set(_ id: UUID, lease: Duration) { current.withLock { $0 = (id, WorkQueue.seconds(lease)) } }

    var id: UUID? { current.withLock { $0?.id } }
    /// How long a silent worker still counts as alive (its lease).
    var lease: Double { current.withLock { $0?.lease } ?? 60 }
}

extension PostgresStateStore {
    /// Marks the intents of these records as this worker's (nothing without a worker).
    static func ownIntents(_ s: PostgresSession, _ records: [(String, String)], worker: UUID?) async throws {
        guard let worker, !records.isEmpty else { return }
        var rows = BatchStatement("UPDATE publications SET worker = r.worker FROM (VALUES ")
        for (collection, id) in records {
            rows.row { v in
                v.add(collection)
                v.add(id)
                v.add(worker)
            }
        }
        rows.tail(
            """
            ) AS r(collection, record_id, worker)
            WHERE publications.collection = r.collection AND publications.record_id = r.record_id
                AND publications.status != 'published'
            """
        )
        try await s.execute(rows.statement)
    }
}

/// Session advisory locks of one worker, held on one connection of their own: what must be
/// done by one worker at a time across hosts (the convergence, a catalog's read-and-write)
/// waits here. The server drops them if the worker or its connection dies; a lost connection
/// is made again for the next lock.
public actor PostgresLocks {
    public nonisolated let url: PostgresStateURL
    let environment: [String: String]
    let folder: URL?
    var connection: PostgresConnection?
    /// Locks held now. While any is, the connection stays in a transaction that the heartbeat
    /// keeps busy (`keepAlive`): a worker paused past its lease goes idle in it, and the server
    /// ends the session (`idle_in_transaction_session_timeout`), its locks with it.
    var held = 0
    /// Which connection holds the locks: a new one (the last was lost, its locks with it)
    /// is a new generation.
    public private(set) var generation = 0

    public init(_ url: PostgresStateURL, environment: [String: String], relativeTo folder: URL?) {
        self.url = url
        self.environment = environment
        self.folder = folder
    }

    /// The lock's key: the first 64 bits of the SHA-256 of its name.
    public static func key(_ name: String) -> Int64 {
        let digest = Digest.sha256Hex(Array(("eoshare lock " + name).utf8))
        return Int64(bitPattern: UInt64(digest.prefix(16), radix: 16) ?? 0)
    }

    func session() async throws -> PostgresSession {
        if let connection, !connection.isClosed { return PostgresSession(connection: connection, url: url) }
        let made = try await PostgresDatabase.connect(url, environment: environment, relativeTo: folder)
        connection = made
        held = 0
        generation += 1
        return PostgresSession(connection: made, url: url)
    }

    public static func claimsLost(_ url: PostgresStateURL) -> PostgresStateError {
        PostgresStateError(
            url: url,
            message: "the connection that held this worker's record claims was lost, and the claims with it"
        )
    }

    /// The generation of the connection, if it is open.
    public var openGeneration: Int? {
        guard let connection, !connection.isClosed else { return nil }
        return generation
    }

    /// Throws unless the connection of `generation` is still open and answers: the locks
    /// taken on it are still held.
    public func verify(generation expected: Int) async throws {
        let lost = Self.claimsLost(url)
        guard expected == generation, let connection, !connection.isClosed else { throw lost }
        do {
            try await PostgresSession(connection: connection, url: url).execute("SELECT 1")
        } catch {
            await drop()
            throw lost
        }
    }

    /// Waits for the lock.
    public func lock(_ name: String) async throws {
        let s = try await session()
        if held == 0 { try await s.execute("BEGIN") }
        held += 1
        do {
            try await s.execute("SELECT pg_advisory_lock(\(Self.key(name)))")
        } catch {
            held -= 1
            await drop()
            throw error
        }
    }

    /// Takes every lock of `names` at once, or none (false: another session holds one).
    public func tryLock(_ names: [String]) async throws -> Bool {
        guard !names.isEmpty else { return true }
        let s = try await session()
        if held == 0 { try await s.execute("BEGIN") }
        let keys = names.map(Self.key)
        do {
            let taken = try await s.execute(
                "SELECT k FROM unnest(\(keys)::bigint[]) AS k WHERE pg_try_advisory_lock(k)"
            ).map { try $0.int64("k") }
            held += taken.count
            guard taken.count == keys.count else {
                try await release(taken, session: s)
                return false
            }
            return true
        } catch {
            await drop()
            throw error
        }
    }

    /// Takes, for each group of `groups` (disjoint, none held by this session), all of its
    /// locks or none; returns which groups were taken. Two statements, whatever the count.
    public func tryLockEach(_ groups: [[String]]) async throws -> [Bool] {
        let keys = groups.map { $0.map(Self.key) }
        guard !keys.isEmpty else { return [] }
        let s = try await session()
        if held == 0 { try await s.execute("BEGIN") }
        do {
            let taken = Set(
                try await s.execute(
                    "SELECT k FROM unnest(\(keys.flatMap { $0 })::bigint[]) AS k WHERE pg_try_advisory_lock(k)"
                ).map { try $0.int64("k") }
            )
            held += taken.count
            let whole = keys.map { $0.allSatisfy(taken.contains) }
            let partial = zip(keys, whole).filter { !$1 }.flatMap { $0.0.filter(taken.contains) }
            try await release(partial, session: s)
            return whole
        } catch {
            await drop()
            throw error
        }
    }

    /// Lets go of every lock of `names` (each held once). A connection that died took its
    /// locks with it.
    public func unlock(_ names: [String]) async {
        guard !names.isEmpty, let connection, !connection.isClosed else {
            held = max(0, held - names.count)
            return
        }
        do {
            try await release(names.map(Self.key), session: PostgresSession(connection: connection, url: url))
        } catch {
            await drop()
        }
    }

    private func release(_ keys: [Int64], session s: PostgresSession) async throws {
        guard !keys.isEmpty else {
            if held == 0 { try await s.execute("COMMIT") }
            return
        }
        held = max(0, held - keys.count)
        try await s.execute("SELECT pg_advisory_unlock(k) FROM unnest(\(keys)::bigint[]) AS k")
        if held == 0 { try await s.execute("COMMIT") }
    }

    public func unlock(_ name: String) async { await unlock([name]) }

    /// Shows the server this worker is alive while it holds locks (the heartbeat calls it).
    public func keepAlive() async {
        guard held > 0, let connection, !connection.isClosed else { return }
        _ = try? await PostgresSession(connection: connection, url: url).execute("SELECT 1")
    }

    /// Forgets a connection that failed: its locks are gone with it.
    func drop() async {
        held = 0
        try? await connection?.close()
        connection = nil
    }

    public func close() async { await drop() }
}
