import Foundation
import Logging

/// The run's counts (CONTRACT §2 summary line).
public struct IngestSummary: Sendable {
    public var discovered = 0
    public var fetched = 0
    public var unchanged = 0
    public var bytes: Int64 = 0
    public var records = 0
    public var published = 0
    public var released = 0
    public var retracted = 0
    public var quarantined = 0
    public var seconds = 0.0

    public var line: String {
        "discovered=\(discovered) fetched=\(fetched) unchanged=\(unchanged) bytes=\(bytes) records=\(records) "
            + "published=\(published) released=\(released) retracted=\(retracted) quarantined=\(quarantined) "
            + "seconds=\(String(format: "%.2f", seconds))"
    }

    public var json: JSONValue {
        .object([
            "discovered": .int(Int64(discovered)), "fetched": .int(Int64(fetched)), "unchanged": .int(Int64(unchanged)),
            "bytes": .int(bytes), "records": .int(Int64(records)), "published": .int(Int64(published)),
            "released": .int(Int64(released)), "retracted": .int(Int64(retracted)),
            "quarantined": .int(Int64(quarantined)), "seconds": .number((seconds * 1000).rounded() / 1000),
        ])
    }
}

/// The embargo and publish stage: the only writer of the state, the ledger and the shared
/// tree during a run. Decides each record's audience at the run's instant and makes the
/// tree match it, publishing before recording and recording before retracting.
actor PublishStage {
    let pipeline: Pipeline
    let state: StateStore
    let at: Date
    let logger: Logger
    let engine: EmbargoEngine
    let publisher: Publisher
    let ledger: Ledger
    var counts = IngestSummary()

    init(pipeline: Pipeline, state: StateStore, at: Date, logger: Logger) throws {
        self.pipeline = pipeline
        self.state = state
        self.at = at
        self.logger = logger
        engine = EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id))
        publisher = Publisher(root: pipeline.sharedRoot, collections: pipeline.collections)
        ledger = try Ledger(url: pipeline.ledgerPath)
        do {
            try FileManager.default.createDirectory(at: pipeline.sharedRoot, withIntermediateDirectories: true)
        } catch {
            throw POSIXIOError(op: "create", path: pipeline.sharedRoot.path, code: EACCES)
        }
        try publisher.prepare()
    }

    func countDiscovered() { counts.discovered += 1 }

    func sourceFailed(_ source: String, reason: String) {
        quarantine(source: source, object: source, reason: reason, file: nil)
    }

    func accept(_ work: IngestRun.Work) {
        switch work {
        case .unchanged:
            counts.unchanged += 1
        case .quarantined(let ref, let reason, let evidence):
            // Remember the bad bytes, and only them: the next run fetches the object again in
            // full (what failed may have been the transfer, which deserves another chance) and
            // judges it again (the sidecar or the index may have been put right meanwhile).
            if let evidence {
                try? state.saveObject(
                    StateStore.StoredObject(
                        url: ref.url.absoluteString, source: ref.source, etag: nil, lastModified: nil,
                        size: nil, sha256: evidence.sha256, outcome: "refused", reason: reason), at: at)
            }
            quarantine(source: ref.source, object: ref.url.absoluteString, reason: reason, file: evidence?.file)
            if let evidence { WorkFiles.discard(evidence.file) }
        case .rejected(let object, let reason):
            // The transfer was sound, so its validators hold: while the object is unchanged,
            // the next run's conditional request gets a 304 and nothing is quarantined again.
            try? state.saveObject(
                StateStore.StoredObject(
                    url: object.ref.url.absoluteString, source: object.ref.source, etag: object.etag,
                    lastModified: object.lastModified, size: object.ref.size ?? object.size, sha256: object.sha256,
                    outcome: "quarantined", reason: reason, recordCollection: nil, recordId: nil, listed: object.listed),
                at: at)
            quarantine(source: object.ref.source, object: object.ref.url.absoluteString, reason: reason, file: object.file)
            WorkFiles.discard(object.file)
        case .normalized(let normalized):
            counts.fetched += 1
            counts.bytes += normalized.object.size
            let url = normalized.object.ref.url.absoluteString
            // A record the object held but that could not be normalized: quarantined alone,
            // named by its id (or place) and the field, while the object's others publish.
            for rejected in normalized.rejected {
                quarantine(
                    source: normalized.object.ref.source, object: "\(url) record \(rejected.label)",
                    reason: "normalize: \(rejected.error)", file: nil)
            }
            for n in normalized.normalizedRecords {
                do {
                    try publish(n)
                } catch let e as Refusal {
                    quarantine(source: n.record.source, object: url, reason: e.reason, file: n.object.file)
                } catch {
                    quarantine(source: n.record.source, object: url, reason: "publish: \(error)", file: n.object.file)
                }
            }
            WorkFiles.discard(normalized.object.file)
        case .fetched, .unpacked:
            preconditionFailure("the stage chain hands only normalized, unchanged or quarantined work to publish")
        }
    }

    struct Refusal: Error { var reason: String }

    /// A new or changed record: ownership checks, store its bytes, publish to its audience.
    func publish(_ n: NormalizedRecord) throws {
        let r = n.record
        let objectURL = n.object.ref.url.absoluteString
        let (existing, current, objectOwner) = try state.lookup(collection: r.collection, id: r.id, objectURL: objectURL)
        if let existing, existing.subject.owner != r.owner {
            throw Refusal(
                reason: "record \(r.id) in \(r.collection) belongs to \(existing.subject.owner); \(r.owner) may not replace it")
        }
        if let objectOwner, objectOwner != r.owner {
            throw Refusal(reason: "object changed owner from \(objectOwner) to \(r.owner)")
        }
        let ingested = existing?.subject.ingested ?? at
        var stored: [StateStore.StoredAsset] = []
        for a in r.assets {
            guard let file = a.localFile, let sha = a.sha256, let size = a.size else { continue }
            try publisher.store(file: file, sha256: sha)
            stored.append(StateStore.StoredAsset(file: a.href, sha256: sha, size: size))
        }
        let item = STACItemWriter.item(for: r, ingested: ingested)
        let subject = EmbargoSubject(
            id: r.id, collection: r.collection, owner: r.owner, bbox: r.bbox, acquired: r.acquired,
            processed: r.processed, ingested: ingested)
        let record = StateStore.StoredRecord(
            subject: subject, source: r.source, objectURL: objectURL, startTime: r.startDatetime ?? r.datetime,
            endTime: r.endDatetime ?? r.datetime, item: item.serialized(pretty: false), assets: stored,
            nextChange: engine.nextChange(of: subject, after: at))
        counts.records += 1
        let audience = engine.audience(of: subject, at: at)
        // A changed record goes again to everyone who may see it, and leaves those who may not.
        let leaving = engine.viewers.filter { current.contains($0.folder) && !audience.contains($0) }
        let object = StateStore.StoredObject(
            url: objectURL, source: r.source, etag: n.object.etag, lastModified: n.object.lastModified,
            size: n.object.ref.size ?? n.object.size, sha256: n.object.sha256, outcome: "record", reason: nil,
            recordCollection: r.collection, recordId: r.id, listed: n.object.listed)
        try apply(record, item: item, publishing: audience, retracting: leaving, replacing: existing != nil, object: object)
        counts.published += audience.count
        logger.info("published \(r.collection)/\(r.id) to \(audience.map(\.folder).joined(separator: ","))")
    }

    /// Makes the trees match a decision, in the order that survives a crash at any point:
    /// intents recorded → retracted files removed (item JSON first) → published files
    /// written (assets first) → confirmed in the state → ledger.
    func apply(
        _ record: StateStore.StoredRecord, item: JSONValue?, publishing: [Viewer], retracting: [Viewer], replacing: Bool,
        object: StateStore.StoredObject?, event: String = "publish"
    ) throws {
        let s = record.subject
        try state.begin(
            record: record, publishing: publishing.map(\.folder), retracting: retracting.map(\.folder), at: at)
        for viewer in retracting {
            try publisher.retract(collection: s.collection, id: s.id, from: viewer)
        }
        if !publishing.isEmpty {
            try publisher.publish(
                item: try item ?? JSONValue.parse(record.item), assets: record.assets, collection: s.collection,
                id: s.id, to: publishing, replacing: replacing)
        }
        try state.confirm(
            collection: s.collection, id: s.id, published: publishing.map(\.folder), retracted: retracting.map(\.folder),
            object: object, at: at)
        for viewer in retracting {
            try ledger.append(event: "retract", at: at, fields: ledgerFields(record, viewer))
        }
        for viewer in publishing {
            try ledger.append(event: event, at: at, fields: ledgerFields(record, viewer))
        }
        counts.retracted += retracting.count
    }

    /// Finishes what a killed run left half done, deciding each unfinished publication again
    /// at this run's instant: it is completed if the viewer may see the record, undone if not.
    func recover() throws {
        publisher.clearTemporaryFiles()
        let unfinished = try state.unfinishedPublications()
        guard !unfinished.isEmpty else { return }
        logger.notice("finishing \(unfinished.count) publications a previous run left unfinished")
        var byRecord: [String: [(String, String, String, String)]] = [:]
        for u in unfinished { byRecord["\(u.collection)/\(u.id)", default: []].append(u) }
        for (_, rows) in byRecord.sorted(by: { $0.key < $1.key }) {
            guard let record = try state.record(collection: rows[0].0, id: rows[0].1) else { continue }
            let audience = Set(engine.audience(of: record.subject, at: at).map(\.folder))
            var publishing: [Viewer] = []
            var retracting: [Viewer] = []
            for (_, _, viewerName, status) in rows {
                let viewer = Viewer(folder: viewerName)
                if status == "publishing" && audience.contains(viewerName) {
                    publishing.append(viewer)
                } else {
                    retracting.append(viewer)
                }
            }
            try apply(record, item: nil, publishing: publishing, retracting: retracting, replacing: true, object: nil)
        }
    }

    /// Re-evaluates records whose next change is due (all of them when the policy changed).
    func reevaluate() throws {
        let fingerprint = pipeline.policy.fingerprint(members: pipeline.members.map(\.id))
        let policyChanged = try state.meta("policy") != fingerprint
        try state.forEachRecord(dueAt: policyChanged ? nil : at) { record in
            try reevaluate(record)
        }
        try state.setMeta("policy", fingerprint)
    }

    /// Makes one known record's trees match its audience at the run's instant.
    func reevaluate(_ stored: StateStore.StoredRecord) throws {
        var record = stored
        let s = record.subject
        let current = try state.viewers(collection: s.collection, id: s.id)
        let audience = engine.audience(of: s, at: at)
        record.nextChange = engine.nextChange(of: s, after: at)
        let leaving = engine.viewers.filter { current.contains($0.folder) && !audience.contains($0) }
        let released = audience.filter { !current.contains($0.folder) }
        guard !released.isEmpty || !leaving.isEmpty else {
            if record.nextChange != stored.nextChange {
                try state.setNextChange(collection: s.collection, id: s.id, record.nextChange)
            }
            return
        }
        try apply(record, item: nil, publishing: released, retracting: leaving, replacing: false, object: nil, event: "release")
        counts.released += released.count
    }

    /// Rewrites the collections whose items changed (the state remembers them from the
    /// moment of change, so a killed run's are rewritten by the next), then the catalogs
    /// that link them; syncs the ledger.
    func finish() throws {
        let dirty = try state.dirtyCollections()
        var viewersToWrite = Set(dirty.map { Viewer(folder: $0.viewer) })
        for viewer in engine.viewers {
            let catalog = pipeline.sharedRoot.appendingPathComponent(viewer.folder).appendingPathComponent("catalog.json")
            if !FileManager.default.fileExists(atPath: catalog.path) { viewersToWrite.insert(viewer) }
        }
        for (viewer, collection) in dirty {
            try publisher.writeCollection(
                collection, for: Viewer(folder: viewer), items: try state.publishedItems(viewer: viewer, collection: collection))
        }
        for viewer in viewersToWrite {
            let name: String
            switch viewer {
            case .member(let id): name = pipeline.member(id)?.name ?? id
            case .public: name = "the public"
            }
            try publisher.writeCatalog(
                for: viewer, name: name, collections: try state.publishedCollections(viewer: viewer.folder))
        }
        try state.clearDirtyCollections(dirty)
        try ledger.sync()
    }

    func summary(seconds: Double) -> IngestSummary {
        var s = counts
        s.seconds = seconds
        return s
    }

    func ledgerFields(_ record: StateStore.StoredRecord, _ viewer: Viewer) -> [(String, JSONValue)] {
        [
            ("record", .string(record.subject.id)), ("collection", .string(record.subject.collection)),
            ("owner", .string(record.subject.owner)), ("member", .string(viewer.folder)),
        ]
    }

    /// Moves the object's bytes aside with a one-line reason naming the object and the cause.
    func quarantine(source: String, object: String, reason: String, file: URL?) {
        counts.quarantined += 1
        let line = "\(object): \(reason)"
        logger.warning("quarantined \(line)")
        try? state.addQuarantine(runId: nil, source: source, object: object, reason: reason, at: at)
        try? ledger.append(
            event: "quarantine", at: at, fields: [("source", .string(source)), ("object", .string(object)), ("reason", .string(reason))])
        if let file, FileManager.default.fileExists(atPath: file.path) {
            let folder = pipeline.quarantineFolder.appendingPathComponent(source)
            try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let stamp = Timestamp.format(at).replacingOccurrences(of: ":", with: "")
            let dest = folder.appendingPathComponent("\(stamp)-\(file.lastPathComponent)")
            try? FileManager.default.removeItem(at: dest)
            try? FileManager.default.moveItem(at: file, to: dest)
            try? AtomicFile.write(Array((line + "\n").utf8), to: dest.appendingPathExtension("reason"))
        }
    }
}
