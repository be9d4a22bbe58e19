import Foundation

/// Migration 4: what lets many ingest workers share one run's work safely (CONTRACT §7).
/// Kept beside `PostgresSchema.migrations` so that each stage of the schema reads on its own.
extension PostgresSchema {
    static let workerFencing = Migration(
        version: 4,
        name: "worker-fencing",
        statements: [
            // What a worker that did not list the source needs to fetch an object (no secret:
            // a URL with a query string is never stored, the claimer lists the source itself).
            "ALTER TABLE work ADD COLUMN ref TEXT",
            // The worker whose intent a publication row holds: recovery takes only the intents
            // of workers that are gone, never a live worker's work in flight.
            "ALTER TABLE publications ADD COLUMN worker UUID",
            // The worker a run belongs to: a run is marked `died` only when its worker is gone.
            "ALTER TABLE runs ADD COLUMN worker UUID",
        ]
    )

    /// Every migration in version order (each version's definition lives with its concern).
    static var all: [Migration] { (migrations + [workerFencing]).sorted { $0.version < $1.version } }
}
