import AsyncAlgorithms
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
    let logger: Logger
    /// Counters a progress display reads while the run goes.
    public let progress: IngestProgress

    public init(pipeline: Pipeline, at: Date, reconcile: Bool = false, logger: Logger, progress: IngestProgress = IngestProgress()) {
        self.pipeline = pipeline
        self.at = at
        self.reconcile = reconcile
        self.logger = logger
        self.progress = progress
    }

    /// What moves between stages.
    enum Work: Sendable {
        case fetched(FetchedObject)
        case unpacked(UnpackedObject)
        /// An object's records, and the ones it held that were rejected (quarantined one by one).
        case normalized(NormalizedObject)
        case unchanged(ObjectRef, remember: StoredObject?)
        case quarantined(ObjectRef, reason: String, evidence: RefusedBytes?)
        /// An object that arrived whole and verified but could not be unpacked or normalized.
        case rejected(FetchedObject, reason: String)
    }

    /// Runs once; the caller holds the pipeline's lock. The run is recorded in the state as
    /// `ok`, `quarantined` or `failed` (with its error); runs left `running` by a run that
    /// died are marked `died` first.
    public func run() async throws -> IngestSummary {
        let started = Date()
        let state = try openState(pipeline)
        let runId = try await state.startRun(at: at, startedAt: started)
        progress.runNumber.store(runId, ordering: .relaxed)
        for died in try await state.markDiedRuns(foundBy: runId) {
            logger.warning("run #\(died) died without finishing (killed or crashed); this run takes over", metadata: ["event": "run-died", "run": "\(died)"])
        }
        var logger = self.logger
        logger[metadataKey: "run"] = "\(runId)"
        var sink: PublishStage?
        do {
            let summary = try await run(runId, state: state, started: started, logger: logger) { sink = $0 }
            // Changes that could not be finished make the run a failure, after all else was done.
            if summary.failed > 0 {
                try await state.failRun(
                    runId, error: "\(summary.failed) publications or retractions could not be finished", summary: summary,
                    finishedAt: Date())
            } else {
                try await state.finishRun(
                    runId, status: summary.quarantined > 0 ? .quarantined : .ok, summary: summary.json.serializedString(),
                    finishedAt: Date())
            }
            return summary
        } catch {
            let reached = await sink?.summary(seconds: Date().timeIntervalSince(started))
            try? await state.failRun(runId, error: "\(error)", summary: reached, finishedAt: Date())
            throw error
        }
    }

    func run(
        _ runId: Int64, state: StateStore, started: Date, logger: Logger, made: (PublishStage) -> Void
    ) async throws -> IngestSummary {
        let sink = try PublishStage(pipeline: pipeline, state: state, at: at, logger: logger)
        made(sink)
        let progress = self.progress
        // Make every tree match the policy at the run's instant before anything new: what a
        // killed run left half done, members that left, a lost or older state, a clock gone
        // back, due releases; every retraction before any publication.
        try await sink.converge(reconcileRequested: reconcile)

        let discovered = AsyncChannel<ObjectRef>()
        let fetched = AsyncChannel<Work>()
        let unpacked = AsyncChannel<Work>()
        let normalized = AsyncChannel<Work>()
        let sources = Dictionary(uniqueKeysWithValues: pipeline.sources.map { ($0.id, $0) })
        let limits = pipeline.limits
        let workFolder = pipeline.workFolder.appendingPathComponent("run-\(runId)")
        let cpuWorkers = max(2, ProcessInfo.processInfo.activeProcessorCount)
        try FileManager.default.createDirectory(at: workFolder, withIntermediateDirectories: true)

        // One libcurl multi handle on a thread of its own carries every transfer of the run:
        // `fetch_workers` at once, connections reused.
        let fetchStage = FetchStage(pipeline: pipeline, state: state, workFolder: workFolder, logger: logger)

        await withTaskGroup(of: Void.self) { group in
            // discover: list every source; a source that cannot be listed is logged and counted.
            group.addTask {
                for source in self.pipeline.sources {
                    do {
                        for ref in try await fetchStage.discover(source) {
                            progress.discoveredCount.add(1, ordering: .relaxed)
                            await discovered.send(ref)
                        }
                    } catch {
                        logger.error("\(error)", metadata: ["event": "source-failed", "object": "\(source.id)"])
                        await sink.sourceFailed(source.id, reason: "\(error)")
                    }
                }
                discovered.finish()
            }
            // fetch: `fetch_workers` objects at once, each verified before it moves on.
            group.addTask {
                await Self.pool(limits.fetchWorkers, input: discovered, output: fetched) {
                    { ref in
                        await sink.countDiscovered()
                        defer { progress.fetchedCount.add(1, ordering: .relaxed) }
                        switch await fetchStage.fetch(ref) {
                        case .fetched(let o):
                            progress.bytesCount.add(o.size, ordering: .relaxed)
                            return .fetched(o)
                        case .unchanged(let r, let remember): return .unchanged(r, remember: remember)
                        case .quarantined(let r, let reason, let evidence):
                            return .quarantined(r, reason: reason, evidence: evidence)
                        }
                    }
                }
            }
            // unpack: gzip, zlib, tar and zip, told by their magic bytes, streamed through fixed buffers.
            group.addTask {
                await Self.pool(cpuWorkers, input: fetched, output: unpacked) {
                    let unpacker = Unpacker(limits: limits)
                    return { work in
                        guard case .fetched(let object) = work else { return work }
                        do {
                            return .unpacked(try unpacker.unpack(object))
                        } catch {
                            return .rejected(object, reason: "unpack: \(error)")
                        }
                    }
                }
            }
            // normalize: the source format's reader, then the checks every record must pass.
            group.addTask {
                await Self.pool(cpuWorkers, input: unpacked, output: normalized) {
                    let normalizer = Normalizer()
                    return { work in
                        guard case .unpacked(let object) = work else { return work }
                        do {
                            return .normalized(try normalizer.normalize(object, source: sources[object.fetched.ref.source]!))
                        } catch {
                            return .rejected(object.fetched, reason: "normalize: \(error)")
                        }
                    }
                }
            }
            // embargo + publish: one consumer, in arrival order.
            group.addTask {
                for await work in normalized {
                    await sink.accept(work)
                    progress.doneCount.add(1, ordering: .relaxed)
                }
            }
        }
        await fetchStage.close()
        try? FileManager.default.removeItem(at: workFolder)

        try await sink.finish()
        return await sink.summary(seconds: Date().timeIntervalSince(started))
    }

    /// Runs `count` workers that take from `input`, transform, and send to `output`;
    /// `output` finishes when every worker is done.
    static func pool<In: Sendable, Out: Sendable>(
        _ count: Int, input: AsyncChannel<In>, output: AsyncChannel<Out>,
        makeWorker: @escaping @Sendable () -> @Sendable (In) async -> Out
    ) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                group.addTask {
                    let work = makeWorker()
                    for await item in input { await output.send(await work(item)) }
                }
            }
        }
        output.finish()
    }
}
