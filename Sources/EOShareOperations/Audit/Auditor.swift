import EOShareCore
import EOShareEmbargo
import EOSharePublish
import EOShareState
import EOShareUnpack
import Foundation
import Synchronization

/// One audit finding (CONTRACT §5).
public struct AuditFinding: Sendable, Hashable {
    public enum Kind: String, Sendable { case violation, missing, tampered, orphan, ledger, undeterminable }
    public var kind: Kind
    public var member: String?
    public var record: String?
    public var detail: String

    public var json: JSONValue {
        .object([
            "kind": .string(kind.rawValue), "member": member.map(JSONValue.string) ?? .null,
            "record": record.map(JSONValue.string) ?? .null, "detail": .string(detail),
        ])
    }
}

public struct AuditReport: Sendable {
    public var at: Date
    public var members = 0
    public var items = 0
    public var files = 0
    public var findings: [AuditFinding] = []
    public var compliant: Bool { findings.isEmpty }
    /// Item folders found in each tree audited, by member (or public).
    public var itemsPerMember: [String: Int] = [:]

    public var json: JSONValue {
        .object([
            "at": .string(Timestamp.format(at)), "compliant": .bool(compliant),
            "checked": .object([
                "members": .int(Int64(members)), "items": .int(Int64(items)), "files": .int(Int64(files)),
            ]),
            "findings": .array(findings.map(\.json)),
        ])
    }
}

/// Checks the shared directories against the policy at an instant by reading the trees
/// themselves: each item is judged from its own metadata, never from the publisher's
/// bookkeeping. The state is read only to know which records exist (for `missing`).
///
/// Item folders are checked in shares on every core. Each folder is opened once and its
/// files are reached relative to it (`openat`, `fstatat`), and only the members an item is
/// judged by are built from its JSON: an audit of 100,000 items is mostly system calls.
public struct Auditor: Sendable {
    public let pipeline: Pipeline
    public let engine: EmbargoEngine
    /// Read every asset's bytes again, even those whose size and times are unchanged since
    /// the audit last read them.
    public var rehash = false
    /// Counters a progress display reads while the audit goes.
    public var progress: AuditProgress?

    public init(pipeline: Pipeline, rehash: Bool = false) {
        self.pipeline = pipeline
        self.engine = EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id))
        self.rehash = rehash
    }

    /// One item folder to check: `SHARED/viewer/collection/<day>/<folder>/`, reached from
    /// its open day folder.
    package struct ItemFolder: Sendable {
        package var viewer: Viewer
        package var collection: String
        package var day: String
        /// The folder name; the record id is what it decodes to.
        package var name: String
        package var parent: Int32
        package var parentPath: String
        package var id: String { ItemFolderName.decode(name) ?? name }
        package var path: String { "\(parentPath)/\(name)" }
        /// The item JSON relative to the viewer's tree.
        package var relativeJSON: String { "\(collection)/\(day)/\(name)/\(name).json" }
    }

    /// What one worker found in its share of the item folders.
    package struct Tally: Sendable {
        package var items = 0
        package var files = 0
        package var findings: [AuditFinding] = []
        /// Each item judged: viewer, item JSON path in its tree, whether the viewer may see it.
        package var judged: [(String, String, Bool)] = []
    }

    public func audit(at t: Date, only member: String? = nil) async throws -> AuditReport {
        var report = AuditReport(at: t)
        // The checksum cache loads on another thread while this one walks the trees.
        let cacheFile =
            FileManager.default.fileExists(atPath: pipeline.stateFolder.path)
            ? pipeline.stateFolder.appendingPathComponent("audit-cache.sqlite") : nil
        // Reading the trees and hashing files blocks threads: they get threads of their own.
        let threads = WorkerThreads(name: "eoshare-audit")
        defer { threads.shutdown() }
        let loading = Task(executorPreference: threads) { try AuditChecksumCache(path: cacheFile) }
        let root = pipeline.sharedRoot.path
        // No shared root is no tree at all: never compliant, even with nothing to publish yet.
        if !FileManager.default.fileExists(atPath: root) {
            report.findings.append(
                AuditFinding(kind: .missing, member: nil, record: nil, detail: "the shared root \(root) does not exist")
            )
        }
        let viewers = engine.viewers.filter { member == nil || $0.folder == member }
        for entry in DirectoryEntries.list(root) where !entry.name.hasPrefix(".") && member == nil {
            guard !engine.viewers.contains(where: { $0.folder == entry.name }) else { continue }
            // A folder of no member (one that left the pipeline, or planted) must hold nothing.
            let files = entry.isDirectory ? Self.fileCount("\(root)/\(entry.name)") : 1
            report.findings.append(
                AuditFinding(
                    kind: files > 0 && entry.isDirectory ? .violation : .orphan,
                    member: entry.isDirectory ? entry.name : nil,
                    record: nil,
                    detail: entry.isDirectory
                        ? "\(entry.name) is no member's folder and holds \(files) files"
                        : "\(entry.name) is no member's folder"
                )
            )
        }
        // The walk down to item folders (CONTRACT §6), in directory order (a findings' sort at
        // the end makes the report stable); day folders stay open so items are reached
        // relative to them.
        var folders: [ItemFolder] = []
        var opened: [Int32] = []
        defer { for fd in opened { close(fd) } }
        for viewer in viewers {
            report.members += 1
            let vroot = "\(root)/\(viewer.folder)"
            for centry in DirectoryEntries.list(vroot) where centry.name != "catalog.json" {
                let cname = centry.name
                guard centry.isDirectory else {
                    report.findings.append(orphan(viewer, cname))
                    continue
                }
                let cpath = "\(vroot)/\(cname)"
                var days: [String] = []
                for y in DirectoryEntries.list(cpath) where y.name != "collection.json" {
                    if y.isDirectory && y.name == ItemPlace.undated {
                        days.append(y.name)
                    } else if y.isDirectory && Publisher.isNumber(y.name, digits: 4) {
                        for m in DirectoryEntries.list("\(cpath)/\(y.name)") where m.name != "catalog.json" {
                            guard m.isDirectory, Publisher.isNumber(m.name, digits: 2) else {
                                report.findings.append(orphan(viewer, "\(cname)/\(y.name)/\(m.name)"))
                                continue
                            }
                            for d in DirectoryEntries.list("\(cpath)/\(y.name)/\(m.name)")
                            where d.name != "catalog.json" {
                                guard d.isDirectory, Publisher.isNumber(d.name, digits: 2) else {
                                    report.findings.append(orphan(viewer, "\(cname)/\(y.name)/\(m.name)/\(d.name)"))
                                    continue
                                }
                                days.append("\(y.name)/\(m.name)/\(d.name)")
                            }
                        }
                    } else {
                        report.findings.append(orphan(viewer, "\(cname)/\(y.name)"))
                    }
                }
                for day in days {
                    let dpath = "\(cpath)/\(day)"
                    let dfolder = open(dpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                    guard dfolder >= 0 else {
                        report.findings.append(orphan(viewer, "\(cname)/\(day) (unreadable)"))
                        continue
                    }
                    opened.append(dfolder)
                    for ientry in DirectoryEntries.list(folder: dfolder, sorted: false)
                    where ientry.name != "catalog.json" {
                        guard ientry.isDirectory else {
                            report.findings.append(orphan(viewer, "\(cname)/\(day)/\(ientry.name)"))
                            continue
                        }
                        folders.append(
                            ItemFolder(
                                viewer: viewer,
                                collection: cname,
                                day: day,
                                name: ientry.name,
                                parent: dfolder,
                                parentPath: dpath
                            )
                        )
                    }
                }
            }
        }
        // The items, and beside them what needs no item: the state (for `missing`) and the
        // ledger. Tallies come back in a fixed order, so the report reads the same every time.
        let state = try await existingState(pipeline)
        let stateSide = Task { [folders] in
            var tally = Tally()
            if let state {
                var seen: [String: [String: Set<String>]] = [:]  // viewer → collection → ids
                for f in folders { seen[f.viewer.folder, default: [:]][f.collection, default: []].insert(f.id) }
                tally.findings = try await missing(from: state, seen: seen, viewers: viewers, at: t)
            }
            if member == nil {
                tally.findings += try await LedgerSource.verify(pipeline, state: state)
            }
            return tally
        }
        let cache = try await loading.value
        defer { try? cache.save() }
        progress?.total.store(folders.count, ordering: .relaxed)
        for viewer in viewers { report.itemsPerMember[viewer.folder] = 0 }
        for f in folders { report.itemsPerMember[f.viewer.folder, default: 0] += 1 }
        let tallies = await check(folders, at: t, cache: cache, on: threads)
        var judged: [String: [String: Bool]] = [:]  // viewer → item JSON path → visible
        for tally in tallies {
            report.items += tally.items
            report.files += tally.files
            report.findings += tally.findings
            for (viewer, path, visible) in tally.judged { judged[viewer, default: [:]][path] = visible }
        }
        // The catalogs are part of what a member sees: every link they hold is followed, a
        // viewer per thread.
        let catalogFindings = await withTaskGroup(of: (Int, [AuditFinding]).self) { group in
            for (i, viewer) in viewers.enumerated() {
                let judgedHere = judged[viewer.folder] ?? [:]
                group.addTask(executorPreference: threads) {
                    (i, checkCatalogs(of: viewer, judged: judgedHere, at: t))
                }
            }
            var found = Array(repeating: [AuditFinding](), count: viewers.count)
            for await (i, f) in group { found[i] = f }
            return found
        }
        for f in catalogFindings { report.findings += f }
        report.findings.sort {
            ($0.member ?? "", $0.record ?? "", $0.detail) < ($1.member ?? "", $1.record ?? "", $1.detail)
        }
        report.findings += try await stateSide.value.findings
        return report
    }

    /// Records a viewer may see that its tree does not hold.
    package func missing(
        from state: any StateStore,
        seen: [String: [String: Set<String>]],
        viewers: [Viewer],
        at t: Date
    ) async throws -> [AuditFinding] {
        var findings: [AuditFinding] = []
        try await state.forEachSubject { s in
            for viewer in viewers where engine.decide(s, for: viewer, at: t).visible {
                if !(seen[viewer.folder]?[s.collection]?.contains(s.id) ?? false) {
                    findings.append(
                        AuditFinding(
                            kind: .missing,
                            member: viewer.folder,
                            record: s.id,
                            detail: "\(s.collection)/\(s.id) may be seen but is absent"
                        )
                    )
                }
            }
        }
        return findings
    }

    /// Checks the folders in shares on every core; returns the shares' tallies in folder order.
    package func check(
        _ folders: [ItemFolder],
        at t: Date,
        cache: AuditChecksumCache,
        on threads: WorkerThreads
    ) async -> [Tally] {
        let shareSize = 512
        let shares = (folders.count + shareSize - 1) / shareSize
        return await withTaskGroup(of: (Int, Tally).self) { group in
            for job in 0..<shares {
                group.addTask(executorPreference: threads) {
                    let reader = ItemReader()
                    var tally = Tally()
                    for folder in folders[(job * shareSize)..<min(folders.count, (job + 1) * shareSize)] {
                        checkItem(folder, at: t, cache: cache, reader: reader, tally: &tally)
                        progress?.checked.add(1, ordering: .relaxed)
                    }
                    return (job, tally)
                }
            }
            var tallies = Array(repeating: Tally(), count: shares)
            for await (job, tally) in group { tallies[job] = tally }
            return tallies
        }
    }

    package func orphan(_ viewer: Viewer, _ path: String) -> AuditFinding {
        AuditFinding(
            kind: .orphan,
            member: viewer.folder,
            record: nil,
            detail: "\(viewer.folder)/\(path) is explained by no record"
        )
    }

    package func checkItem(
        _ item: ItemFolder,
        at t: Date,
        cache: AuditChecksumCache,
        reader: ItemReader,
        tally: inout Tally
    ) {
        let decoded = ItemFolderName.decode(item.name)
        let (viewer, collection, id) = (item.viewer, item.collection, decoded ?? item.name)
        let where_ = "\(collection)/\(item.day)/\(item.name)"
        func finding(_ kind: AuditFinding.Kind, _ detail: String) {
            tally.findings.append(AuditFinding(kind: kind, member: viewer.folder, record: id, detail: detail))
        }
        let folder = openat(item.parent, item.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else {
            tally.findings.append(orphan(viewer, "\(where_)/ (unreadable: \(String(cString: strerror(errno))))"))
            return
        }
        defer { close(folder) }
        let files = DirectoryEntries.list(folder: folder, sorted: false).map(\.name)
        tally.files += files.count
        let jsonName = "\(item.name).json"
        let json: JSONValue?
        do {
            guard let parsed = try reader.readJSON(in: folder, name: jsonName) else {
                tally.findings.append(orphan(viewer, "\(where_)/ (no item JSON)"))
                return
            }
            json = parsed
        } catch {
            json = nil
        }
        tally.items += 1
        guard let json, let props = json["properties"]?.objectValue else {
            tally.judged.append((viewer.folder, item.relativeJSON, false))
            finding(.tampered, "\(jsonName) is not a STAC item")
            return
        }
        if decoded == nil || json["id"]?.stringValue != id {
            finding(
                .tampered,
                "\(where_): the item's id \(json["id"]?.stringValue ?? "(none)") does not match its folder name"
            )
        }
        guard let owner = props["consortium:owner"]?.stringValue else {
            tally.judged.append((viewer.folder, item.relativeJSON, false))
            finding(.undeterminable, "no consortium:owner")
            return
        }
        let acquired = (props["end_datetime"]?.stringValue ?? props["datetime"]?.stringValue).flatMap(Timestamp.parse)
        // Judged by the id the item itself carries (a copy planted under another folder name
        // is still the record it says it is).
        let subject = EmbargoSubject(
            id: json["id"]?.stringValue ?? id,
            collection: collection,
            owner: owner,
            bbox: json["bbox"]?.arrayValue?.compactMap(\.doubleValue),
            acquired: acquired,
            processed: props["consortium:processed"]?.stringValue.flatMap(Timestamp.parse),
            ingested: props["consortium:ingested"]?.stringValue.flatMap(Timestamp.parse)
        )
        let decision = engine.decide(subject, for: viewer, at: t)
        // Whatever the viewer, a record whose clock cannot be known is worth an operator's look.
        if let rule = engine.firstRule(for: subject), engine.clock(rule.clock, subject) == nil {
            finding(.undeterminable, "rule #\(rule.index + 1) clock \(rule.clock) is unknown for this record")
        }
        tally.judged.append((viewer.folder, item.relativeJSON, decision.visible))
        if !decision.visible {
            finding(
                .violation,
                "\(viewer.folder) may not see \(collection)/\(id) at \(Timestamp.format(t)): \(decision.reason)"
            )
        }
        var explained = [jsonName]
        for (key, asset) in json["assets"]?.objectValue?.entries ?? [] {
            // A file of the folder; a URL or a path elsewhere is not the audit's to check.
            guard let href = asset["href"]?.stringValue, !href.utf8.contains(UInt8(ascii: "/")) else { continue }
            explained.append(href)
            var st = stat()
            guard fstatat(folder, href, &st, 0) == 0 else {
                finding(.tampered, "asset \(key) file \(href) is gone")
                continue
            }
            if let size = asset["file:size"]?.doubleValue, Int64(exactly: size) != Int64(st.st_size) {
                finding(.tampered, "asset \(key) is \(st.st_size) bytes, published \(JSONValue.format(size))")
                continue
            }
            guard let checksum = asset["file:checksum"]?.stringValue else { continue }
            let sha = try? cache.sha256(stat: st, reread: rehash) {
                try reader.sha256(in: folder, name: href, path: "\(item.path)/\(href)")
            }
            if sha.map(Digest.multihashSHA256(hex:)) != checksum {
                finding(
                    .tampered,
                    sha == nil
                        ? "asset \(key) file \(href) cannot be read" : "asset \(key) bytes differ from file:checksum"
                )
            }
        }
        for name in files where !explained.contains(name) {
            tally.findings.append(orphan(viewer, "\(where_)/\(name)"))
        }
    }
}

/// One worker's reusable memory: item JSON is read into the same bytes every time, and
/// assets are hashed through one block.
package final class ItemReader {
    private var bytes: [UInt8] = []
    private let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)

    deinit { block.deallocate() }

    /// What the audit judges an item by; geometry, links and the rest are only checked for syntax.
    package static let judged = JSONSelection.only([
        (
            "properties",
            .members("datetime", "end_datetime", "consortium:owner", "consortium:processed", "consortium:ingested")
        ),
        ("id", .all), ("bbox", .all),
        ("assets", .each(.members("href", "file:size", "file:checksum"))),
    ])

    /// The parsed item; nil when the file cannot be opened, an error when it is not JSON.
    package func readJSON(in folder: Int32, name: String) throws(JSONParseError) -> JSONValue? {
        let fd = openat(folder, name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // One read is the whole file when it comes back short (a local file's end); should
        // that not parse, read on to the certain end before judging.
        var length = 0
        var atEnd = false
        while true {
            while true {
                if length == bytes.count {
                    bytes.append(contentsOf: repeatElement(0, count: max(64 << 10, bytes.count)))
                }
                let want = bytes.count - length
                let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + length, want) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 {
                    atEnd = true
                    break
                }
                length += n
                if n < want { break }
            }
            do {
                return try bytes.withUnsafeBufferPointer { (all) throws(JSONParseError) -> JSONValue in
                    try JSONValue.parse(UnsafeBufferPointer(rebasing: all[0..<length]), selecting: Self.judged)
                }
            } catch {
                if atEnd { throw error }
            }
        }
    }

    package func sha256(in folder: Int32, name: String, path: @autoclosure () -> String) throws -> String {
        let fd = openat(folder, name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw POSIXIOError(op: "open", path: path()) }
        defer { close(fd) }
        let d = StreamingDigest(.sha256)
        try FileChunks.read(fd: fd, buffer: block, path: path()) { d.update($0) }
        return d.finalizeHex()
    }
}

extension Auditor {
    /// Files anywhere under a folder.
    package static func fileCount(_ path: String) -> Int {
        var n = 0
        for entry in DirectoryEntries.list(path) {
            n += entry.isDirectory ? fileCount("\(path)/\(entry.name)") : 1
        }
        return n
    }

    /// Follows every `child` and `item` link from the viewer's root catalog down. A link out
    /// of the viewer's tree, or to an item the viewer may not see, is a `violation`; a link
    /// to nothing is `missing`. Items are judged as the walk judged them, or read here when
    /// a link leads where the walk did not go.
    package func checkCatalogs(of viewer: Viewer, judged: [String: Bool], at t: Date) -> [AuditFinding] {
        let vroot = pipeline.sharedRoot.appendingPathComponent(viewer.folder).path
        var findings: [AuditFinding] = []
        func finding(_ kind: AuditFinding.Kind, _ record: String?, _ detail: String) {
            findings.append(AuditFinding(kind: kind, member: viewer.folder, record: record, detail: detail))
        }
        var queue = access("\(vroot)/catalog.json", F_OK) == 0 ? ["catalog.json"] : []
        var seen = Set(queue)
        // Catalog files of the layout that no link reaches are read too (one planted beside
        // the others is seen in a folder listing): after the links, whatever is left.
        var unreached = Self.layoutCatalogs(vroot)
        func next() -> String? {
            if let linked = queue.popLast() { return linked }
            while let file = unreached.popLast() {
                if seen.insert(file).inserted { return file }
            }
            return nil
        }
        while let catalog = next() {
            guard let bytes = try? FileBytes.read(URL(fileURLWithPath: "\(vroot)/\(catalog)")),
                let json = try? JSONValue.parse(bytes)
            else {
                finding(.tampered, nil, "\(viewer.folder)/\(catalog) is not a readable STAC catalog")
                continue
            }
            let base = catalog.split(separator: "/").dropLast().map(String.init)
            for link in json["links"]?.arrayValue ?? [] {
                guard let rel = link["rel"]?.stringValue, let href = link["href"]?.stringValue else { continue }
                // Every link of a member's catalog stays in the member's tree, whatever its rel.
                guard rel == "child" || rel == "item" else {
                    if Self.resolve(href, from: base) == nil {
                        finding(
                            .violation,
                            nil,
                            "\(viewer.folder)/\(catalog) links \(href) (\(rel)), outside \(viewer.folder)'s tree"
                        )
                    }
                    continue
                }
                guard let target = Self.resolve(href, from: base) else {
                    finding(
                        .violation,
                        nil,
                        "\(viewer.folder)/\(catalog) links \(href), outside \(viewer.folder)'s tree"
                    )
                    continue
                }
                // The record an item link names, for a finding (decoded only then).
                func record() -> String? {
                    rel == "item"
                        ? target.split(separator: "/").dropLast().last.flatMap { ItemFolderName.decode(String($0)) }
                        : nil
                }
                // An item the walk judged is there (the walk read it); anything else is looked for.
                let walked = rel == "item" ? judged[target] : nil
                guard walked != nil || access("\(vroot)/\(target)", F_OK) == 0 else {
                    finding(.missing, record(), "\(viewer.folder)/\(catalog) links \(href), which is absent")
                    continue
                }
                if rel == "child" {
                    if seen.insert(target).inserted { queue.append(target) }
                    continue
                }
                let visible =
                    walked
                    ?? judgeItem(
                        at: "\(vroot)/\(target)",
                        collection: String(target.prefix { $0 != "/" }),
                        for: viewer,
                        at: t
                    )
                if !visible {
                    finding(
                        .violation,
                        record(),
                        "\(viewer.folder)/\(catalog) names \(target), which \(viewer.folder) may not see"
                    )
                }
            }
        }
        return findings
    }

    /// The catalog files the layout puts in a viewer's tree, relative to it: the root, each
    /// collection.json, and the catalogs of its years, months, days and `undated`.
    package static func layoutCatalogs(_ vroot: String) -> [String] {
        var out: [String] = []
        if access("\(vroot)/catalog.json", F_OK) == 0 { out.append("catalog.json") }
        for c in DirectoryEntries.list(vroot) where c.isDirectory && !c.name.hasPrefix(".") {
            var folders = Set<String>()
            for day in Publisher.dayFolders(URL(fileURLWithPath: "\(vroot)/\(c.name)")) {
                folders.insert(day)
                if day != ItemPlace.undated {
                    folders.insert(String(day.prefix(7)))
                    folders.insert(String(day.prefix(4)))
                }
            }
            let files = ["\(c.name)/collection.json"] + folders.sorted().map { "\(c.name)/\($0)/catalog.json" }
            out += files.filter { access("\(vroot)/\($0)", F_OK) == 0 }
        }
        return out
    }

    /// A relative href resolved against a catalog's folder, within the tree; nil when it is
    /// absolute, a URL, or climbs out of the tree.
    package static func resolve(_ href: String, from base: [String]) -> String? {
        // Byte by byte: Foundation's substring search cost a tenth of an audit.
        let bytes = href.utf8
        guard bytes.first != UInt8(ascii: "/"), !bytes.contains(UInt8(ascii: "\\")) else { return nil }
        var run = 0  // how much of "://" ends here
        for b in bytes {
            switch (run, b) {
            case (_, UInt8(ascii: ":")): run = 1
            case (1, UInt8(ascii: "/")): run = 2
            case (2, UInt8(ascii: "/")): return nil
            default: run = 0
            }
        }
        var parts = base
        for part in href.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
            default: parts.append(String(part))
            }
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }

    /// Whether the viewer may see the item in this file, judged from the item alone.
    package func judgeItem(at path: String, collection: String, for viewer: Viewer, at t: Date) -> Bool {
        guard let bytes = try? FileBytes.read(URL(fileURLWithPath: path)), let json = try? JSONValue.parse(bytes),
            let id = json["id"]?.stringValue, let props = json["properties"],
            let owner = props["consortium:owner"]?.stringValue
        else { return false }
        let collection = json["collection"]?.stringValue ?? ""
        // Judged by the id the item itself carries (a copy planted under another folder name
        // is still the record it says it is).
        let subject = EmbargoSubject(
            id: json["id"]?.stringValue ?? id,
            collection: collection,
            owner: owner,
            bbox: json["bbox"]?.arrayValue?.compactMap(\.doubleValue),
            acquired: (props["end_datetime"]?.stringValue ?? props["datetime"]?.stringValue).flatMap(Timestamp.parse),
            processed: props["consortium:processed"]?.stringValue.flatMap(Timestamp.parse),
            ingested: props["consortium:ingested"]?.stringValue.flatMap(Timestamp.parse)
        )
        return engine.decide(subject, for: viewer, at: t).visible
    }
}

/// Checks the ledger: each line's `prev` must be the SHA-256 of the line before, no line
/// may be blank, and the file must hold what the state anchored (its line count and the
/// hash of its last line), so a truncated, edited or deleted ledger is found.
public enum LedgerVerifier {
    /// What the state knows of the ledger file.
    public struct Anchor: Sendable {
        /// Lines the file is known to hold.
        public var lines: Int64
        /// SHA-256 the file's line number `lines` must have (genesis for none).
        public var hash: String

        public init(lines: Int64, hash: String) {
            self.lines = lines
            self.hash = hash
        }

        /// The state's anchor: lines not yet appended to the file start from the hash the
        /// file's last line must have.
        public init(_ state: any StateStore) async throws {
            let anchor = try await state.ledgerAnchor()
            let firstPending = try await state.pendingLedgerLines().first
            let prev = firstPending.flatMap { try? JSONValue.parse($0.line)["prev"]?.stringValue } ?? nil
            self.init(lines: anchor.fileLines, hash: prev ?? anchor.head)
        }
    }

    public static func verify(_ url: URL, anchor: Anchor? = nil) -> [AuditFinding] {
        func finding(_ detail: String, record: String? = nil) -> AuditFinding {
            AuditFinding(kind: .ledger, member: nil, record: record, detail: detail)
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            if let anchor, anchor.lines > 0 {
                return [finding("\(url.lastPathComponent) is gone; the state anchors \(anchor.lines) lines")]
            }
            return []
        }
        return verify(bytes: [UInt8](data), anchor: anchor)
    }

    /// Checks the ledger's lines as one text (a file's bytes, or a PostgreSQL ledger table's
    /// lines each followed by a newline).
    public static func verify(bytes: [UInt8], anchor: Anchor? = nil) -> [AuditFinding] {
        func finding(_ detail: String, record: String? = nil) -> AuditFinding {
            AuditFinding(kind: .ledger, member: nil, record: record, detail: detail)
        }
        var findings: [AuditFinding] = []
        var previous = Ledger.genesis
        var hashAtAnchor: String? = anchor?.lines == 0 ? Ledger.genesis : nil
        if !bytes.isEmpty, bytes.last != 0x0A {
            findings.append(finding("last line is truncated"))
        }
        var n: Int64 = 0
        bytes.withUnsafeBufferPointer { all in
            var start = 0
            while start < all.count {
                let end = all[start...].firstIndex(of: 0x0A) ?? all.count
                defer { start = end + 1 }
                n += 1
                guard end > start else {
                    findings.append(finding("line \(n) is blank"))
                    continue
                }
                let line = UnsafeBufferPointer(rebasing: all[start..<end])
                let hash = Digest.sha256Hex(line)
                defer {
                    previous = hash
                    if n == anchor?.lines { hashAtAnchor = hash }
                }
                guard let entry = try? JSONValue.parse(line, selecting: .members("prev", "record")),
                    let prev = entry["prev"]?.stringValue
                else {
                    findings.append(finding("line \(n) is not a ledger entry"))
                    continue
                }
                if prev != previous {
                    findings.append(
                        finding(
                            "line \(n) does not follow the line before (edited, removed or reordered)",
                            record: entry["record"]?.stringValue
                        )
                    )
                }
            }
        }
        if let anchor {
            if n < anchor.lines {
                findings.append(finding("holds \(n) lines; the state anchors \(anchor.lines) (truncated)"))
            } else if hashAtAnchor != anchor.hash {
                findings.append(finding("line \(anchor.lines) is not the line the state anchored (edited or replaced)"))
            }
        }
        return findings
    }
}

/// Item folders found and checked so far, for a progress display (relaxed atomics: the
/// workers only add).
public final class AuditProgress: Sendable {
    package let total = Atomic<Int>(0)
    package let checked = Atomic<Int>(0)
    package let started = Date()

    public init() {}

    public func line(now: Date = Date()) -> String {
        let (total, checked) = (total.load(ordering: .relaxed), checked.load(ordering: .relaxed))
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Double(checked) / elapsed
        let eta = rate > 0 && total > 0 ? IngestProgress.duration(Double(total - checked) / rate) : "unknown"
        return "progress: \(checked)/\(total) items checked, " + String(format: "%.0f items/s, ", rate)
            + "ETA \(eta), elapsed \(IngestProgress.duration(elapsed))"
    }
}
