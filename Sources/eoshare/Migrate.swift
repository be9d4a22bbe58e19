import ArgumentParser
import EOShare
import Foundation

/// `eoshare migrate PIPELINE --to postgresql://…` (CONTRACT §7): the pipeline's SQLite state,
/// ledger chain included, copied into an empty PostgreSQL database. The pipeline's lock is
/// held meanwhile, so no ingest changes the state half-way; the pipeline file is then edited
/// by the operator (`state:` the URL, `spool:` a local folder).
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Copy the pipeline's SQLite state (records, publications, ledger, quarantine) into an empty PostgreSQL database."
    )
    @OptionGroup var common: CommonOptions

    @Option(help: "The empty database: postgresql://USER@HOST:PORT/DB (the password from PGPASSWORD or ~/.pgpass).")
    var to: String

    func run() async throws {
        let pipeline = try common.load()
        guard pipeline.postgres == nil else {
            throw UsageError(description: "the pipeline's state is already a PostgreSQL database: nothing to migrate")
        }
        let target: PostgresStateURL
        do { target = try PostgresStateURL.parse(to) } catch {
            throw UsageError(description: "--to: \(error.description)")
        }
        let lock = try PipelineLock(pipeline: pipeline, wait: false)
        defer { lock.release() }
        guard let sqlite = try SQLiteStateStore.existing(at: pipeline.statePath) else {
            throw UsageError(description: "no state at \(pipeline.statePath.path): nothing has been ingested yet")
        }
        let store = try await PostgresStateStore.open(target, relativeTo: pipeline.file.deletingLastPathComponent())
        do {
            let copied = try await StateMigration.copy(from: sqlite, ledgerFile: pipeline.ledgerPath, to: store) {
                try await Ledger.flush(state: sqlite, to: pipeline.ledgerPath)
            }
            await store.close()
            print("migrated to \(target): \(copied.summary)")
        } catch {
            await store.close()
            throw error
        }
    }
}
