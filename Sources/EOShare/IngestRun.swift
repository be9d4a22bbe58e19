import AsyncAlgorithms
import EOShareCore
import EOShareEmbargo
import EOShareFetch
import EOShareNormalize
import EOShareOperations
import EOSharePublish
import EOShareState
import EOShareUnpack
import Foundation
import Logging

/// One `eoshare ingest` run: the re-evaluation of every known record whose visibility may
/// have changed by the run's instant, then the stage chain of CONTRACT §1.
///
///     (recover → re-evaluate) → discover → fetch (libcurl) → unpack (zlib) → normalize → embargo + publish
///
/// Each arrow is a rendezvous channel (back-pressure: a stage waits for the next one, so
/// memory stays flat); each stage is a pool of workers. Work that fails at any stage flows
/// on as `.quarantined` to the last stage, which alone touches the state, ledger and tree.
public final class IngestRun: Sendable {
    public let pipeline: Pipeline
    public let at: Date
    /// Read every tree and mend it, whatever the state says (`--reconcile`).
    public let reconcile: Bool
    package let logger: Logger
    /// Counters a progress display reads while the run goes.
    public let progress: IngestProgress

    public init(
        pipeline: Pipeline,
        at: Date,
        reconcile: Bool = false,
        logger: Logger,
        progress: IngestProgress = IngestProgress()
    ) {
        self.pipeline = pipeline
        self.at = at
        self.reconcile = reconcile
        self.logger = logger
        self.progress = progress
    }

    /// Runs once; the caller holds the pipeline's lock. The run is recorded in the state as
    /// `ok`, `quarantined` or `failed` (with its error); runs left `running` by a run that
    /// died are marked `died` first.
    public func run() async throws -> IngestSummary {
        let started = Date()
        let state = try await openState(pipeline)
        // With a PostgreSQL state this process is one of many workers (CONTRACT §7); it joins
        // before its run is recorded, so no other worker takes the run for a dead one.
        let work: any RunWork =
            if let shared = state as? PostgresStateStore {
                try await SharedWork.join(pipeline: pipeline, state: shared, logger: logger)
            } else {
                AllObjectsMine(pipeline: pipeline)
            }
        do {
            let summary = try await run(work: work, state: state, started: started)
            await work.leave()
            return summary
        } catch {
            await work.leave()
            throw error
        }
    }

    func run(work: any RunWork, state: any StateStore, started: Date) async throws -> IngestSummary {
        let publish = try await PublishStage.startRun(
            pipeline: pipeline,
            state: state,
            at: at,
            started: started,
            logger: logger
        )
        progress.runNumber.store(publish.runId, ordering: .relaxed)
        await publish.coordinate(with: work.coordination)
        do {
            let summary = try await run(publish, work: work, state: state, started: started, logger: publish.logger)
            try await publish.finishRun(summary)
            return summary
        } catch {
            await publish.failRun(error, seconds: Date().timeIntervalSince(started))
            throw error
        }
    }

    package func run(
        _ publish: PublishStage,
        work: any RunWork,
        state: any StateStore,
        started: Date,
        logger: Logger
    ) async throws -> IngestSummary {
        let runId = publish.runId
        let progress = self.progress
        // Make every tree match the policy at the run's instant before anything new: what a
        // killed run left half done, members that left, a lost or older state, a clock gone
        // back; one worker at a time, as what it decides covers every record and every tree.
        try await work.coordination.exclusively("convergence") {
            try await publish.converge(reconcileRequested: reconcile)
        }
        // Then the records due at the run's instant (releases, expired grants, a new policy),
        // shared out among the workers: retractions first, then releases.
        try await publish.reevaluateDue()

        // One channel per stage boundary, each of its own type; what leaves the chain early
        // goes straight to publish on `settled`.
        let discovered = AsyncChannel<ObjectRef>()
        let fetched = AsyncChannel<FetchedObject>()
        let unpacked = AsyncChannel<UnpackedObject>()
        let normalized = AsyncChannel<NormalizedObject>()
        let settled = AsyncChannel<Settled>()
        let sources = Dictionary(uniqueKeysWithValues: pipeline.sources.map { ($0.id, $0) })
        let limits = pipeline.limits
        let workFolder = pipeline.workFolder.appendingPathComponent("run-\(runId)")
        let cpuWorkers = ProcessInfo.processInfo.activeProcessorCount
        // Unpack and normalize block their thread (CPU, file I/O): they get threads of their own.
        let cpuThreads = WorkerThreads(count: cpuWorkers, name: "eoshare-cpu")
        defer { cpuThreads.shutdown() }
        try FileManager.default.createDirectory(at: workFolder, withIntermediateDirectories: true)

        // One libcurl multi handle on a thread of its own carries every transfer of the run:
        // `fetch_workers` at once, connections reused.
        let fetchStage = FetchStage(pipeline: pipeline, state: state, workFolder: workFolder, logger: logger)

        await withTaskGroup(of: Void.self) { group in
            // discover: the objects this worker is to fetch (every source's, or its claims).
            group.addTask {
                await work.feed(
                    discovered,
                    fetchStage: fetchStage,
                    publish: publish,
                    progress: progress,
                    logger: logger
                )
                discovered.finish()
            }
            group.addTask {
                await withTaskGroup(of: Void.self) { stages in
                    // fetch: `fetch_workers` objects at once, each verified before it moves on.
                    stages.addTask {
                        await Self.pool(limits.fetchWorkers, input: discovered, output: fetched, settled: settled) {
                            { ref in
                                await publish.countDiscovered()
                                defer { progress.fetchedCount.add(1, ordering: .relaxed) }
                                switch await fetchStage.fetch(ref) {
                                case .fetched(let o):
                                    progress.bytesCount.add(o.size, ordering: .relaxed)
                                    return .next(o)
                                case .unchanged(let r, let remember): return .settled(.unchanged(r, remember: remember))
                                case .quarantined(let r, let reason, let evidence):
                                    return .settled(.refused(r, reason: reason, evidence: evidence))
                                }
                            }
                        }
                    }
                    // unpack: gzip, zlib, tar and zip, told by their magic bytes, streamed through fixed buffers.
                    stages.addTask {
                        await Self.pool(
                            cpuWorkers,
                            on: cpuThreads,
                            input: fetched,
                            output: unpacked,
                            settled: settled
                        ) {
                            let unpacker = Unpacker(limits: limits)
                            return { object in
                                do {
                                    return .next(try unpacker.unpack(object))
                                } catch {
                                    return .settled(.rejected(object, Rejection(.unpack, error)))
                                }
                            }
                        }
                    }
                    // normalize: the source format's reader, then the checks every record must pass.
                    stages.addTask {
                        await Self.pool(
                            cpuWorkers,
                            on: cpuThreads,
                            input: unpacked,
                            output: normalized,
                            settled: settled
                        ) {
                            let normalizer = Normalizer()
                            return { object in
                                do {
                                    return .next(
                                        try normalizer.normalize(object, source: sources[object.fetched.ref.source]!)
                                    )
                                } catch {
                                    return .settled(.rejected(object.fetched, Rejection(.normalize, error)))
                                }
                            }
                        }
                    }
                }
                settled.finish()
            }
            // embargo + publish: one consumer, in arrival order.
            group.addTask {
                for await input in merge(normalized.map(PublishInput.records), settled.map(PublishInput.settled)) {
                    await publish.accept(input)
                    progress.doneCount.add(1, ordering: .relaxed)
                }
            }
        }
        logger.debug("stages done")
        await fetchStage.close()
        try? FileManager.default.removeItem(at: workFolder)

        try await publish.finish()
        return await publish.summary(seconds: Date().timeIntervalSince(started))
    }

    /// What a stage's worker makes of one input: the next stage's input, or an outcome.
    package enum StageResult<Out: Sendable>: Sendable {
        case next(Out)
        case settled(Settled)
    }

    /// Runs `count` workers that take from `input`, transform, and send to `output` (or to
    /// `settled`); `output` finishes when every worker is done.
    package static func pool<In: Sendable, Out: Sendable>(
        _ count: Int,
        on threads: WorkerThreads? = nil,
        input: AsyncChannel<In>,
        output: AsyncChannel<Out>,
        settled: AsyncChannel<Settled>,
        makeWorker: @escaping @Sendable () -> @Sendable (In) async -> StageResult<Out>
    ) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                group.addTask(executorPreference: threads) {
                    let work = makeWorker()
                    for await item in input {
                        switch await work(item) {
                        case .next(let out): await output.send(out)
                        case .settled(let outcome): await settled.send(outcome)
                        }
                    }
                }
            }
        }
        output.finish()
    }
}
