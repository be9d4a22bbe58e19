import EOShareCore
import EOShareEmbargo
import Foundation

/// Where the ledger's lines are kept (CONTRACT §5): `ledger.jsonl` beside a SQLite state, the
/// `ledger` table of a PostgreSQL one (no file on a host is the ledger of many hosts). Both
/// hold the same lines, so reading and verifying them is the same once they are read.
public enum LedgerSource {
    /// Every line, each followed by a newline, as the file holds them; nil when a SQLite
    /// pipeline has no ledger file.
    public static func bytes(_ pipeline: Pipeline, state: (any StateStore)?) async throws -> [UInt8]? {
        if let table = state as? PostgresStateStore {
            var out: [UInt8] = []
            try await table.forEachLedgerLine { _, line in
                out += line
                out.append(0x0A)
            }
            return out
        }
        return try? FileBytes.read(pipeline.ledgerPath)
    }

    /// The ledger named for an operator.
    public static func name(_ pipeline: Pipeline) -> String {
        pipeline.postgres.map { "the ledger table of \($0)" } ?? pipeline.ledgerPath.path
    }
}
