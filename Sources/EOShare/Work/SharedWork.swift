import AsyncAlgorithms
import EOShareCore
import EOShareFetch
import EOSharePublish
import EOShareState
import Foundation
import Logging
import Synchronization

/// One of many ingest workers sharing a pipeline over its PostgreSQL state (CONTRACT §7).
///
/// - Each source is listed by one worker at a time (`WorkQueue.listing`, an advisory lock);
///   a worker that finds it being listed, or listed since this worker joined (this cron
///   slot), skips it. What a listing finds becomes rows of `work`.
/// - Every worker then claims batches of open objects (`FOR UPDATE SKIP LOCKED`, under a
///   lease its heartbeat renews) until none is left that it could take: it waits for other
///   workers' claims, which come back if their worker dies.
/// - Every state change for an object commits only while the claim is still this worker's,
///   and the object is marked done in the transaction of its last change (`WorkFence`).
/// - What all workers share is done by one at a time (`PostgresLocks`): the start of the
///   convergence, and each catalog's read-from-state-and-write. The due records are shared
///   out by record claims (`claimEach`).
package final class SharedWork: RunWork, WorkCoordination {
    let pipeline: Pipeline
    let queue: WorkQueue
    let locks: PostgresLocks
    let heartbeat: Task<Void, Never>
    /// The claims this worker holds, by object.
    let claims = Mutex<[ObjectKey: WorkQueue.Claim]>([:])
    /// The records this worker holds (`RecordClaim` keys), each an advisory lock of `locks`
    /// on the connection of `generation`; `lost` once claims went with a connection, until
    /// the worker lets go of all it holds.
    let records = Mutex<(keys: Set<String>, generation: Int?, lost: Bool)>(([], nil, false))

    private init(pipeline: Pipeline, queue: WorkQueue, locks: PostgresLocks, heartbeat: Task<Void, Never>) {
        self.pipeline = pipeline
        self.queue = queue
        self.locks = locks
        self.heartbeat = heartbeat
    }

    /// Registers this process as a worker and starts its heartbeat (every third of a lease).
    package static func join(
        pipeline: Pipeline,
        state: PostgresStateStore,
        logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> SharedWork {
        let lease = WorkQueue.lease(environment)
        let queue = try await WorkQueue.join(state.database, lease: lease)
        state.workerIdentity.set(queue.worker, lease: lease)
        let locks = PostgresLocks(
            state.database.url,
            environment: environment,
            relativeTo: pipeline.file.deletingLastPathComponent()
        )
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: lease / 3)
                guard !Task.isCancelled else { return }
                do {
                    try await queue.heartbeat()
                } catch {
                    logger.warning("heartbeat: \(error)", metadata: ["event": "heartbeat-failed"])
                }
                await locks.keepAlive()
            }
        }
        return SharedWork(pipeline: pipeline, queue: queue, locks: locks, heartbeat: heartbeat)
    }

    package var coordination: any WorkCoordination { self }

    package func feed(
        _ discovered: AsyncChannel<ObjectRef>,
        fetchStage: FetchStage,
        publish: PublishStage,
        progress: IngestProgress,
        logger: Logger
    ) async {
        let since = try? await queue.joinedAt()
        // Objects this worker listed whose transfer needs what the table does not keep (a
        // query string): only those are held here, the rest is read back from `work`.
        var listed: [String: ObjectRef] = [:]
        for source in pipeline.sources {
            do {
                let unkept = try await queue.listing(source: source.id, listedSince: since) {
                    try await enqueueListing(of: source, fetchStage: fetchStage)
                }
                for ref in unkept ?? [] { listed[ref.url.absoluteString] = ref }
            } catch {
                logger.error("\(error)", metadata: ["event": "source-failed", "object": "\(source.id)"])
                await publish.sourceFailed(source.id, reason: "\(error)")
            }
        }
        let sources = pipeline.sources.map(\.id)
        let batchSize = max(16, pipeline.limits.fetchWorkers * 2)
        let poll = min(queue.lease / 3, .seconds(1))
        var waits = 0
        while !Task.isCancelled {
            let batch: [WorkQueue.Claim]
            do {
                batch = try await queue.claim(limit: batchSize)
            } catch {
                logger.error("claiming work: \(error)", metadata: ["event": "claim-failed"])
                return
            }
            guard !batch.isEmpty else {
                // What waits in this worker's publish batch is published now, so that its
                // objects are done: every worker waits for the others' claims, never for its own.
                await publish.flushWhenIdle()
                // Others' claims may come back (their worker died); a listing may add more.
                let open = (try? await queue.openWorkOfOthers()) ?? 0
                let listing = (try? await queue.beingListed(sources)) ?? false
                if open == 0 && !listing { return }
                waits += 1
                if waits % 10 == 1 {
                    logger.info("waiting for \(open) objects other workers hold", metadata: ["event": "waiting"])
                }
                try? await Task.sleep(for: poll)
                continue
            }
            // What the state remembers of the batch's objects, in one statement.
            await fetchStage.remember(batch.map(\.url))
            for claim in batch {
                let key = ObjectKey(source: claim.source, url: claim.url)
                var ref =
                    listed[claim.url] ?? ObjectRefRow.decode(source: claim.source, url: claim.url, row: claim.ref)
                if ref == nil, let source = pipeline.sources.first(where: { $0.id == claim.source }) {
                    // A transfer the table could not keep (a query string): list the source here.
                    for found in (try? await fetchStage.discover(source, fetching: false)) ?? [] {
                        listed[found.url.absoluteString] = found
                    }
                    ref = listed[claim.url]
                }
                guard let ref else {
                    logger.notice("\(claim.url) is no longer listed by \(claim.source): done")
                    _ = try? await queue.complete(claim)
                    continue
                }
                claims.withLock { $0[key] = claim }
                progress.discoveredCount.add(1, ordering: .relaxed)
                await discovered.send(ref)
            }
        }
    }

    /// Lists a source into `work` a chunk at a time (memory stays flat in the listing's size,
    /// and other workers may claim the first objects while the rest is listed); returns the
    /// objects a row cannot carry whole.
    func enqueueListing(of source: SourceConfig, fetchStage: FetchStage) async throws -> [ObjectRef] {
        var pending: [ObjectRef] = []
        var unkept: [ObjectRef] = []
        var failure: (any Error)?
        func enqueue() async {
            defer { pending.removeAll(keepingCapacity: true) }
            guard failure == nil, !pending.isEmpty else { return }
            do {
                try await queue.enqueue(
                    source: source.id,
                    urls: pending.map(\.url.absoluteString),
                    refs: pending.map(ObjectRefRow.encode)
                )
            } catch { failure = error }
        }
        try await fetchStage.discover(source, fetching: false) { ref in
            pending.append(ref)
            let row = ObjectRefRow.encode(ref)
            if ObjectRefRow.decode(source: ref.source, url: ref.url.absoluteString, row: row) == nil {
                unkept.append(ref)
            }
            if pending.count >= 1024 { await enqueue() }
        }
        await enqueue()
        if let failure { throw failure }
        return unkept
    }

    package func leave() async {
        heartbeat.cancel()
        _ = await heartbeat.result
        try? await queue.leave()
        await locks.close()
    }

    // MARK: WorkCoordination

    package func runFenced(
        _ objects: [ObjectKey],
        completing: [ObjectKey],
        isolation: isolated (any Actor)?,
        _ body: () async throws -> Void
    ) async throws {
        let (held, done) = claims.withLock { c in (objects.compactMap { c[$0] }, completing.compactMap { c[$0] }) }
        let fence = WorkFence(worker: queue.worker, claims: held, completing: done)
        try await queue.fenced(fence, body)
        // Done objects need their claims no more.
        if !completing.isEmpty { claims.withLock { c in for key in completing { c[key] = nil } } }
    }

    package func giveBack(_ objects: [ObjectKey]) async {
        let mine = claims.withLock { c in objects.compactMap { c.removeValue(forKey: $0) } }
        // Done for this slot after three tries: the intents stay for the next run.
        let (again, done) = (mine.filter { $0.attempt < 3 }, mine.filter { $0.attempt >= 3 })
        try? await queue.giveBack(again)
        for claim in done { _ = try? await queue.complete(claim) }
    }

    package func claimRecords(_ keys: [String], wait: Bool) async throws -> Bool {
        let held = await heldKeys()
        let new = Set(keys).subtracting(held).sorted()
        guard !new.isEmpty else { return true }
        if wait {
            // In one order, so that two workers waiting for the same records never hold one each.
            for key in new {
                try await locks.lock(key)
                await took([key], after: held)
            }
        } else {
            guard try await locks.tryLock(new) else { return false }
            await took(new, after: held)
        }
        return true
    }

    package func claimEach(_ asked: [[String]]) async throws -> [Bool] {
        // A session lock taken twice needs two unlocks: a key held, or asked for by an earlier
        // record here, is not asked for again (its record is not claimed now).
        let held = await heldKeys()
        var keys = held
        var tried: [Int] = []
        for (i, record) in asked.enumerated() where keys.isDisjoint(with: record) {
            keys.formUnion(record)
            tried.append(i)
        }
        let taken = try await locks.tryLockEach(tried.map { asked[$0] })
        var claimed = asked.map { _ in false }
        for (i, took) in zip(tried, taken) where took { claimed[i] = true }
        await took(zip(tried, taken).filter(\.1).flatMap { asked[$0.0] }, after: held)
        return claimed
    }

    /// The keys this worker holds; none once their connection is gone (the server let go of
    /// them): those are lost, not held, and are not counted as held again.
    func heldKeys() async -> Set<String> {
        let open = await locks.openGeneration
        return records.withLock { r in
            if !r.keys.isEmpty && r.generation != open {
                r.keys.removeAll()
                r.lost = true
            }
            return r.keys
        }
    }

    /// Records keys just locked. A connection made again meanwhile holds them, but not what
    /// was held before: that is lost.
    func took(_ keys: [String], after held: Set<String>) async {
        let generation = await locks.generation
        records.withLock { r in
            if r.generation != generation {
                if !r.keys.isEmpty { r.lost = true }
                r.keys.removeAll()
                r.generation = generation
            }
            r.keys.formUnion(keys)
        }
    }

    package func releaseRecords(keeping: [String]) async {
        let going = records.withLock { r in
            let going = r.keys.subtracting(keeping)
            r.keys.subtract(going)
            if r.keys.isEmpty { r.lost = false }
            return going
        }
        await locks.unlock(Array(going))
    }

    package func verifyClaims() async throws {
        _ = await heldKeys()
        let (generation, lost, holding) = records.withLock { ($0.generation, $0.lost, !$0.keys.isEmpty) }
        guard !lost else { throw PostgresLocks.claimsLost(locks.url) }
        guard holding, let generation else { return }
        do {
            try await locks.verify(generation: generation)
        } catch {
            records.withLock { r in
                r.keys.removeAll()
                r.lost = true
            }
            throw error
        }
    }

    package func runExclusively(
        _ name: String,
        isolation: isolated (any Actor)?,
        _ body: () async throws -> Void
    ) async throws {
        try await locks.lock(name)
        do {
            try await body()
        } catch {
            await locks.unlock(name)
            throw error
        }
        await locks.unlock(name)
    }
}
