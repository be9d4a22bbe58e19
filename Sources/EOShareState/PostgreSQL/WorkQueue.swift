import EOShareCore
import EOShareEmbargo
import Foundation
import PostgresNIO

/// Work shared between ingest workers over a PostgreSQL state (CONTRACT §7), kept apart from
/// the run so the run needs only this small interface:
///
/// - `join` registers the worker (host, pid) and `heartbeat` keeps it and its claims alive;
/// - `listing(source:)` lets one worker at a time list a source (a session advisory lock,
///   dropped by the server if the worker's connection goes), and `enqueue` turns what it
///   found into rows of `work`;
/// - `claim` takes a batch of open rows with `FOR UPDATE SKIP LOCKED` (two workers never get
///   the same row), each under a lease and with its attempt number raised;
/// - `complete` is fenced by that attempt number: a worker whose lease ran out and whose row
///   another worker has since claimed cannot complete it (its write is refused, not applied).
///
/// Leases are measured on the database's clock, so workers' clocks need not agree.
public final class WorkQueue: Sendable {
    public let database: PostgresDatabase
    public let worker: UUID
    /// How long a claim holds without a heartbeat.
    public let lease: Duration

    /// One claimed object: done by this worker only while `attempt` is still the row's.
    public struct Claim: Sendable, Hashable {
        public var source: String
        public var url: String
        public var attempt: Int
        /// What the listing knew of the object (`ObjectRef` as JSON, without secrets).
        public var ref: String? = nil
    }

    /// A worker as `status` shows it.
    public struct Worker: Sendable, Equatable {
        public var id: UUID
        public var host: String
        public var pid: Int
        public var heartbeat: Date
        public var claims: Int
    }

    private init(database: PostgresDatabase, worker: UUID, lease: Duration) {
        self.database = database
        self.worker = worker
        self.lease = lease
    }

    /// How long a claim holds without a heartbeat: `EOSHARE_WORK_LEASE_SECONDS` (default 60;
    /// tests shorten it).
    public static func lease(_ environment: [String: String]) -> Duration {
        let seconds = environment["EOSHARE_WORK_LEASE_SECONDS"].flatMap(Double.init) ?? 60
        return .milliseconds(Int64(max(seconds, 0.3) * 1000))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Registers this process as a worker.
    public static func join(
        _ database: PostgresDatabase,
        host: String = ProcessInfo.processInfo.hostName,
        pid: Int = Int(ProcessInfo.processInfo.processIdentifier),
        lease: Duration = .seconds(60)
    ) async throws -> WorkQueue {
        let id = UUID()
        try await database.write { s in
            try await s.execute("INSERT INTO workers (id, host, pid) VALUES (\(id), \(host), \(pid))")
        }
        return WorkQueue(database: database, worker: id, lease: lease)
    }

    /// Keeps the worker and every claim it holds alive for another lease; returns how many
    /// claims it holds.
    @discardableResult
    public func heartbeat() async throws -> Int {
        let (id, seconds) = (worker, Self.seconds(lease))
        return try await database.write { s in
            try await s.execute("UPDATE workers SET heartbeat_at = now() WHERE id = \(id)")
            return try await s.execute(
                """
                UPDATE work SET lease_until = now() + make_interval(secs => \(seconds))
                FROM (
                    SELECT source, url FROM work WHERE claimed_by = \(id) AND done_at IS NULL
                    FOR UPDATE SKIP LOCKED
                ) AS mine
                WHERE work.source = mine.source AND work.url = mine.url RETURNING work.url
                """
            ).count
        }
    }

    /// The worker leaves: its unfinished claims return to the others at once.
    public func leave() async throws {
        let id = worker
        try await database.write { s in
            try await s.execute(
                "UPDATE work SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = \(id) AND done_at IS NULL"
            )
            try await s.execute("DELETE FROM workers WHERE id = \(id)")
        }
    }

    /// The advisory lock key of a source's listing.
    static func listingKey(_ source: String) -> Int64 {
        let digest = Digest.sha256Hex(Array(("eoshare listing " + source).utf8))
        return Int64(bitPattern: UInt64(digest.prefix(16), radix: 16) ?? 0)
    }

    /// Runs `body` (the listing of `source`) if no other worker is listing it now, holding the
    /// source's advisory lock on a connection of its own meanwhile; nil when another holds it.
    /// `listedSince`: a listing finished after it counts as done (nil: list anyway), so the
    /// workers of one cron slot list each source once.
    public func listing<R: Sendable>(
        source: String,
        listedSince: Date? = nil,
        _ body: () async throws -> R
    ) async throws -> R? {
        let key = Self.listingKey(source)
        let id = worker
        let url = database.url
        return try await database.client.withConnection { connection in
            let s = PostgresSession(connection: connection, url: url)
            guard try await s.one("SELECT pg_try_advisory_lock(\(key)) AS locked")?.bool("locked") == true else {
                return nil
            }
            do {
                if let listedSince,
                    let done = try await s.one("SELECT listed_at FROM sources_listed WHERE source = \(source)"),
                    try done.row["listed_at"].decode(Date.self) >= listedSince
                {
                    try await s.execute("SELECT pg_advisory_unlock(\(key))")
                    return nil
                }
                let result = try await body()
                try await s.execute(
                    """
                    INSERT INTO sources_listed (source, listed_at, listed_by) VALUES (\(source), now(), \(id))
                    ON CONFLICT (source) DO UPDATE SET listed_at = excluded.listed_at, listed_by = excluded.listed_by
                    """
                )
                try await s.execute("SELECT pg_advisory_unlock(\(key))")
                return result
            } catch {
                _ = try? await s.execute("SELECT pg_advisory_unlock(\(key))")
                throw error
            }
        }
    }

    /// Objects a listing found become open work (again, if they were done before), each with
    /// what the listing knew of it (`refs`, parallel to `urls`); returns how many rows are open
    /// for the source afterwards.
    @discardableResult
    public func enqueue(source: String, urls: [String], refs: [String]? = nil) async throws -> Int {
        let refs = refs ?? urls.map { _ in "" }
        return try await database.write { s in
            try await s.execute(
                """
                INSERT INTO work (source, url, ref) SELECT \(source), u, NULLIF(r, '') FROM unnest(\(urls)::text[], \(refs)::text[]) AS e(u, r)
                ON CONFLICT (source, url) DO UPDATE SET done_at = NULL, claimed_by = NULL, lease_until = NULL,
                    enqueued_at = now(), ref = excluded.ref
                WHERE work.done_at IS NOT NULL
                """
            )
            return try await s.one("SELECT count(*) AS n FROM work WHERE source = \(source) AND done_at IS NULL")?
                .int("n") ?? 0
        }
    }

    /// Claims up to `limit` open objects: unclaimed ones, or those whose lease ran out.
    /// Rows another transaction is claiming are skipped, never waited for.
    public func claim(limit: Int) async throws -> [Claim] {
        let (id, seconds) = (worker, Self.seconds(lease))
        return try await database.write { s in
            try await s.execute(
                """
                UPDATE work SET claimed_by = \(id), attempt = work.attempt + 1,
                    lease_until = now() + make_interval(secs => \(seconds))
                FROM (
                    SELECT source, url FROM work
                    WHERE done_at IS NULL AND (claimed_by IS NULL OR lease_until < now())
                    ORDER BY enqueued_at, source, url LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED
                ) AS open
                WHERE work.source = open.source AND work.url = open.url
                RETURNING work.source, work.url, work.attempt, work.ref
                """
            ).map {
                Claim(
                    source: try $0.string("source"),
                    url: try $0.string("url"),
                    attempt: try $0.int("attempt"),
                    ref: try $0.optionalString("ref")
                )
            }
            .sorted { ($0.source, $0.url) < ($1.source, $1.url) }
        }
    }

    /// Marks a claimed object done, if the claim is still this worker's at this attempt;
    /// false when it was fenced out (its lease ran out and another worker took the object).
    public func complete(_ claim: Claim) async throws -> Bool {
        try await database.write { s in try await Self.complete(s, claim, worker: self.worker) }
    }

    /// The fenced completion inside a caller's transaction (the publish stage's confirm):
    /// the change and the completion commit together, or neither.
    static func complete(_ s: PostgresSession, _ claim: Claim, worker: UUID) async throws -> Bool {
        let done = try await s.execute(
            """
            UPDATE work SET done_at = now(), lease_until = NULL
            WHERE source = \(claim.source) AND url = \(claim.url) AND claimed_by = \(worker)
                AND attempt = \(claim.attempt) AND done_at IS NULL
            RETURNING url
            """
        )
        return !done.isEmpty
    }

    /// Open objects this worker may still get: unclaimed ones, and those claimed by a worker
    /// whose heartbeat is older than half a lease (gone, most likely: its claims come back
    /// when its lease runs out). A live worker's claims are its own to finish or give back.
    /// Zero means the cron slot's work is done, as far as this worker can help.
    public func openWorkOfOthers() async throws -> Int {
        let (id, silent) = (worker, Self.seconds(lease) / 2)
        return try await database.read { s in
            try await s.one(
                """
                SELECT count(*) AS n FROM work w
                WHERE w.done_at IS NULL AND (w.claimed_by IS NULL OR (w.claimed_by != \(id) AND NOT EXISTS (
                    SELECT 1 FROM workers k WHERE k.id = w.claimed_by
                        AND k.heartbeat_at > now() - make_interval(secs => \(silent)))))
                """
            )?.int("n") ?? 0
        }
    }

    /// Gives claimed objects back, open for any worker at once (a change for them failed).
    public func giveBack(_ claims: [Claim]) async throws {
        guard !claims.isEmpty else { return }
        let id = worker
        try await database.write { s in
            try await s.execute(
                """
                UPDATE work SET claimed_by = NULL, lease_until = NULL
                FROM unnest(\(claims.map(\.source))::text[], \(claims.map(\.url))::text[], \(claims.map(\.attempt))::int[])
                    AS c(source, url, attempt)
                WHERE work.source = c.source AND work.url = c.url AND work.attempt = c.attempt
                    AND work.claimed_by = \(id) AND work.done_at IS NULL
                """
            )
        }
    }

    /// Whether any of these sources is being listed right now (its advisory lock is held).
    public func beingListed(_ sources: [String]) async throws -> Bool {
        let keys = sources.map(Self.listingKey)
        let (high, low) = (
            keys.map { Int64(UInt64(bitPattern: $0) >> 32) }, keys.map { Int64(UInt64(bitPattern: $0) & 0xFFFF_FFFF) }
        )
        return try await database.read { s in
            try await s.one(
                """
                SELECT count(*) AS n FROM pg_locks l
                JOIN unnest(\(high)::bigint[], \(low)::bigint[]) AS k(high, low)
                ON l.classid::bigint = k.high AND l.objid::bigint = k.low
                WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
                """
            )?.int("n") ?? 0
        } > 0
    }

    /// When this worker joined, on the database's clock: a listing finished since then is
    /// this cron slot's.
    public func joinedAt() async throws -> Date? {
        let id = worker
        return try await database.read { s in
            try await s.one("SELECT started_at FROM workers WHERE id = \(id)")?.row["started_at"].decode(Date.self)
        }
    }

    /// Workers whose heartbeat is younger than `within`, with the claims they hold.
    public func liveWorkers(within: Duration = .seconds(120)) async throws -> [Worker] {
        try await Self.live(database, within: within)
    }

    /// The live workers of a database, for `status` (which is no worker itself).
    public static func live(_ database: PostgresDatabase, within: Duration = .seconds(120)) async throws -> [Worker] {
        let seconds = Self.seconds(within)
        return try await database.read { s in
            try await s.execute(
                """
                SELECT w.id, w.host, w.pid, w.heartbeat_at,
                       (SELECT count(*) FROM work c WHERE c.claimed_by = w.id AND c.done_at IS NULL) AS claims
                FROM workers w WHERE w.heartbeat_at > now() - make_interval(secs => \(seconds))
                ORDER BY w.host, w.pid
                """
            ).map {
                Worker(
                    id: try $0.row["id"].decode(UUID.self),
                    host: try $0.string("host"),
                    pid: try $0.int("pid"),
                    heartbeat: try $0.row["heartbeat_at"].decode(Date.self),
                    claims: try $0.int("claims")
                )
            }
        }
    }
}
