import EOShareCore
import EOShareEmbargo
import EOShareFetch
import EOShareNormalize
import EOShareState
import Foundation
import Logging

/// How a run begins and ends in the state, written by the publish stage like every other
/// change of an ingest run.
extension PublishStage {
    /// Records a new run (and marks runs left `running` by a run that died as `died`: the
    /// caller holds the pipeline's lock, so none of them can still be going).
    package static func startRun(
        pipeline: Pipeline,
        state: any StateStore,
        at: Date,
        started: Date,
        logger: Logger
    ) async throws -> PublishStage {
        let runId = try await state.startRun(at: at, startedAt: started)
        let died = try await state.markDiedRuns(foundBy: runId)
        // A run that died may have left catalogs unwritten whose marks another worker (or it)
        // had taken off: every catalog is written again from the state.
        if !died.isEmpty { try await state.markAllDirty() }
        for died in died {
            logger.warning(
                "run #\(died) died without finishing (killed or crashed); this run takes over",
                metadata: ["event": "run-died", "run": "\(died)"]
            )
        }
        var logger = logger
        logger[metadataKey: "run"] = "\(runId)"
        do {
            return try PublishStage(pipeline: pipeline, state: state, at: at, runId: runId, logger: logger)
        } catch {
            // The shared root cannot be prepared: the run failed before it began.
            try? await state.failRun(runId, error: "\(error)", summary: nil, finishedAt: Date())
            throw error
        }
    }

    /// `ok` or `quarantined`; `failed` when changes could not be finished (after all else was done).
    package func finishRun(_ summary: IngestSummary) async throws {
        if summary.failed > 0 {
            try await state.failRun(
                runId,
                error: "\(summary.failed) publications, retractions or quarantines could not be finished",
                summary: summary,
                finishedAt: Date()
            )
        } else {
            try await state.finishRun(
                runId,
                status: summary.quarantined > 0 ? .quarantined : .ok,
                summary: summary.json.serializedString(),
                finishedAt: Date()
            )
        }
    }

    /// `failed`, with the error and the counts the run reached. A state that cannot take even
    /// this is logged: the next run marks this one `died`.
    package func failRun(_ error: any Error, seconds: Double) async {
        do {
            try await state.failRun(runId, error: "\(error)", summary: summary(seconds: seconds), finishedAt: Date())
        } catch let recordError {
            logger.error("state: cannot record that run #\(runId) failed: \(recordError)")
        }
    }
}
