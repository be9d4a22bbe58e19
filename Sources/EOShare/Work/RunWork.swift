import AsyncAlgorithms
import EOShareCore
import EOShareFetch
import EOSharePublish
import EOShareState
import Foundation
import Logging

/// Where a run's objects come from, and with whom its changes are coordinated: the seam
/// between the stage chain and the workers sharing a pipeline (CONTRACT §7).
package protocol RunWork: Sendable {
    /// How the publish stage's changes are fenced and what is serialized between workers.
    var coordination: any WorkCoordination { get }

    /// Sends the objects this worker is to fetch into `discovered`; returns when no work is
    /// left that it could take. A source that cannot be listed is logged and quarantined.
    func feed(
        _ discovered: AsyncChannel<ObjectRef>,
        fetchStage: FetchStage,
        publish: PublishStage,
        progress: IngestProgress,
        logger: Logger
    ) async

    /// The worker is done: what it claimed and did not finish goes back to the others.
    func leave() async
}

/// One process owns every object (a SQLite state, under its flock): it lists every source
/// and fetches everything it finds.
package struct AllObjectsMine: RunWork {
    let pipeline: Pipeline

    package init(pipeline: Pipeline) { self.pipeline = pipeline }

    package var coordination: any WorkCoordination { SingleProcess() }

    package func feed(
        _ discovered: AsyncChannel<ObjectRef>,
        fetchStage: FetchStage,
        publish: PublishStage,
        progress: IngestProgress,
        logger: Logger
    ) async {
        for source in pipeline.sources {
            do {
                try await fetchStage.discover(source) { ref in
                    progress.discoveredCount.add(1, ordering: .relaxed)
                    await discovered.send(ref)
                }
            } catch {
                logger.error("\(error)", metadata: ["event": "source-failed", "object": "\(source.id)"])
                await publish.sourceFailed(source.id, reason: "\(error)")
            }
        }
    }

    package func leave() async {}
}
