import Foundation
import Logging
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOShareEmbargo
@testable import EOShareFeedGeneration
@testable import EOShareFetch
@testable import EOShareNormalize
@testable import EOShareOperations
@testable import EOSharePublish
@testable import EOShareState
@testable import EOShareUnpack

/// CONTRACT §5 under the faults an attacker or a tired operator brings: a member removed,
/// the clock going back, the state lost or restored from an older copy, a store file gone,
/// a full disk, a folder that cannot be written, planted catalog links, hostile ids, an
/// edited ledger. Each run must end with every tree exactly as the policy says, and no
/// failure of one record may stop the retraction of another.
@Suite struct TrustUnderFaultsTests {
    static let logger = Logger(label: "test")
    static let at = Timestamp.parse("2026-11-21T12:00:00Z")!

    /// A pipeline of one NASA Landsat feed in a folder of its own, for one test.
    struct Hub {
        let folder: URL
        var members = ["NASA", "ESA", "JAXA"]
        var embargo = """
            embargo:
              rules: [{match: {owner: NASA}, clock: acquired, period: P30D, public: P1Y}]
            """
        var shared: URL { folder.appendingPathComponent("shared") }

        init(_ name: String = #function, records: Int = 8, seed: UInt64 = 11) throws {
            folder = RepoPaths.temporaryFolder(name)
            var g = LandsatFeedGenerator(start: Timestamp.parse("2026-01-01T00:00:00Z")!)
            g.seed = seed
            g.days = 300
            try g.write(count: records, to: folder.appendingPathComponent("feed"))
        }

        func pipeline() throws -> Pipeline {
            let yaml = """
                version: 1
                state: state/hub.sqlite
                shared: shared/
                members: [\(members.map { "{id: \($0)}" }.joined(separator: ", "))]
                collections: [{id: landsat-c2-l2}]
                sources: [{id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: feed/}]
                \(embargo)
                """
            let file = folder.appendingPathComponent("p.yml")
            try Data(yaml.utf8).write(to: file)
            return try Pipeline.load(from: file)
        }

        @discardableResult
        func ingest(at: Date = TrustUnderFaultsTests.at, reconcile: Bool = false) async throws -> IngestSummary {
            try await IngestRun(
                pipeline: try pipeline(),
                at: at,
                reconcile: reconcile,
                logger: TrustUnderFaultsTests.logger
            ).run()
        }

        func audit(at: Date = TrustUnderFaultsTests.at) async throws -> AuditReport {
            try await Auditor(pipeline: try pipeline(), rehash: true).audit(at: at)
        }

        /// Items and catalog links a viewer may not see at `at`, judged by the test itself
        /// from each item's own facts (the embargo engine is the only product part used).
        func forbidden(at: Date = TrustUnderFaultsTests.at) throws -> [String] {
            try TrustUnderFaultsTests.forbidden(shared: shared, pipeline: try pipeline(), at: at)
        }

        func removeState() throws {
            for suffix in ["", "-wal", "-shm"] {
                try? FileManager.default.removeItem(at: folder.appendingPathComponent("state/hub.sqlite\(suffix)"))
            }
        }
    }

    /// What the test's oracle finds wrong in the trees: an item where its viewer may not see
    /// it, a folder of no viewer holding files, a catalog link to such an item.
    static func forbidden(shared: URL, pipeline: Pipeline, at: Date) throws -> [String] {
        let engine = EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id))
        let viewers = Set(engine.viewers.map(\.folder))
        var problems: [String] = []
        func visible(_ url: URL, to viewer: String) -> Bool {
            guard viewers.contains(viewer), let data = try? Data(contentsOf: url),
                let item = try? JSONValue.parse(data),
                let props = item["properties"]
            else { return false }
            let subject = EmbargoSubject(
                id: item["id"]?.stringValue ?? "",
                collection: item["collection"]?.stringValue ?? "",
                owner: props["consortium:owner"]?.stringValue ?? "",
                bbox: item["bbox"]?.arrayValue?.compactMap(\.doubleValue),
                acquired: (props["end_datetime"]?.stringValue ?? props["datetime"]?.stringValue).flatMap(
                    Timestamp.parse
                ),
                processed: props["consortium:processed"]?.stringValue.flatMap(Timestamp.parse),
                ingested: props["consortium:ingested"]?.stringValue.flatMap(Timestamp.parse)
            )
            return engine.decide(subject, for: Viewer(folder: viewer), at: at).visible
        }
        for item in Trees.items(shared) where !visible(item.url, to: item.viewer) {
            problems.append("\(item.viewer) holds \(item.id)")
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: shared.path)) ?? []
        where !entry.hasPrefix(".") && !viewers.contains(entry) {
            problems.append("\(entry) is no member's folder but is still there")
        }
        for viewer in viewers {
            for catalog in Trees.catalogs(shared, viewer) {
                let url = shared.appendingPathComponent(catalog)
                guard let json = try? JSONValue.parse(Data(contentsOf: url)) else {
                    problems.append("\(catalog) is not JSON")
                    continue
                }
                for link in json["links"]?.arrayValue ?? [] where link["rel"]?.stringValue == "item" {
                    let target = url.deletingLastPathComponent().appendingPathComponent(link["href"]?.stringValue ?? "")
                        .standardizedFileURL
                    if !visible(target, to: viewer) { problems.append("\(catalog) names \(target.lastPathComponent)") }
                }
            }
        }
        return problems
    }

    // MARK: Embargo

    @Test func aMemberRemovedFromThePipelineLosesItsWholeTree() async throws {
        var hub = try Hub()
        try await hub.ingest()
        let esa = Trees.ids(hub.shared, "ESA")
        #expect(!esa.isEmpty)
        hub.members = ["NASA", "JAXA"]
        let s = try await hub.ingest()
        #expect(s.retracted == esa.count && s.failed == 0)
        #expect(!FileManager.default.fileExists(atPath: hub.shared.appendingPathComponent("ESA").path))
        #expect(try hub.forbidden().isEmpty)
        let report = try await hub.audit()
        #expect(report.compliant, "\(report.findings.prefix(3))")
        let ledger = try String(contentsOf: try hub.pipeline().ledgerPath, encoding: .utf8)
        #expect(
            ledger.split(separator: "\n").filter { $0.contains("\"retract\"") && $0.contains("\"member\":\"ESA\"") }
                .count == esa.count
        )
        // A folder the audit finds for no member, holding items, is a violation.
        try FileManager.default.createDirectory(
            at: hub.shared.appendingPathComponent("GONE/x"),
            withIntermediateDirectories: true
        )
        try Data("{}".utf8).write(to: hub.shared.appendingPathComponent("GONE/x/x.json"))
        await #expect(try hub.audit().findings.contains { $0.kind == .violation && $0.member == "GONE" })
    }

    @Test func anEarlierInstantThanTheLastRunReevaluatesEveryRecord() async throws {
        let hub = try Hub()
        try await hub.ingest()
        let later = Trees.ids(hub.shared, "ESA")
        let early = Timestamp.parse("2026-05-01T00:00:00Z")!
        let s = try await hub.ingest(at: early)
        let now = Trees.ids(hub.shared, "ESA")
        #expect(now.count < later.count && s.retracted >= later.count - now.count)
        #expect(try hub.forbidden(at: early).isEmpty)
        await #expect(try hub.audit(at: early).findings.filter { $0.kind != .orphan }.isEmpty)
        // Forward again: released once more.
        try await hub.ingest()
        #expect(Trees.ids(hub.shared, "ESA") == later)
    }

    @Test func aLostStateIsRebuiltAndANewHoldStillRetracts() async throws {
        var hub = try Hub()
        try await hub.ingest()
        let held = try #require(Trees.ids(hub.shared, "ESA").sorted().first)
        try hub.removeState()
        hub.embargo += "\n  holds: [{id: review, records: [\"\(held)\"], reason: review}]"
        let s = try await hub.ingest()
        #expect(s.failed == 0)
        #expect(!Trees.ids(hub.shared, "ESA").contains(held) && !Trees.ids(hub.shared, "JAXA").contains(held))
        #expect(Trees.ids(hub.shared, "NASA").contains(held))
        #expect(try hub.forbidden().isEmpty)
        let report = try await hub.audit()
        #expect(report.findings.filter { $0.kind != .ledger }.isEmpty, "\(report.findings.prefix(3))")
    }

    /// A reconciliation believes only items the ledger says this pipeline published: one
    /// planted with forged facts (its owner rewritten to the tree's member) is removed, and
    /// opens nothing to anyone.
    @Test func aForgedItemIsNeverTakenIntoTheState() async throws {
        let hub = try Hub()
        try await hub.ingest(at: Timestamp.parse("2026-03-01T00:00:00Z")!)
        let hidden = try #require(
            Trees.ids(hub.shared, "NASA").subtracting(Trees.ids(hub.shared, "JAXA")).sorted().first
        )
        let source = try #require(Trees.item(hub.shared, "NASA", "landsat-c2-l2", hidden)).deletingLastPathComponent()
        let planted = URL(fileURLWithPath: source.path.replacingOccurrences(of: "/NASA/", with: "/JAXA/"))
        try FileManager.default.createDirectory(
            at: planted.deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        try FileManager.default.copyItem(at: source, to: planted)
        let json = planted.appendingPathComponent("\(planted.lastPathComponent).json")
        let forged = try String(contentsOf: json, encoding: .utf8)
            .replacingOccurrences(of: "\"consortium:owner\":\"NASA\"", with: "\"consortium:owner\":\"JAXA\"")
            .replacingOccurrences(of: "\"consortium:owner\": \"NASA\"", with: "\"consortium:owner\": \"JAXA\"")
        try Data(forged.utf8).write(to: json)
        try hub.removeState()
        try await hub.ingest(at: Timestamp.parse("2026-03-01T00:00:00Z")!)
        #expect(!Trees.ids(hub.shared, "JAXA").contains(hidden))
        #expect(!Trees.ids(hub.shared, "ESA").contains(hidden))
        #expect(try hub.forbidden(at: Timestamp.parse("2026-03-01T00:00:00Z")!).isEmpty)
    }

    @Test func aStateRestoredFromAnOlderCopyIsReconciledWithTheTrees() async throws {
        var hub = try Hub(records: 10)
        // The feed's first half, and a backup of the state after it.
        let feed = hub.folder.appendingPathComponent("feed")
        let later = hub.folder.appendingPathComponent("later")
        try FileManager.default.createDirectory(at: later, withIntermediateDirectories: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: feed.path).sorted()
        for name in names.suffix(5) {
            try FileManager.default.moveItem(
                at: feed.appendingPathComponent(name),
                to: later.appendingPathComponent(name)
            )
        }
        try await hub.ingest()
        let backup = hub.folder.appendingPathComponent("backup")
        try FileManager.default.copyItem(at: hub.folder.appendingPathComponent("state"), to: backup)
        for name in names.suffix(5) {
            try FileManager.default.moveItem(
                at: later.appendingPathComponent(name),
                to: feed.appendingPathComponent(name)
            )
        }
        try await hub.ingest()
        let before = Trees.ids(hub.shared, "ESA")
        // The older state comes back, and meanwhile a hold covers every record.
        try FileManager.default.removeItem(at: hub.folder.appendingPathComponent("state"))
        try FileManager.default.copyItem(at: backup, to: hub.folder.appendingPathComponent("state"))
        hub.embargo += "\n  holds: [{id: all, records: [\"*\"], reason: everything}]"
        try await hub.ingest()
        #expect(!before.isEmpty)
        #expect(Trees.ids(hub.shared, "ESA").isEmpty && Trees.ids(hub.shared, "JAXA").isEmpty)
        #expect(Trees.ids(hub.shared, "NASA").count == 10)
        #expect(try hub.forbidden().isEmpty)
    }

    @Test func aRecordThatCannotBeReleasedStopsNoOther() async throws {
        let hub = try Hub()
        let early = Timestamp.parse("2026-03-01T00:00:00Z")!
        try await hub.ingest(at: early)
        let p = try hub.pipeline()
        let state = try SQLiteStateStore(path: p.statePath)
        var waiting: [StoredRecord] = []
        try await state.forEachRecord { r in
            if !Trees.ids(hub.shared, "ESA").contains(r.subject.id) { waiting.append(r) }
        }
        #expect(waiting.count >= 2)
        // The first record to be released has lost its stored bytes.
        let broken = waiting[0]
        let store = Publisher(root: p.sharedRoot, collections: p.collections)
        for asset in broken.assets { try FileManager.default.removeItem(at: store.storePath(sha256: asset.sha256)) }
        let s = try await hub.ingest()
        #expect(s.failed >= 1, "the failed release is reported")
        for r in waiting.dropFirst() { #expect(Trees.ids(hub.shared, "ESA").contains(r.subject.id)) }
        // Its object was fetched again in the same run, and the record published after all.
        #expect(Trees.ids(hub.shared, "ESA").contains(broken.subject.id))
        await #expect(try hub.audit().compliant)
    }

    // MARK: Catalogs

    @Test func catalogsNeverNameARetractedItemAndAuditFollowsEveryLink() async throws {
        var hub = try Hub()
        try await hub.ingest()
        let ids = Trees.ids(hub.shared, "ESA").sorted()
        let held = try #require(ids.first)
        hub.embargo += "\n  holds: [{id: review, records: [\"\(held)\"], reason: review}]"
        try await hub.ingest()
        for catalog in Trees.catalogs(hub.shared, "ESA") {
            let text = try String(contentsOf: hub.shared.appendingPathComponent(catalog), encoding: .utf8)
            #expect(!text.contains(held), "\(catalog) still names \(held)")
        }
        // Planted links: to NASA's copy of the held item, outside ESA's tree, and to nothing.
        let nasaItem = try #require(Trees.item(hub.shared, "NASA", "landsat-c2-l2", held))
        let esaItem = try #require(Trees.item(hub.shared, "ESA", "landsat-c2-l2", ids[1]))
        let dayCatalog = esaItem.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "catalog.json"
        )
        var catalog = try JSONValue.parse(Data(contentsOf: dayCatalog)).objectValue!
        let relToNASA = "../../../../../../" + nasaItem.path.dropFirst(hub.shared.path.count + 1)
        catalog["links"] = .array(
            (catalog["links"]?.arrayValue ?? []) + [
                Publisher.stacLink("item", relToNASA), Publisher.stacLink("item", "./NOPE/NOPE.json"),
            ]
        )
        try Data(JSONValue.object(catalog).serialized()).write(to: dayCatalog)
        // And a copy of the held item planted inside ESA's tree, linked from the same catalog.
        let planted = esaItem.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("planted")
        try FileManager.default.createDirectory(at: planted, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: nasaItem, to: planted.appendingPathComponent("planted.json"))
        // And a day catalog no link reaches, naming NASA's copy.
        let lone = hub.shared.appendingPathComponent("ESA/landsat-c2-l2/2020/01/01")
        try FileManager.default.createDirectory(at: lone, withIntermediateDirectories: true)
        let loneCatalog = JSONValue.object([
            "type": "Catalog", "id": "lone", "stac_version": "1.1.0", "description": "planted",
            "links": .array([Publisher.stacLink("item", "../../../../../" + relToNASA.dropFirst(18))]),
        ])
        try Data(loneCatalog.serialized()).write(to: lone.appendingPathComponent("catalog.json"))
        let findings = try await hub.audit().findings
        #expect(findings.contains { $0.kind == .violation && $0.detail.contains("2020/01/01/catalog.json") })
        #expect(findings.contains { $0.kind == .violation && $0.detail.contains("outside ESA's tree") })
        #expect(findings.contains { $0.kind == .missing && $0.detail.contains("NOPE") })
        #expect(findings.contains { $0.kind == .violation && $0.detail.contains("planted") })
        // --reconcile reads the trees and mends them.
        let s = try await hub.ingest(reconcile: true)
        #expect(s.failed == 0)
        #expect(try hub.forbidden().isEmpty)
        let after = try await hub.audit()
        #expect(after.compliant, "\(after.findings.prefix(3))")
    }

    /// Each collection.json's extent is the union of the items its tree holds, as items
    /// arrive (kept by the state) and after some leave (recomputed).
    @Test func collectionExtentsFollowTheItemsTheTreeHolds() async throws {
        var hub = try Hub(records: 12)
        func check(_ viewer: String) throws {
            let items = Trees.items(hub.shared).filter { $0.viewer == viewer }
            var west = 180.0
            var south = 90.0
            var east = -180.0
            var north = -90.0
            var start = "9999"
            var end = ""
            for item in items {
                let json = try JSONValue.parse(Data(contentsOf: item.url))
                let b = json["bbox"]?.arrayValue?.compactMap(\.doubleValue) ?? []
                let t = json["properties"]?["datetime"]?.stringValue ?? ""
                #expect(b.count == 4 && !t.isEmpty)
                guard b.count == 4 else { continue }
                (west, south, east, north) = (min(west, b[0]), min(south, b[1]), max(east, b[2]), max(north, b[3]))
                (start, end) = (min(start, t), max(end, t))
            }
            let collection = try JSONValue.parse(
                Data(contentsOf: hub.shared.appendingPathComponent("\(viewer)/landsat-c2-l2/collection.json"))
            )
            let box = collection["extent"]?["spatial"]?["bbox"]?.arrayValue?.first?.arrayValue?.compactMap(
                \.doubleValue
            )
            #expect(box == [west, south, east, north], "\(viewer)")
            let interval = collection["extent"]?["temporal"]?["interval"]?.arrayValue?.first?.arrayValue
            #expect(interval?.first?.stringValue.flatMap(Timestamp.parse) == Timestamp.parse(start))
            #expect(interval?.last?.stringValue.flatMap(Timestamp.parse) == Timestamp.parse(end))
        }
        try await hub.ingest(at: Timestamp.parse("2026-06-01T00:00:00Z")!)
        try check("ESA")
        try await hub.ingest()
        try check("ESA")
        let ids = Trees.ids(hub.shared, "ESA").sorted()
        hub.embargo += "\n  holds: [{id: some, records: [\"\(ids[0])\", \"\(ids[ids.count - 1])\"], reason: review}]"
        try await hub.ingest()
        try check("ESA")
        try check("NASA")
    }

    // MARK: Real faults

    /// SHARED on a small tmpfs that is then filled: publishing fails with ENOSPC, but every
    /// retraction still goes through (a rename and removals need no space).
    @Test func aFullDiskStopsPublicationsButNoRetraction() async throws {
        var hub = try Hub(records: 10)
        try FileManager.default.createDirectory(at: hub.shared, withIntermediateDirectories: true)
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", hub.shared.path]) == 0 else {
            Issue.record("cannot mount a tmpfs (CI runs as root)")
            return
        }
        defer { _ = Self.run("/bin/umount", ["-l", hub.shared.path]) }
        let early = Timestamp.parse("2026-06-01T00:00:00Z")!
        try await hub.ingest(at: early)
        let esaBefore = Trees.ids(hub.shared, "ESA")
        #expect(!esaBefore.isEmpty)
        // Fill the disk.
        _ = Self.run("/bin/dd", ["if=/dev/zero", "of=\(hub.shared.path)/.store/filler", "bs=64k"])
        let held = try #require(esaBefore.sorted().first)
        hub.embargo += "\n  holds: [{id: review, records: [\"\(held)\"], reason: review}]"
        let s = try await hub.ingest()
        #expect(s.failed > 0, "releases on a full disk fail and are reported")
        #expect(!Trees.ids(hub.shared, "ESA").contains(held) && !Trees.ids(hub.shared, "JAXA").contains(held))
        #expect(try hub.forbidden().isEmpty)
        // Space again: the next run converges.
        try FileManager.default.removeItem(atPath: "\(hub.shared.path)/.store/filler")
        let again = try await hub.ingest()
        #expect(again.failed == 0)
        let report = try await hub.audit()
        #expect(report.compliant, "\(report.findings.prefix(3))")
    }

    /// An item folder that cannot be changed (`chattr +i`): its retraction fails and is
    /// reported, every other retraction goes on, and the next run finishes it once it can.
    @Test func anUnwritableFolderFailsAloneAndIsRetriedLater() async throws {
        var hub = try Hub()
        try await hub.ingest()
        let ids = Trees.ids(hub.shared, "ESA").sorted()
        #expect(ids.count >= 3)
        let stuck = try #require(Trees.item(hub.shared, "ESA", "landsat-c2-l2", ids[0])).deletingLastPathComponent()
        guard Self.run("/usr/bin/chattr", ["+i", stuck.path]) == 0 else {
            Issue.record("chattr +i is not possible here (CI runs as root on ext4)")
            return
        }
        defer { _ = Self.run("/usr/bin/chattr", ["-i", stuck.path]) }
        hub.embargo += "\n  holds: [{id: all, records: [\"*\"], reason: everything}]"
        let s = try await hub.ingest()
        #expect(s.failed >= 1)
        #expect(Trees.ids(hub.shared, "ESA") == [ids[0]], "every other copy left ESA's tree")
        #expect(Trees.ids(hub.shared, "JAXA").isEmpty)
        // The catalogs already stopped naming it.
        for catalog in Trees.catalogs(hub.shared, "ESA") {
            let text = try String(contentsOf: hub.shared.appendingPathComponent(catalog), encoding: .utf8)
            #expect(!text.contains(ids[0]))
        }
        let state = try SQLiteStateStore(path: try hub.pipeline().statePath)
        await #expect(try state.unfinishedRecords().map(\.id) == [ids[0]])
        _ = Self.run("/usr/bin/chattr", ["-i", stuck.path])
        let again = try await hub.ingest()
        #expect(again.failed == 0 && again.retracted == 1, "\(again.line)")
        #expect(try hub.forbidden().isEmpty)
        await #expect(try hub.audit().compliant)
    }

    // MARK: Ids

    /// Provider ids stay unchanged in the items; ids that fold to the same characters, or
    /// that are names the layout uses, never share or take a folder; holds use the ids.
    @Test func hostileIdsKeepTheirOwnFolders() async throws {
        let folder = RepoPaths.temporaryFolder()
        let feed = folder.appendingPathComponent("feed")
        try FileManager.default.createDirectory(at: feed, withIntermediateDirectories: true)
        let ids = [
            "PROV:A:1", "PROV_A_1", "collection.json", "catalog.json", "..", ".hidden", "PROV:SECRET:9", "a/b",
            "PROV:SECRET:" + String(repeating: "L", count: 230),  // a folder name of 246 bytes
        ]
        for (n, id) in ids.enumerated() {
            let granule = """
                {"GranuleUR": \(JSONValue.string(id).serializedString()),
                 "TemporalExtent": {"SingleDateTime": "2026-0\(n % 9 + 1)-15T10:00:00Z"}}
                """
            try Data(granule.utf8).write(to: feed.appendingPathComponent("g\(n).umm_json"))
        }
        let yaml = """
            version: 1
            state: state/ids.sqlite
            shared: shared/
            members: [{id: NASA}, {id: ESA}]
            collections: [{id: granules}]
            sources: [{id: cmr, owner: NASA, collection: granules, format: cmr-umm-g, url: feed/}]
            embargo:
              rules: [{clock: acquired, period: P0D}]
              holds: [{id: secret, records: ["PROV:SECRET*"], reason: review}]
            """
        try Data(yaml.utf8).write(to: folder.appendingPathComponent("p.yml"))
        let p = try Pipeline.load(from: folder.appendingPathComponent("p.yml"))
        for _ in 0..<2 {
            let s = try await IngestRun(pipeline: p, at: Self.at, logger: Self.logger).run()
            #expect(s.quarantined == 0 && s.failed == 0)
        }
        let shared = folder.appendingPathComponent("shared")
        #expect(Trees.ids(shared, "NASA") == Set(ids))
        #expect(Trees.ids(shared, "ESA") == Set(ids.filter { !$0.hasPrefix("PROV:SECRET:") }))
        for item in Trees.items(shared) {
            let json = try JSONValue.parse(Data(contentsOf: item.url))
            #expect(json["id"]?.stringValue == item.id)
        }
        // The layout's own files are still what they are.
        let collection = try JSONValue.parse(
            Data(contentsOf: shared.appendingPathComponent("ESA/granules/collection.json"))
        )
        #expect(collection["type"]?.stringValue == "Collection")
        await #expect(try Auditor(pipeline: p).audit(at: Self.at).compliant)
        #expect(try Self.forbidden(shared: shared, pipeline: p, at: Self.at).isEmpty)
    }

    // MARK: Ledger

    @Test func aTruncatedDeletedOrPaddedLedgerIsFound() async throws {
        let hub = try Hub(records: 4)
        try await hub.ingest()
        let ledger = try hub.pipeline().ledgerPath
        await #expect(try hub.audit().compliant)
        let original = try Data(contentsOf: ledger)
        let lines = original.split(separator: 0x0A)
        // The last line cut off.
        try Data(lines.dropLast().joined(separator: [0x0A]) + [0x0A]).write(to: ledger)
        await #expect(try hub.audit().findings.contains { $0.kind == .ledger && $0.detail.contains("truncated") })
        // Blank lines appended.
        try (original + Data([0x0A, 0x0A])).write(to: ledger)
        await #expect(try hub.audit().findings.contains { $0.kind == .ledger && $0.detail.contains("blank") })
        // Gone.
        try FileManager.default.removeItem(at: ledger)
        await #expect(try hub.audit().findings.contains { $0.kind == .ledger && $0.detail.contains("gone") })
        // The last line replaced by a well-chained forgery is not the anchored one.
        var forged = lines.dropLast().map { Data($0) }
        forged.append(
            Data(String(decoding: lines.last!, as: UTF8.self).replacingOccurrences(of: "NASA", with: "ESA").utf8)
        )
        try Data(forged.joined(separator: [0x0A]) + [0x0A]).write(to: ledger)
        await #expect(try hub.audit().findings.contains { $0.kind == .ledger && $0.detail.contains("anchored") })
    }

    static func run(_ tool: String, _ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}
