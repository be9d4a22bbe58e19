import EOShareCore
import EOShareEmbargo
import Foundation
import GRDB

/// How runs end in the state, so `status` tells a failed or dead run from a running one.
/// A run's error is kept in its summary JSON under `error`, next to the counts it reached.
extension SQLiteStateStore {
    /// Runs still marked `running` when a new run holds the pipeline's lock died (killed,
    /// crashed, power lost): the lock is the kernel's, so none of them can still be going.
    /// Returns their ids.
    @discardableResult
    public func markDiedRuns(foundBy run: Int64?) async throws -> [Int64] {
        let error =
            "ended without finishing (killed or crashed)"
            + (run.map { "; run #\($0) found its lock released" } ?? "; its lock was found released")
        return try await db.write { db in
            let ids = try Int64.fetchAll(
                db,
                sql: "SELECT id FROM runs WHERE status = 'running' AND id IS NOT ?",
                arguments: [run]
            )
            for id in ids {
                try db.execute(
                    sql: "UPDATE runs SET status = 'died', summary = ? WHERE id = ?",
                    arguments: [JSONValue.object(["error": .string(error)]).serializedString(), id]
                )
            }
            return ids
        }
    }

    /// Opens the state of a read-only command: nil when there is none (a command that only
    /// reads must not create it), and an error naming the path when it cannot be opened.
    public static func existing(at path: URL) throws -> SQLiteStateStore? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else { return nil }
        return try opening(at: path)
    }

    /// Opens (or creates) the state; an error names the path and what is wrong with it,
    /// where SQLite alone would say "error 14".
    public static func opening(at path: URL) throws -> SQLiteStateStore {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw StateOpenError(path: path.path, reason: "is a directory, not a state file")
        }
        do {
            return try SQLiteStateStore(path: path)
        } catch let error as DatabaseError {
            throw StateOpenError(path: path.path, reason: error.message ?? "\(error)")
        } catch let error as CocoaError {
            throw StateOpenError(path: path.path, reason: error.localizedDescription)
        }
    }
}

/// The state file cannot be opened (exit 74), with its path.
public struct StateOpenError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "state \(path): \(reason)" }
}
