import EOShareCore
import EOShareEmbargo
import Foundation

/// The lock an ingest holds for its whole run: the flock beside a SQLite state (one ingest at
/// a time, 75 or `--wait` for another). A PostgreSQL state takes none: any number of ingest
/// workers share its work (CONTRACT §7, `SharedWork`).
public enum IngestLock: Sendable {
    case file(PipelineLock)
    /// A PostgreSQL state: no lock, the ingest workers share the work.
    case sharedWork

    public static func acquire(_ pipeline: Pipeline, wait: Bool) async throws -> IngestLock {
        if pipeline.postgres != nil { return .sharedWork }
        return .file(try PipelineLock(pipeline: pipeline, wait: wait))
    }

    public func release() {
        switch self {
        case .file(let lock): lock.release()
        case .sharedWork: break
        }
    }
}
