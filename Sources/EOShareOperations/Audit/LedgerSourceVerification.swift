import EOShareCore
import EOShareState
import Foundation

extension LedgerSource {
    /// The chain checked against the state's anchor.
    public static func verify(_ pipeline: Pipeline, state: (any StateStore)?) async throws -> [AuditFinding] {
        var anchor: LedgerVerifier.Anchor?
        if let state { anchor = try await LedgerVerifier.Anchor(state) }
        if state is PostgresStateStore {
            return LedgerVerifier.verify(bytes: try await bytes(pipeline, state: state) ?? [], anchor: anchor)
        }
        return LedgerVerifier.verify(pipeline.ledgerPath, anchor: anchor)
    }
}
