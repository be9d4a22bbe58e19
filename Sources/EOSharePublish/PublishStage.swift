import EOShareCore
import EOShareEmbargo
import EOShareFetch
import EOShareNormalize
import EOShareState
import Foundation
import Logging

/// The embargo and publish stage: the only writer of the state, the ledger and the shared
/// tree during a run. Decides each record's audience at the run's instant and makes the
/// trees match it. Every change follows the same order, which survives a crash at any
/// point: intent recorded → catalogs stop naming what leaves → retracted folders moved out
/// → published files written (assets first) → confirmed in the state with its ledger lines
/// → catalogs name what arrived. One record's failure is its own: it is logged, counted and
/// remembered, and the run goes on with the others.
package actor PublishStage {
    package let pipeline: Pipeline
    package let state: any StateStore
    package let at: Date
    nonisolated package let logger: Logger
    package let engine: EmbargoEngine
    package let publisher: Publisher
    package var counts = IngestSummary()
    /// New and changed records, checked and stored, published together: one transaction
    /// for their intents, their files, one transaction for their confirmations.
    package var batch: [Prepared] = []
    /// The records and folders the batch holds: a record that meets one of them waits
    /// until the batch is published, so its checks read the state as it will be.
    package var batchKeys = Set<String>()
    package static let batchSize = 128
    /// Item hashes the ledger names, read when a reconciliation first needs them.
    package var publishedItemHashes: Set<String>?
    /// Records whose copies the convergence found must leave, retracted together.
    package var retractionQueue: [(record: StoredRecord, copies: [Publication])] = []
    /// Ledger lines committed in the state since the file last took them.
    package var unflushedLedgerLines = 0
    /// Other workers, if any: every change for an object is fenced by its claim.
    package var coordination: any WorkCoordination = SingleProcess()
    /// Objects whose records are all in the batch or confirmed: done with the next confirm.
    package var finishedObjects: [ObjectKey] = []
    /// Objects whose records are being taken in now (an `accept` suspended on the state).
    package var openObjects = Set<ObjectKey>()

    package func coordinate(with coordination: any WorkCoordination) { self.coordination = coordination }

    /// The run's number in the state (its quarantine rows carry it).
    nonisolated package let runId: Int64

    package init(pipeline: Pipeline, state: any StateStore, at: Date, runId: Int64, logger: Logger) throws {
        self.runId = runId
        self.pipeline = pipeline
        self.state = state
        self.at = at
        self.logger = logger
        engine = EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id))
        publisher = Publisher(root: pipeline.sharedRoot, collections: pipeline.collections)
        do {
            try FileManager.default.createDirectory(at: pipeline.sharedRoot, withIntermediateDirectories: true)
        } catch {
            throw POSIXIOError(op: "create", path: pipeline.sharedRoot.path, code: EACCES)
        }
        try publisher.prepare()
    }

    package func countDiscovered() { counts.discovered += 1 }

    package func sourceFailed(_ source: String, reason: String) async {
        await quarantine(source: source, object: source, reason: reason, file: nil)
    }

    package func accept(_ input: PublishInput) async {
        switch input {
        case .settled(.unchanged(let ref, let remember)):
            counts.unchanged += 1
            // New validators for the same bytes, kept so the next run asks conditionally; the
            // object is done with them (or alone).
            let key = ObjectKey(ref)
            do {
                try await coordination.fenced([key], completing: [key]) {
                    if let remember { try await state.saveObject(remember, at: at) }
                }
            } catch let e as FencedOut {
                fencedOut(e)
            } catch {
                logger.error("state: cannot remember unchanged object \(ref.url.absoluteString): \(error)")
            }
        case .settled(.refused(let ref, let reason, let evidence)):
            // Remember the bad bytes, and only them: the next run fetches the object again in
            // full (what failed may have been the transfer, which deserves another chance) and
            // judges it again (the sidecar or the index may have been put right meanwhile).
            if let evidence {
                do {
                    try await coordination.fenced([ObjectKey(ref)], completing: []) {
                        try await state.saveObject(
                            StoredObject(
                                url: ref.url.absoluteString,
                                source: ref.source,
                                etag: nil,
                                lastModified: nil,
                                size: nil,
                                sha256: evidence.sha256,
                                outcome: .refused,
                                reason: reason
                            ),
                            at: at
                        )
                    }
                } catch let e as FencedOut {
                    fencedOut(e)
                    WorkFiles.discard(evidence.file)
                    return
                } catch {
                    logger.error("state: cannot remember refused object \(ref.url.absoluteString): \(error)")
                }
            }
            await quarantine(
                source: ref.source,
                object: ref.url.absoluteString,
                reason: reason,
                file: evidence?.file,
                completing: ObjectKey(ref)
            )
            if let evidence { WorkFiles.discard(evidence.file) }
        case .settled(.rejected(let object, let rejection)):
            let reason = rejection.description
            // The transfer was sound, so its validators hold: while the object is unchanged,
            // the next run's conditional request gets a 304 and nothing is quarantined again.
            do {
                try await coordination.fenced([ObjectKey(object.ref)], completing: []) {
                    try await state.saveObject(
                        StoredObject(
                            url: object.ref.url.absoluteString,
                            source: object.ref.source,
                            etag: object.etag,
                            lastModified: object.lastModified,
                            size: object.ref.size ?? object.size,
                            sha256: object.sha256,
                            outcome: .quarantined,
                            reason: reason,
                            recordCollection: nil,
                            recordId: nil,
                            listed: object.listed
                        ),
                        at: at
                    )
                }
            } catch let e as FencedOut {
                fencedOut(e)
                WorkFiles.discard(object.file)
                return
            } catch {
                logger.error("state: cannot remember rejected object \(object.ref.url.absoluteString): \(error)")
            }
            await quarantine(
                source: object.ref.source,
                object: object.ref.url.absoluteString,
                reason: reason,
                file: object.file,
                completing: ObjectKey(object.ref)
            )
            WorkFiles.discard(object.file)
        case .records(let normalized):
            openObjects.insert(ObjectKey(normalized.object.ref))
            counts.fetched += 1
            counts.bytes += normalized.object.size
            let url = normalized.object.ref.url.absoluteString
            // A record the object held but that could not be normalized: quarantined alone,
            // named by its id (or place) and the field, while the object's others publish.
            for rejected in normalized.rejected {
                await quarantine(
                    source: normalized.object.ref.source,
                    object: "\(url) record \(rejected.label)",
                    reason: "normalize: \(rejected.error)",
                    file: nil
                )
            }
            for n in normalized.normalizedRecords {
                do {
                    try await publish(n)
                } catch let e as FencedOut {
                    fencedOut(e)
                } catch let e as Refusal {
                    await quarantine(source: n.record.source, object: url, reason: e.reason, file: n.object.file)
                } catch let e as PostgresStateError {
                    // The database, not the object, failed (a partition): a failure of this run
                    // (exit 74), never a quarantine; the next run fetches the object again.
                    counts.failed += 1
                    logger.error(
                        "publish \(n.record.collection)/\(n.record.id) from \(url): \(e)",
                        metadata: ["event": "failed", "object": "\(url)"]
                    )
                } catch {
                    await quarantine(
                        source: n.record.source,
                        object: url,
                        reason: "publish: \(error)",
                        file: n.object.file
                    )
                }
            }
            WorkFiles.discard(normalized.object.file)
            // Done with the confirmation of the batch that holds (or follows) its last record.
            openObjects.remove(ObjectKey(normalized.object.ref))
            finishedObjects.append(ObjectKey(normalized.object.ref))
            // Flushed only now, so that the object is done in the transaction that confirms its
            // records (a worker dying between the two would leave it to be published again).
            if batch.count >= Self.batchSize { await publishBatch() }
        }
    }

    /// Publishes what waits in the batch unless an object is half taken in (its records and its
    /// completion must share a transaction): what a worker with nothing left to claim does.
    package func flushWhenIdle() async {
        guard openObjects.isEmpty else { return }
        await publishBatch()
    }

    /// A change refused because another worker took its object meanwhile: counted, never applied.
    package func fencedOut(_ e: FencedOut) {
        counts.fenced += e.lost.count
        logger.warning("\(e)", metadata: ["event": "fenced"])
    }

    package struct Refusal: Error { var reason: String }

    /// A record checked and stored, waiting in the batch.
    package struct Prepared {
        package var record: StoredRecord
        package var item: JSONValue
        package var viewers: [Viewer]
        package var replacing: Bool
        package var object: StoredObject
        package var key: ObjectKey
    }

    /// A new or changed record: ownership and folder checks, its bytes stored, copies that
    /// must go retracted at once; then it joins the batch that publishes it to its audience.
    package func publish(_ n: NormalizedRecord) async throws {
        let r = n.record
        let objectURL = n.object.ref.url.absoluteString
        let place: ItemPlace
        do {
            place = try ItemPlace(start: r.startDatetime ?? r.datetime, id: r.id)
        } catch {
            throw Refusal(reason: "record \(r.id) in \(r.collection): \(error)")
        }
        let keys = RecordClaim.keys(collection: r.collection, id: r.id, folder: place.folder)
        if keys.contains(where: batchKeys.contains) { await publishBatch() }
        // The record is this worker's from before its state is read until its batch is
        // confirmed. Held by another worker: this one lets go of what it holds (its batch)
        // before it waits, so two workers never wait on each other.
        if try await !coordination.claimRecords(keys, wait: false) {
            await publishBatch()
            _ = try await coordination.claimRecords(keys, wait: true)
        }
        let known = try await state.lookup(
            collection: r.collection,
            id: r.id,
            folder: place.folder,
            objectURL: objectURL
        )
        let (existing, copies, objectOwner, folderTakenBy) = (
            known.existing, known.publications, known.objectOwner, known.folderTakenBy
        )
        if let existing, existing.subject.owner != r.owner {
            throw Refusal(
                reason:
                    "record \(r.id) in \(r.collection) belongs to \(existing.subject.owner); \(r.owner) may not replace it"
            )
        }
        if let objectOwner, objectOwner != r.owner {
            throw Refusal(reason: "object changed owner from \(objectOwner) to \(r.owner)")
        }
        if let other = folderTakenBy {
            throw Refusal(
                reason: "records \(r.id) and \(other) in \(r.collection) would share the folder \(place.folder)"
            )
        }
        let ingested = existing?.subject.ingested ?? at
        var stored: [StoredAsset] = []
        for a in r.assets {
            guard let file = a.localFile, let sha = a.sha256, let size = a.size else { continue }
            try publisher.store(file: file, sha256: sha)
            stored.append(StoredAsset(file: a.href, sha256: sha, size: size))
        }
        let item = STACItemWriter.item(for: r, ingested: ingested)
        let subject = EmbargoSubject(
            id: r.id,
            collection: r.collection,
            owner: r.owner,
            bbox: r.bbox,
            acquired: r.acquired,
            processed: r.processed,
            ingested: ingested
        )
        let record = StoredRecord(
            subject: subject,
            source: r.source,
            objectURL: objectURL,
            startTime: r.startDatetime ?? r.datetime,
            endTime: r.endDatetime ?? r.datetime,
            item: item.serialized(pretty: false),
            assets: stored,
            nextChange: engine.nextChange(of: subject, after: at),
            place: place
        )
        counts.records += 1
        let object = StoredObject(
            url: objectURL,
            source: r.source,
            etag: n.object.etag,
            lastModified: n.object.lastModified,
            size: n.object.ref.size ?? n.object.size,
            sha256: n.object.sha256,
            outcome: .record,
            reason: nil,
            recordCollection: r.collection,
            recordId: r.id,
            listed: n.object.listed
        )
        let audience = audience(of: record)
        let leaving = leavingCopies(record, copies, audience: audience)
        if !leaving.isEmpty {
            // Retractions do not wait: the batch goes first, then the copies leave.
            await publishBatch(keeping: keys)
            if let failure = await retract([(record, leaving)]).first { throw failure }
        }
        // The same record, whole where it belongs (fetched again after a crash or by another
        // worker): only its object is remembered; nothing is published twice.
        let whole = Set(copies.filter { $0.status == .published && $0.place == record.place }.map(\.viewer))
        let unchanged = existing?.item == record.item && existing?.assets == record.assets && whole == audience
        batch.append(
            Prepared(
                record: record,
                item: item,
                viewers: unchanged ? [] : engine.viewers.filter { audience.contains($0.folder) },
                replacing: existing != nil,
                object: object,
                key: ObjectKey(n.object.ref)
            )
        )
        batchKeys.formUnion(keys)
    }

    /// Publishes the batch: every intent in one transaction, then each record's files
    /// (assets before the item), then every confirmation with its ledger lines in one
    /// transaction. A record whose files fail is logged and counted; its intent stays for
    /// the next run, and the others go on. Then the records' claims go, but `keeping`'s.
    package func publishBatch(keeping claims: [String] = []) async {
        await publishBatchClaimed()
        await coordination.releaseRecords(keeping: claims)
    }

    private func publishBatchClaimed() async {
        var prepared = batch
        batch.removeAll(keepingCapacity: true)
        batchKeys.removeAll(keepingCapacity: true)
        var completing = finishedObjects
        finishedObjects.removeAll()
        guard !prepared.isEmpty else {
            await complete(completing)
            return
        }
        // Objects another worker took since are dropped, and the rest tried again.
        while true {
            do {
                try await coordination.fenced(prepared.map(\.key), completing: []) {
                    try await state.begin(
                        prepared.map {
                            Intent(record: $0.record, publishing: $0.viewers.map(\.folder), retracting: [])
                        },
                        at: at
                    )
                }
                break
            } catch let e as FencedOut {
                fencedOut(e)
                let lost = Set(e.lost.map { ObjectKey(source: $0.source, url: $0.url) })
                prepared.removeAll { lost.contains($0.key) }
                completing.removeAll { lost.contains($0) }
                if prepared.isEmpty {
                    await complete(completing)
                    return
                }
            } catch {
                for p in prepared { await failed("publish", p.record.subject, p.viewers.map(\.folder), error) }
                await coordination.giveBack(prepared.map(\.key) + completing)
                return
            }
        }
        CrashPoint.hit("publish.after-intent")
        do {
            try await coordination.verifyClaims()
        } catch {
            // Another worker may own these records now: their intents stay, for it or the next run.
            for p in prepared { await failed("publish", p.record.subject, p.viewers.map(\.folder), error) }
            await coordination.giveBack(prepared.map(\.key) + completing)
            return
        }
        var confirmations: [(key: ObjectKey, confirmation: Confirmation)] = []
        var written: [Prepared] = []
        confirmations.reserveCapacity(prepared.count)
        for p in prepared {
            let s = p.record.subject
            do {
                let sha = try publisher.publish(
                    item: p.item,
                    assets: p.record.assets,
                    collection: s.collection,
                    place: p.record.place,
                    to: p.viewers,
                    replacing: p.replacing
                )
                confirmations.append(
                    (
                        p.key,
                        Confirmation(
                            collection: s.collection,
                            id: s.id,
                            day: p.record.place.day,
                            published: p.viewers.map(\.folder),
                            retracted: [],
                            object: p.object,
                            ledger: p.viewers.map { ledgerEvent("publish", s, viewer: $0.folder, item: sha) }
                        )
                    )
                )
                written.append(p)
            } catch {
                await failed("publish", s, p.viewers.map(\.folder), error)
            }
        }
        CrashPoint.hit("publish.after-trees")
        while true {
            do {
                let batch = confirmations
                try await coordination.fenced(batch.map(\.key), completing: completing) {
                    try await state.confirm(batch.map(\.confirmation), at: at)
                }
                break
            } catch let e as FencedOut {
                // Their intents stay, for the worker that holds them now (or the next run).
                fencedOut(e)
                let lost = Set(e.lost.map { ObjectKey(source: $0.source, url: $0.url) })
                confirmations.removeAll { lost.contains($0.key) }
                written.removeAll { lost.contains($0.key) }
                completing.removeAll { lost.contains($0) }
            } catch {
                for p in prepared { await failed("publish", p.record.subject, p.viewers.map(\.folder), error) }
                await coordination.giveBack(confirmations.map(\.key) + completing)
                return
            }
        }
        CrashPoint.hit("publish.after-confirm")
        await ledgerLinesCommitted(confirmations.reduce(0) { $0 + $1.confirmation.ledger.count })
        for p in written {
            counts.published += p.viewers.count
            for viewer in p.viewers { logChange("publish", p.record.subject, viewer: viewer) }
        }
    }

    /// Marks objects done that had no change of their own left to commit.
    package func complete(_ objects: [ObjectKey]) async {
        guard !objects.isEmpty else { return }
        do {
            try await coordination.fenced([], completing: objects) {}
        } catch let e as FencedOut {
            fencedOut(e)
            // The others are still this worker's: done without the lost ones.
            let lost = Set(e.lost.map { ObjectKey(source: $0.source, url: $0.url) })
            await complete(objects.filter { !lost.contains($0) })
        } catch {
            logger.error("state: cannot mark \(objects.count) objects done: \(error)")
        }
    }

    /// Hands committed ledger lines to the file every thousand or so: the state keeps them
    /// until then, and a run of a million records must not hold a million lines.
    package func ledgerLinesCommitted(_ count: Int) async {
        unflushedLedgerLines += count
        guard unflushedLedgerLines >= 1024 else { return }
        do {
            try await Ledger.flush(state: state, to: pipeline.ledgerPath)
            unflushedLedgerLines = 0
        } catch {
            // The lines stay committed in the state; the run's last flush tries again and
            // fails the run if the file still cannot take them.
            logger.error("ledger: \(error)")
        }
    }

    package func audience(of record: StoredRecord) -> Set<String> {
        Set(engine.audience(of: record.subject, at: at).map(\.folder))
    }

    /// Copies that must go: the viewer may not see the record (or left the pipeline), the
    /// copy is an unfinished retraction, or it lies where the record no longer is.
    package func leavingCopies(
        _ record: StoredRecord,
        _ copies: [Publication],
        audience: Set<String>
    ) -> [Publication] {
        copies.filter { !audience.contains($0.viewer) || $0.status == .retracting || $0.place != record.place }
    }

    // MARK: The two primitives

    /// Retracts copies of records, many at once: every intent first, then the catalogs that
    /// named them (or, when a catalog cannot be written, its removal), then each copy's
    /// folder, then each record's confirmation with its ledger lines. Returns the failures,
    /// each already logged and remembered; none stops the others.
    package func retract(_ batch: [(record: StoredRecord, copies: [Publication])]) async -> [any Error] {
        var failures: [any Error] = []
        var begun: [(record: StoredRecord, copies: [Publication])] = []
        for (record, copies) in batch where !copies.isEmpty {
            do {
                try await state.begin([Intent(record: record, publishing: [], retracting: copies)], at: at)
                begun.append((record, copies))
            } catch {
                await failures.append(failed("retract", record.subject, copies.map(\.viewer), error))
            }
        }
        guard !begun.isEmpty else { return failures }
        CrashPoint.hit("retract.after-intent")
        do {
            try await coordination.verifyClaims()
        } catch {
            for (record, copies) in begun {
                await failures.append(failed("retract", record.subject, copies.map(\.viewer), error))
            }
            return failures
        }
        do {
            try await writeDirtyCatalogs()
        } catch {
            // A catalog that cannot be rewritten (a full disk) is removed instead: a removed
            // file names nothing, and the next run writes it again.
            logger.error("catalogs: \(error); removing the day catalogs of retracted items instead")
            counts.failed += 1
            for (record, copies) in begun {
                for copy in copies {
                    publisher.removeDayCatalog(
                        viewer: Viewer(folder: copy.viewer),
                        collection: record.subject.collection,
                        day: copy.place.day
                    )
                }
            }
        }
        CrashPoint.hit("retract.after-catalog")
        for (record, copies) in begun {
            let s = record.subject
            var gone: [Publication] = []
            for copy in copies {
                do {
                    try publisher.retract(
                        collection: s.collection,
                        place: copy.place,
                        from: Viewer(folder: copy.viewer)
                    )
                    gone.append(copy)
                } catch {
                    await failures.append(failed("retract", s, [copy.viewer], error))
                }
            }
            guard !gone.isEmpty else { continue }
            do {
                try await state.confirm(
                    [
                        Confirmation(
                            collection: s.collection,
                            id: s.id,
                            day: record.place.day,
                            published: [],
                            retracted: gone.map(\.viewer),
                            object: nil,
                            ledger: gone.map { ledgerEvent("retract", s, viewer: $0.viewer, item: nil) }
                        )
                    ],
                    at: at
                )
                counts.retracted += gone.count
                CrashPoint.hit("retract.after-confirm")
                await ledgerLinesCommitted(gone.count)
                for copy in gone { logChange("retract", s, viewer: Viewer(folder: copy.viewer)) }
            } catch {
                await failures.append(failed("retract", s, gone.map(\.viewer), error))
            }
        }
        return failures
    }

    /// Publishes a record to viewers at its place: intent, files (assets before the item),
    /// confirmation with the ledger lines; the catalogs name the copies from the next
    /// catalog write on. With no viewers it still records the record and its object.
    package func publishCopies(
        _ record: StoredRecord,
        item: JSONValue?,
        to viewers: [Viewer],
        replacing: Bool,
        object: StoredObject?,
        event: String
    ) async throws {
        let s = record.subject
        try await state.begin([Intent(record: record, publishing: viewers.map(\.folder), retracting: [])], at: at)
        CrashPoint.hit("publish.after-intent")
        try await coordination.verifyClaims()
        var sha: String?
        if !viewers.isEmpty {
            if let lost = record.assets.first(where: { !publisher.hasStored(sha256: $0.sha256) }) {
                // The store lost these bytes: forget the object, so this run's fetch takes it again.
                try? await state.forgetObject(url: record.objectURL)
                throw POSIXIOError(
                    op: "store file \(lost.sha256) of asset \(lost.file) is gone;",
                    path: record.objectURL,
                    code: ENOENT
                )
            }
            sha = try publisher.publish(
                item: try item ?? JSONValue.parse(record.item),
                assets: record.assets,
                collection: s.collection,
                place: record.place,
                to: viewers,
                replacing: replacing
            )
        }
        CrashPoint.hit("publish.after-trees")
        try await state.confirm(
            [
                Confirmation(
                    collection: s.collection,
                    id: s.id,
                    day: record.place.day,
                    published: viewers.map(\.folder),
                    retracted: [],
                    object: object,
                    ledger: viewers.map { ledgerEvent(event, s, viewer: $0.folder, item: sha) }
                )
            ],
            at: at
        )
        CrashPoint.hit("publish.after-confirm")
        await ledgerLinesCommitted(viewers.count)
        if event == "release" { counts.released += viewers.count } else { counts.published += viewers.count }
        for viewer in viewers { logChange(event, s, viewer: viewer) }
    }

    /// One `-v` line per copy published, released or retracted, naming the member and what
    /// decided it; under `--log-format json` its fields can be searched.
    package func logChange(_ event: String, _ s: EmbargoSubject, viewer: Viewer) {
        guard logger.logLevel <= .info else { return }
        let reason = engine.explanation(s, for: viewer, at: at)
        let verb = ["publish": "published", "release": "released", "retract": "retracted"][event] ?? event
        logger.info(
            "\(verb) \(s.collection)/\(s.id) \(event == "retract" ? "from" : "to") \(viewer.folder): \(reason)",
            metadata: ["event": "\(event)", "record": "\(s.id)", "member": "\(viewer.folder)", "reason": "\(reason)"]
        )
    }

    /// Logs a failed change, remembers it on the copies (so the next run tries it after the
    /// others) and counts it; returns the error for the caller.
    @discardableResult
    package func failed(_ what: String, _ s: EmbargoSubject, _ viewers: [String], _ error: any Error) async -> any Error
    {
        counts.failed += 1
        let line = "\(what) \(s.collection)/\(s.id) (\(viewers.joined(separator: ","))): \(error)"
        logger.error("\(line)")
        do {
            try await state.recordFailure(collection: s.collection, id: s.id, viewers: viewers, error: "\(error)")
        } catch {
            logger.error("state: cannot remember the failure of \(s.collection)/\(s.id): \(error)")
        }
        return error
    }

    // MARK: Catalogs

    /// Rewrites the catalogs of every (viewer, collection, day) the state marked, from the
    /// state's published copies, then the viewers' root catalogs.
    ///
    /// A mark comes off only after its catalogs are written, and only if no change marked it
    /// again since it was read (another worker's, committed meanwhile, is then written by the
    /// next writer). A worker killed or cut off in between leaves its marks to the next one.
    /// Every change commits its mark before its worker reads the marks, so a day whose mark
    /// another worker took off was written from a state that held the change.
    package func writeDirtyCatalogs() async throws {
        let dirty = try await state.dirtyCatalogs()
        guard !dirty.isEmpty else { return }
        let current = Set(engine.viewers.map(\.folder))
        var days: [String: [String: Set<String>]] = [:]  // viewer → collection → days
        for c in dirty.map(\.key) where current.contains(c.viewer) {
            days[c.viewer, default: [:]][c.collection, default: []].insert(c.day)
        }
        for (viewer, collections) in days.sorted(by: { $0.key < $1.key }) {
            for (collection, changed) in collections.sorted(by: { $0.key < $1.key }) {
                // Read from the state and written as one step among all workers: no worker
                // writes a catalog from a snapshot older than one already written.
                try await coordination.exclusively("catalog \(viewer)/\(collection)") {
                    try await writeCatalogs(viewer: viewer, collection: collection, days: changed.sorted())
                }
            }
            try await coordination.exclusively("catalog \(viewer)") {
                try await writeRootCatalog(Viewer(folder: viewer))
            }
        }
        try await state.clearDirtyCatalogs(dirty)
    }

    package func writeCatalogs(viewer: String, collection: String, days changed: [String]) async throws {
        let contents = Publisher.CollectionContents(
            days: try await state.catalogDays(viewer: viewer, collection: collection),
            extent: try await state.extent(viewer: viewer, collection: collection)
        )
        let title = pipeline.collections.first { $0.id == collection }?.title ?? collection
        let items = try await state.catalogItems(viewer: viewer, collection: collection, days: changed)
        var changedDays: [String: [String]] = [:]
        for day in changed { changedDays[day] = items[day]?.map(\.folder) ?? [] }
        try publisher.writeCatalogs(
            viewer: Viewer(folder: viewer),
            collection: collection,
            changedDays: changedDays,
            contents: contents,
            title: title
        )
    }

    package func writeRootCatalog(_ viewer: Viewer) async throws {
        let name: String
        switch viewer {
        case .member(let id): name = pipeline.member(id)?.name ?? id
        case .public: name = "the public"
        }
        try publisher.writeRootCatalog(
            for: viewer,
            name: name,
            collections: try await state.publishedCollections(viewer: viewer.folder)
        )
    }

    /// The run's last step: catalogs of what changed (the state remembers them from the
    /// moment of change, so a killed run's are written by the next), a root catalog for
    /// every viewer, and the ledger's lines appended to `ledger.jsonl` and synced.
    package func finish() async throws {
        await publishBatch()
        do {
            try await writeDirtyCatalogs()
            for viewer in engine.viewers {
                let catalog = publisher.treeFolder(viewer).appendingPathComponent("catalog.json", isDirectory: false)
                if access(catalog.path, F_OK) != 0 {
                    try await coordination.exclusively("catalog \(viewer.folder)") {
                        try await writeRootCatalog(viewer)
                    }
                }
            }
        } catch {
            // The state still marks them: the next run writes them.
            counts.failed += 1
            logger.error("catalogs: \(error)")
        }
        try await Ledger.flush(state: state, to: pipeline.ledgerPath)
        try await coordination.exclusively("convergence") { try await advanceIdentity() }
    }

    package func summary(seconds: Double) -> IngestSummary {
        var s = counts
        s.seconds = seconds
        return s
    }

    package func ledgerEvent(_ event: String, _ s: EmbargoSubject, viewer: String, item sha: String?) -> LedgerEvent {
        var fields: [(String, JSONValue)] = [
            ("record", .string(s.id)), ("collection", .string(s.collection)), ("owner", .string(s.owner)),
            ("member", .string(viewer)),
        ]
        if let sha { fields.append(("item_sha256", .string(sha))) }
        return LedgerEvent(event: event, at: at, fields: fields)
    }

    /// Moves the object's bytes aside with a one-line reason naming the object and the cause.
    package func quarantine(
        source: String,
        object: String,
        reason: String,
        file: URL?,
        completing done: ObjectKey? = nil
    ) async {
        let line = "\(object): \(reason)"
        do {
            try await coordination.fenced(done.map { [$0] } ?? [], completing: done.map { [$0] } ?? []) {
                try await state.addQuarantine(
                    runId: runId,
                    source: source,
                    object: object,
                    reason: reason,
                    at: at,
                    ledger: LedgerEvent(
                        event: "quarantine",
                        at: at,
                        fields: [("source", .string(source)), ("object", .string(object)), ("reason", .string(reason))]
                    )
                )
            }
        } catch let e as FencedOut {
            fencedOut(e)
            if let file { WorkFiles.discard(file) }
            return
        } catch {
            // Not recorded is not quarantined as far as anyone can tell later: the run fails.
            counts.failed += 1
            logger.error("state: cannot record the quarantine of \(object): \(error)")
        }
        counts.quarantined += 1
        logger.warning(
            "quarantined \(line)",
            metadata: ["event": "quarantine", "object": "\(object)", "reason": "\(reason)"]
        )
        if let file, FileManager.default.fileExists(atPath: file.path) {
            let folder = pipeline.quarantineFolder.appendingPathComponent(source, isDirectory: false)
            try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let stamp = Timestamp.format(at).replacingOccurrences(of: ":", with: "")
            let dest = folder.appendingPathComponent("\(stamp)-\(file.lastPathComponent)", isDirectory: false)
            try? FileManager.default.removeItem(at: dest)
            try? FileManager.default.moveItem(at: file, to: dest)
            try? AtomicFile.write(Array((line + "\n").utf8), to: dest.appendingPathExtension("reason"))
        }
    }
}

extension ObjectKey {
    package init(_ ref: ObjectRef) { self.init(source: ref.source, url: ref.url.absoluteString) }
}
