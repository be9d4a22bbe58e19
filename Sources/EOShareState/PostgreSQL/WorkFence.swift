import EOShareCore
import Foundation
import PostgresNIO
import Synchronization

/// The fencing of a state change by the claims it is for (CONTRACT §7): every transaction
/// run while a fence is current (`WorkFence.$current.withValue`) first locks the claimed
/// `work` rows and checks each is still this worker's at the claimed attempt, and marks
/// `completing` done before it commits. A worker whose lease ran out and whose object
/// another worker took has its whole transaction rolled back: its change is never applied.
///
/// A task-local rather than a parameter: the fence travels with the publish stage's call
/// into any `StateStore` method, whose SQL stays as it is for both stores (SQLite never
/// sees a fence: a single process owns every object).
public struct WorkFence: Sendable {
    public var worker: UUID
    /// Claims that must still be this worker's.
    public var claims: [WorkQueue.Claim]
    /// Claims marked done in the same transaction (checked too).
    public var completing: [WorkQueue.Claim]
    /// Whether a transaction applied the fence (a change that wrote nothing did not).
    let applied = Applied()

    final class Applied: Sendable {
        let value = Mutex(false)
    }

    @TaskLocal public static var current: WorkFence?

    public init(worker: UUID, claims: [WorkQueue.Claim], completing: [WorkQueue.Claim]) {
        self.worker = worker
        self.claims = claims
        self.completing = completing
    }

    /// Locks and checks every claim inside the caller's transaction, then completes.
    func apply(_ s: PostgresSession) async throws {
        applied.value.withLock { $0 = true }
        let all = Array(Set(claims + completing))
        guard !all.isEmpty else { return }
        let held = try await s.execute(
            """
            SELECT w.source, w.url, w.attempt FROM work w
            JOIN unnest(\(all.map(\.source))::text[], \(all.map(\.url))::text[], \(all.map(\.attempt))::int[])
                AS c(source, url, attempt)
            ON w.source = c.source AND w.url = c.url AND w.attempt = c.attempt
            WHERE w.claimed_by = \(worker)
            ORDER BY w.source, w.url
            FOR UPDATE OF w
            """
        )
        var mine = Set<String>()
        for row in held { mine.insert(try row.string("source") + "\n" + (try row.string("url"))) }
        let lost = all.filter { !mine.contains($0.source + "\n" + $0.url) }
        guard lost.isEmpty else { throw FencedOut(lost: lost) }
        guard !completing.isEmpty else { return }
        try await s.execute(
            """
            UPDATE work SET done_at = coalesce(done_at, now()), lease_until = NULL
            FROM unnest(\(completing.map(\.source))::text[], \(completing.map(\.url))::text[]) AS c(source, url)
            WHERE work.source = c.source AND work.url = c.url AND work.claimed_by = \(worker)
            """
        )
    }
}

extension WorkQueue {
    /// Runs `body` under `fence`; when it wrote nothing (an object unchanged, with nothing new
    /// to remember), the fence is applied in a transaction of its own, so its objects are done.
    public func fenced(
        _ fence: WorkFence,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> Void
    ) async throws {
        try await WorkFence.$current.withValue(fence) {
            try await body()
            if !fence.applied.value.withLock({ $0 }), !(fence.claims.isEmpty && fence.completing.isEmpty) {
                try await database.write { _ in }
            }
        }
    }
}

/// A change refused because objects it was for are no longer this worker's claims.
public struct FencedOut: Error, CustomStringConvertible {
    public var lost: [WorkQueue.Claim]
    public var description: String {
        "fenced out: \(lost.count) object(s) claimed by another worker since (\(lost.first?.url ?? ""))"
    }
}
