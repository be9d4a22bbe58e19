import EOShareCore
import EOShareEmbargo
import EOShareFetch
import EOShareNormalize
import EOShareState
import Foundation

/// The start of every run: whatever state the trees and the state are in, make every tree
/// hold exactly what its viewer may see at the run's instant (CONTRACT §5).
///
/// The normal case costs O(changes): only records whose next change is due are looked at.
/// Everything is looked at when the policy or the member list changed or the run's instant
/// is earlier than the last run's (a replay, a clock stepped back). The trees themselves are
/// read, as the audit reads them, when something says they and the state may disagree: the
/// identity the trees keep of the state (and the state of the trees) does not match (a
/// state lost, replaced or restored from an older copy; a shared root replaced), the layout
/// changed, or the operator asked (`--reconcile`).
///
/// Every retraction comes before any publication or release, and each record's failure is
/// its own: it is logged, counted and remembered, and the others go on.
extension PublishStage {
    package func converge(reconcileRequested: Bool) async throws {
        // Ledger lines a killed run committed to the state but did not write. They stay in the
        // state if the file cannot take them now; that must not hold up any retraction.
        do {
            try await Ledger.flush(state: state, to: pipeline.ledgerPath)
        } catch {
            counts.failed += 1
            logger.error("ledger: \(error)")
        }
        // Other workers' files being written are not a killed run's: only old ones go then.
        publisher.clearTemporaryFiles(olderThan: coordination is SingleProcess ? nil : 3600)
        try await checkIdentity(requested: reconcileRequested)
        let fingerprint = pipeline.policy.fingerprint(members: pipeline.members.map(\.id))
        let policyChanged = try await state.meta("policy") != fingerprint
        let lastAt = try await state.meta("last_at").flatMap(Double.init)
        let clockBack = lastAt.map { at.timeIntervalSince1970 < $0 } ?? false
        if clockBack {
            logger.notice(
                "this run's instant \(Timestamp.format(at)) is earlier than the last run's: every record is evaluated again"
            )
        }

        // Retractions: trees of members that left, copies the trees hold that nothing
        // explains, unfinished retractions, then every due record's leaving copies.
        await removeTreesOfLeftMembers()
        var reconciled = false
        if let reason = try await state.meta("reconcile") {
            logger.notice("reconciling the trees with the state: \(reason)")
            // Kept when anything could not be mended, so the next run reads the trees again.
            if try await reconcileTrees() { try await state.deleteMeta("reconcile") }
            reconciled = true
        }
        // What a killed run left half done: its retractions, then its publications.
        let unfinished = try await state.unfinishedRecords()
        for key in unfinished {
            if let record = try await state.record(collection: key.collection, id: key.id) {
                try await queueRetraction(record)
            }
        }
        await retractQueued()
        for key in unfinished {
            if let record = try await state.record(collection: key.collection, id: key.id) {
                await release(record, finishing: true)
            }
        }
        // Every record is evaluated again by `reevaluateDue`. Marked before the policy and the
        // instant are recorded, so a worker that dies in between leaves them marked.
        if policyChanged || clockBack || reconciled { try await state.markAllDue() }
        try await state.setMeta("policy", fingerprint)
        try await state.setMeta("last_at", String(at.timeIntervalSince1970))
    }

    /// Evaluates again every record due at the run's instant, shared with the other workers
    /// (CONTRACT §7): a page of due records is claimed at once, each record as `publish`
    /// claims one, and a record another worker holds is left to it. Every retraction of the
    /// pass comes first, then the releases. Last, every record still due is waited for and
    /// done here: another worker held it, and died or failed. So when this returns, no
    /// record is still due that this worker did not try, and none it tried twice.
    package func reevaluateDue() async throws {
        var failed = Set<RecordKey>()
        try await forEachDueRecordClaimed { try await self.queueRetraction(claimed: $0) }
        try await forEachDueRecordClaimed {
            if await !self.release(claimed: $0, finishing: false) { failed.insert(RecordKey($0.subject)) }
        }
        try await state.forEachRecord(dueAt: at) { listed in
            guard !failed.contains(RecordKey(listed.subject)) else { return }
            if let record = try await claim(listed), isDue(record) {
                try await queueRetraction(claimed: record)
                await retractQueued(keepingClaims: record.claimKeys)
                if await !release(claimed: record, finishing: false) { failed.insert(RecordKey(record.subject)) }
            }
            await coordination.releaseRecords(keeping: [])
        }
    }

    /// Due records a page at a time, each page claimed at once; `body` gets those this worker
    /// claimed and that are still due once read again under the claim. The page's queued
    /// retractions are done, and its claims let go, before the next page.
    func forEachDueRecordClaimed(_ body: (StoredRecord) async throws -> Void) async throws {
        var after: RecordKey?
        while true {
            let page = try await state.recordPage(dueAt: at, after: after, limit: 128)
            guard let last = page.last else { return }
            after = RecordKey(last.subject)
            let claimed = try await coordination.claimEach(page.map(\.claimKeys))
            for (listed, mine) in zip(page, claimed) where mine {
                // Another worker may have done it or changed it (a new version) since it was listed.
                guard let record = try await readAgain(listed, wait: false), isDue(record) else { continue }
                try await body(record)
            }
            await retractQueued()
        }
    }

    /// Whether a record's visibility may have changed by the run's instant.
    func isDue(_ record: StoredRecord) -> Bool { record.nextChange.map { $0 <= at } ?? false }

    /// The claimed record as the state holds it now (one process alone: as listed), claimed
    /// in the folder it has now too; nil when it is gone, or its new folder is another
    /// worker's and `wait` is false.
    func readAgain(_ listed: StoredRecord, wait: Bool) async throws -> StoredRecord? {
        if coordination is SingleProcess { return listed }
        let s = listed.subject
        guard let record = try await state.record(collection: s.collection, id: s.id) else { return nil }
        if record.place.folder != listed.place.folder {
            guard try await coordination.claimRecords(record.claimKeys, wait: wait) else { return nil }
        }
        return record
    }

    /// Queues a record's copies that must leave; retracts them 256 records at a time.
    /// A record is claimed (as `publish` claims it) before its copies are read, and until
    /// they are gone.
    package func queueRetraction(_ listed: StoredRecord) async throws {
        guard let record = try await claim(listed) else { return }
        try await queueRetraction(claimed: record)
        if retractionQueue.count >= 256 { await retractQueued() }
    }

    /// Queues the copies of a record this worker claimed that must leave.
    package func queueRetraction(claimed record: StoredRecord) async throws {
        let s = record.subject
        let copies = try await state.publications(collection: s.collection, id: s.id)
        let leaving = leavingCopies(record, copies, audience: audience(of: record))
        guard !leaving.isEmpty else { return }
        retractionQueue.append((record, leaving))
    }

    /// Retracts what is queued, then lets go of every record claimed but those of `keeping`.
    package func retractQueued(keepingClaims keeping: [String] = []) async {
        let queued = retractionQueue
        retractionQueue.removeAll()
        _ = await retract(queued)
        await coordination.releaseRecords(keeping: keeping)
    }

    /// Publishes a known record to the viewers that may now see it and lack it (all of them
    /// when finishing an unfinished intent, whose files may be half there); keeps its next
    /// change current.
    package func release(_ listed: StoredRecord, finishing: Bool) async {
        do {
            if let record = try await claim(listed) { await release(claimed: record, finishing: finishing) }
        } catch {
            await failed("release", listed.subject, engine.viewers.map(\.folder), error)
        }
        await coordination.releaseRecords(keeping: [])
    }

    /// Claims a record as `publish` does, and reads it again: another worker may have
    /// changed it (a new version, in another folder) or removed it since it was listed.
    package func claim(_ listed: StoredRecord) async throws -> StoredRecord? {
        _ = try await coordination.claimRecords(listed.claimKeys, wait: true)
        return try await readAgain(listed, wait: true)
    }

    /// False when it failed (logged and remembered), or a copy could not leave: it stays due.
    @discardableResult
    package func release(claimed stored: StoredRecord, finishing: Bool) async -> Bool {
        var record = stored
        let s = record.subject
        do {
            let copies = try await state.publications(collection: s.collection, id: s.id)
            let audience = audience(of: record)
            record.nextChange = engine.nextChange(of: s, after: at)
            // Copies already whole where they belong; an unfinished one is published again.
            let whole = Set(copies.filter { $0.status == .published && $0.place == record.place }.map(\.viewer))
            // A copy still leaving (its retraction failed) keeps its row until it is gone: the
            // viewer gets the record again only then, and the record stays due.
            let leaving = leavingCopies(record, copies, audience: audience)
            if !leaving.isEmpty { record.nextChange = at }
            let viewers = engine.viewers.filter { v in
                audience.contains(v.folder) && !whole.contains(v.folder) && !leaving.contains { $0.viewer == v.folder }
            }
            guard !viewers.isEmpty else {
                if record.nextChange != stored.nextChange {
                    try await state.setNextChange(collection: s.collection, id: s.id, record.nextChange)
                }
                return leaving.isEmpty
            }
            try await publishCopies(
                record,
                item: nil,
                to: viewers,
                replacing: finishing,
                object: nil,
                event: finishing ? "publish" : "release"
            )
            return leaving.isEmpty
        } catch {
            await failed("release", s, engine.viewers.map(\.folder), error)
            return false
        }
    }

    // MARK: Identity

    /// Compares the identity the trees keep (`SHARED/.store/identity`: which state wrote
    /// them, at which generation) with the state's, marks a reconciliation when they
    /// disagree, and moves both to the next generation (the state first, so a crash in
    /// between leaves the trees behind the state, which needs nothing).
    package func checkIdentity(requested: Bool) async throws {
        let file = publisher.storeFolder.appendingPathComponent("identity", isDirectory: false)
        let found = (try? FileBytes.read(file)).flatMap { try? JSONValue.parse($0) }
        let foundState = found?["state"]?.stringValue
        let foundShared = found?["shared"]?.stringValue
        let foundGeneration = found?["generation"]?.doubleValue.flatMap { Int64(exactly: $0) } ?? 0
        let stateId = try await state.meta("state_id")
        let generation = Int64(try await state.meta("generation") ?? "0") ?? 0
        var reasons: [String] = []
        if requested { reasons.append("asked for (--reconcile)") }
        if found != nil {
            if foundState != stateId {
                reasons.append("the trees were written from another state (the state was lost or replaced)")
            } else if foundGeneration > generation {
                reasons.append("the state is older than the trees (restored from an older copy)")
            }
            if let recorded = try await state.meta("shared_id"), recorded != foundShared {
                reasons.append("the shared root was replaced")
            }
        } else if !(try await state.publicationViewers().isEmpty)
            || DirectoryEntries.list(pipeline.sharedRoot.path).contains(where: {
                $0.isDirectory && !$0.name.hasPrefix(".")
            })
        {
            reasons.append("the shared root keeps no identity (new, replaced, or written by an earlier version)")
        }
        if !reasons.isEmpty {
            let earlier = try await state.meta("reconcile")
            try await state.setMeta("reconcile", ([earlier].compactMap { $0 } + reasons).joined(separator: "; "))
        }
        let newStateId = stateId ?? UUID().uuidString
        let shared = foundShared ?? UUID().uuidString
        let next = max(generation, foundGeneration) + 1
        try await state.setMeta("state_id", newStateId)
        try await state.setMeta("shared_id", shared)
        try await state.setMeta("generation", String(next))
        writeIdentity(shared: shared, state: newStateId, generation: next)
        CrashPoint.hit("run.after-identity")
    }

    /// Moves the identity on once more at the end of a run, so a backup of the state taken
    /// during the run, restored later, is seen to be older than the trees.
    package func advanceIdentity() async throws {
        guard let stateId = try await state.meta("state_id"), let shared = try await state.meta("shared_id") else {
            return
        }
        let next = (Int64(try await state.meta("generation") ?? "0") ?? 0) + 1
        try await state.setMeta("generation", String(next))
        writeIdentity(shared: shared, state: stateId, generation: next)
    }

    package func writeIdentity(shared: String, state stateId: String, generation: Int64) {
        let identity: JSONValue = .object([
            "shared": .string(shared), "state": .string(stateId), "generation": .int(generation),
        ])
        do {
            try AtomicFile.write(
                identity.serialized(),
                to: publisher.storeFolder.appendingPathComponent("identity", isDirectory: false),
                temporaryFolder: publisher.temporaryFolder
            )
        } catch {
            // Left behind, the trees' identity is older than the state's, which needs nothing.
            counts.failed += 1
            logger.error("cannot record the trees' identity: \(error)")
        }
    }

    // MARK: Members that left

    /// Removes, each in one rename, the trees of viewers that are no longer in the pipeline:
    /// those the state knows copies for, and folders under SHARED that hold catalogs.
    package func removeTreesOfLeftMembers() async {
        let current = Set(engine.viewers.map(\.folder))
        var left = Set((try? await state.publicationViewers()) ?? []).subtracting(current)
        for entry in DirectoryEntries.list(pipeline.sharedRoot.path)
        where entry.isDirectory && !entry.name.hasPrefix(".") && !current.contains(entry.name) {
            let folder = pipeline.sharedRoot.appendingPathComponent(entry.name, isDirectory: false)
            let holdsCatalogs =
                access(folder.appendingPathComponent("catalog.json", isDirectory: false).path, F_OK) == 0
                || DirectoryEntries.list(folder.path).contains {
                    $0.isDirectory
                        && access(
                            folder.appendingPathComponent($0.name, isDirectory: false).appendingPathComponent(
                                "collection.json",
                                isDirectory: false
                            ).path,
                            F_OK
                        ) == 0
                }
            if holdsCatalogs { left.insert(entry.name) }
        }
        for name in left.sorted() {
            do {
                let copies = try await state.beginRemovingViewer(name)
                try publisher.removeTree(Viewer(folder: name))
                try await state.confirmViewerRemoved(
                    name,
                    ledger: copies.map {
                        ledgerEvent(
                            "retract",
                            EmbargoSubject(
                                id: $0.id,
                                collection: $0.collection,
                                owner: $0.owner,
                                bbox: nil,
                                acquired: nil,
                                processed: nil,
                                ingested: nil
                            ),
                            viewer: name,
                            item: nil
                        )
                    }
                )
                counts.retracted += copies.count
                logger.notice("removed the tree of \(name), which is no longer in the pipeline (\(copies.count) items)")
            } catch {
                counts.failed += 1
                logger.error("cannot remove the tree of \(name), which is no longer in the pipeline: \(error)")
            }
        }
    }

    // MARK: Reconciliation

    /// Reads every tree: a copy the state does not know is taken into the state when its
    /// viewer may see it (from the state's record, or the item itself when the state lost
    /// it), and removed when not or when it is no item of this layout; a copy the state
    /// believes published that the tree lacks is published again. Catalogs are rewritten
    /// from the state before anything is removed.
    @discardableResult
    package func reconcileTrees() async throws -> Bool {
        var mended = true
        var unexplained: [(viewer: Viewer, folder: URL)] = []
        for viewer in engine.viewers {
            let root = publisher.treeFolder(viewer)
            for c in DirectoryEntries.list(root.path) where c.isDirectory && !c.name.hasPrefix(".") {
                let collection = root.appendingPathComponent(c.name, isDirectory: false)
                for day in Publisher.dayFolders(collection) {
                    try await state.markDirty(CatalogKey(viewer: viewer.folder, collection: c.name, day: day))
                    let dayFolder = collection.appendingPathComponent(day, isDirectory: false)
                    for entry in DirectoryEntries.list(dayFolder.path) where entry.isDirectory {
                        let place = ItemPlace(day: day, folder: entry.name)
                        let folder = dayFolder.appendingPathComponent(entry.name, isDirectory: false)
                        do {
                            if await !(try explain(viewer: viewer, collection: c.name, place: place, folder: folder)) {
                                unexplained.append((viewer, folder))
                            }
                        } catch {
                            // Kept (the viewer may see it) and tried again next run.
                            mended = false
                            counts.failed += 1
                            logger.error("cannot take \(folder.path) into the state: \(error)")
                        }
                    }
                }
                // Item folders of an earlier layout, or anything else at this level.
                for entry in DirectoryEntries.list(collection.path)
                where entry.isDirectory && entry.name != ItemPlace.undated && !Publisher.isNumber(entry.name, digits: 4)
                {
                    unexplained.append((viewer, collection.appendingPathComponent(entry.name, isDirectory: false)))
                }
            }
            try await state.forEachPublication(viewer: viewer.folder) { key, copy in
                let json = publisher.itemFolder(viewer, collection: key.collection, place: copy.place)
                    .appendingPathComponent("\(copy.place.folder).json", isDirectory: false)
                if copy.status == .published, access(json.path, F_OK) != 0 {
                    try await state.reopen(collection: key.collection, id: key.id, viewer: viewer.folder)
                }
            }
        }
        try await state.markAllDirty()
        do {
            try await writeDirtyCatalogs()
        } catch {
            counts.failed += 1
            logger.error("catalogs: \(error)")
        }
        for (viewer, folder) in unexplained {
            do {
                try publisher.removeFolder(folder, firstFile: nil)
                counts.retracted += 1
                logger.notice(
                    "removed \(viewer.folder)/\(folder.path.dropFirst(publisher.treeFolder(viewer).path.count + 1)), which the state does not explain"
                )
            } catch {
                mended = false
                counts.failed += 1
                logger.error("cannot remove \(folder.path), which the state does not explain: \(error)")
            }
        }
        CrashPoint.hit("reconcile.after-retract")
        return mended
    }

    /// Whether a copy found in a tree may stay, taking it into the state if it may.
    package func explain(viewer: Viewer, collection: String, place: ItemPlace, folder: URL) async throws -> Bool {
        guard let id = ItemFolderName.decode(place.folder) else { return false }
        let copies = try await state.publications(collection: collection, id: id)
        if let copy = copies.first(where: { $0.viewer == viewer.folder }), copy.place == place { return true }
        guard
            let bytes = try? FileBytes.read(folder.appendingPathComponent("\(place.folder).json", isDirectory: false)),
            let item = try? JSONValue.parse(bytes), item["id"]?.stringValue == id
        else { return false }
        let known = try await state.record(collection: collection, id: id)
        // An item the state does not know is believed only if this pipeline's ledger says it
        // published these very bytes: a planted item's facts must never open anything.
        if known == nil, await !(try ledgerItemHashes().contains(Digest.sha256Hex(bytes))) { return false }
        guard
            let record = known
                ?? Self.record(fromItem: item, collection: collection, place: place, engine: engine, at: at),
            record.place == place, engine.decide(record.subject, for: viewer, at: at).visible
        else { return false }
        // Its files must be the bytes it names; they go to the store, for the other trees and
        // later runs.
        for asset in record.assets {
            let file = folder.appendingPathComponent(asset.file, isDirectory: false)
            if known == nil, (try? Digest.sha256Hex(FileBytes.read(file))) != asset.sha256 { return false }
            guard !publisher.hasStored(sha256: asset.sha256) else { continue }
            guard (try? Digest.sha256Hex(FileBytes.read(file))) == asset.sha256 else { return false }
            try publisher.makeFolder(publisher.storePath(sha256: asset.sha256).deletingLastPathComponent())
            guard link(file.path, publisher.storePath(sha256: asset.sha256).path) == 0 || errno == EEXIST else {
                throw POSIXIOError(op: "link", path: publisher.storePath(sha256: asset.sha256).path)
            }
        }
        try await state.adopt(
            record: known == nil ? record : nil,
            collection: collection,
            id: id,
            viewer: viewer.folder,
            place: place,
            at: at
        )
        logger.notice("took \(viewer.folder)/\(collection)/\(id) into the state, found in the tree")
        return true
    }

    /// The SHA-256 of every item JSON the ledger says was published or released, read once.
    package func ledgerItemHashes() async throws -> Set<String> {
        if let known = publishedItemHashes { return known }
        var hashes = Set<String>()
        var lines = (try await LedgerSource.bytes(pipeline, state: state) ?? []).split(separator: 0x0A).map(Array.init)
        lines += try await state.pendingLedgerLines().map(\.line)
        for line in lines {
            guard let e = try? JSONValue.parse(line), let sha = e["item_sha256"]?.stringValue else { continue }
            hashes.insert(sha)
        }
        publishedItemHashes = hashes
        return hashes
    }

    /// A record rebuilt from a published item (for a state that lost it): the policy's
    /// facts from the item's `consortium:` properties, as the audit reads them.
    package static func record(
        fromItem item: JSONValue,
        collection: String,
        place: ItemPlace,
        engine: EmbargoEngine,
        at: Date
    ) -> StoredRecord? {
        guard var o = item.objectValue, let id = item["id"]?.stringValue, let props = item["properties"],
            let owner = props["consortium:owner"]?.stringValue
        else { return nil }
        func date(_ key: String) -> Date? { props[key]?.stringValue.flatMap(Timestamp.parse) }
        var assets: [StoredAsset] = []
        for (_, a) in item["assets"]?.objectValue?.entries ?? [] {
            guard let href = a["href"]?.stringValue, !href.contains("/"),
                let checksum = a["file:checksum"]?.stringValue, checksum.hasPrefix("1220"),
                let size = a["file:size"]?.doubleValue.flatMap({ Int64(exactly: $0) })
            else { continue }
            assets.append(StoredAsset(file: href, sha256: String(checksum.dropFirst(4)), size: size))
        }
        let bbox = item["bbox"]?.arrayValue?.compactMap(\.doubleValue)
        let subject = EmbargoSubject(
            id: id,
            collection: collection,
            owner: owner,
            bbox: bbox?.count == 4 ? bbox : nil,
            acquired: date("end_datetime") ?? date("datetime"),
            processed: date("consortium:processed"),
            ingested: date("consortium:ingested")
        )
        o["links"] = nil
        let start = date("start_datetime") ?? date("datetime")
        return StoredRecord(
            subject: subject,
            source: props["consortium:source"]?.stringValue ?? "",
            objectURL: "",
            startTime: start,
            endTime: date("end_datetime") ?? date("datetime"),
            item: JSONValue.object(o).serialized(pretty: false),
            assets: assets,
            nextChange: engine.nextChange(of: subject, after: at),
            place: ItemPlace(day: ItemPlace.day(of: start), folder: place.folder)
        )
    }
}
