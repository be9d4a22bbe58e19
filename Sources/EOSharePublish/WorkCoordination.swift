import EOShareCore
import EOShareEmbargo
import EOShareState
import Foundation

/// An object of a run, as the work shared between workers knows it.
package struct ObjectKey: Hashable, Sendable {
    package var source: String
    package var url: String

    package init(source: String, url: String) {
        self.source = source
        self.url = url
    }
}

/// How the publish stage's changes are coordinated with other ingest workers (CONTRACT §7).
/// One process alone (SQLite, under its flock) owns every object and needs no lock:
/// `SingleProcess`. Many workers over PostgreSQL fence each change by the claims it is for
/// and serialize what all of them share (`SharedWork` in the `EOShare` target).
package protocol WorkCoordination: Sendable {
    /// Runs `body` (state changes for `objects`) so that it commits only while every object is
    /// still this worker's, and marks `completing` done in the same transaction; throws
    /// `FencedOut` (nothing committed) when another worker has taken one of them.
    func runFenced(
        _ objects: [ObjectKey],
        completing: [ObjectKey],
        isolation: isolated (any Actor)?,
        _ body: () async throws -> Void
    ) async throws

    /// Objects whose change failed (not fenced): open again at once for any worker, which
    /// finishes them from their intents; after a few attempts they are left to the next run.
    func giveBack(_ objects: [ObjectKey]) async

    /// Runs `body` while no other worker runs a body of the same name.
    func runExclusively(_ name: String, isolation: isolated (any Actor)?, _ body: () async throws -> Void) async throws

    /// Claims records (by `RecordClaim.keys`: the record and its folder) until
    /// `releaseRecords`, so that no other worker touches their folders meanwhile: at once or
    /// not at all when `wait` is false (false: another worker holds one), else waiting.
    func claimRecords(_ keys: [String], wait: Bool) async throws -> Bool

    /// Claims at once each record of `records` (each its `RecordClaim.keys`) that is free:
    /// false for one another worker holds, or that shares a key with one this worker holds
    /// or with an earlier one of `records`.
    func claimEach(_ records: [[String]]) async throws -> [Bool]

    /// Lets go of the records this worker claimed, but those of `keeping`.
    func releaseRecords(keeping: [String]) async

    /// Throws unless every record this worker claimed since it last let go of all of them is
    /// still its own: called after an intent and before the files, so a worker whose claims
    /// went with its connection (cut off, or paused past its lease) writes nothing.
    func verifyClaims() async throws
}

/// The names under which a record is claimed: the record, and the folder it is published in
/// (two records whose folders meet are never written at once either).
package enum RecordClaim {
    package static func keys(collection: String, id: String, folder: String) -> [String] {
        ["record \(collection)/\(id)", "folder \(collection)/\(folder)"]
    }
}

extension StoredRecord {
    /// The names under which this record is claimed, in the folder it has now.
    package var claimKeys: [String] {
        RecordClaim.keys(collection: subject.collection, id: subject.id, folder: place.folder)
    }
}

extension RecordKey {
    package init(_ subject: EmbargoSubject) { self.init(collection: subject.collection, id: subject.id) }
}

extension WorkCoordination {
    package func fenced(
        _ objects: [ObjectKey],
        completing: [ObjectKey],
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> Void
    ) async throws {
        try await runFenced(objects, completing: completing, isolation: isolation, body)
    }

    package func exclusively(
        _ name: String,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> Void
    ) async throws {
        try await runExclusively(name, isolation: isolation, body)
    }
}

/// One process owns every object: nothing to fence, nothing to wait for.
package struct SingleProcess: WorkCoordination {
    package init() {}

    package func runFenced(
        _ objects: [ObjectKey],
        completing: [ObjectKey],
        isolation: isolated (any Actor)?,
        _ body: () async throws -> Void
    ) async throws { try await body() }

    package func runExclusively(
        _ name: String,
        isolation: isolated (any Actor)?,
        _ body: () async throws -> Void
    ) async throws { try await body() }

    /// The next run finishes them from their intents.
    package func giveBack(_ objects: [ObjectKey]) async {}

    package func claimRecords(_ keys: [String], wait: Bool) async throws -> Bool { true }

    package func claimEach(_ records: [[String]]) async throws -> [Bool] { records.map { _ in true } }

    package func releaseRecords(keeping: [String]) async {}

    package func verifyClaims() async throws {}
}
