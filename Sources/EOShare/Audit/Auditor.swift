import Foundation

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

    public var json: JSONValue {
        .object([
            "at": .string(Timestamp.format(at)), "compliant": .bool(compliant),
            "checked": .object(["members": .int(Int64(members)), "items": .int(Int64(items)), "files": .int(Int64(files))]),
            "findings": .array(findings.map(\.json)),
        ])
    }
}

/// Checks the shared directories against the policy at an instant by reading the trees
/// themselves: each item is judged from its own metadata, never from the publisher's
/// bookkeeping. The state is read only to know which records exist (for `missing`).
public struct Auditor {
    public let pipeline: Pipeline
    public let engine: EmbargoEngine
    /// Read every asset's bytes again, even those whose size and mtime are unchanged since
    /// the audit last read them.
    public var rehash = false

    public init(pipeline: Pipeline, rehash: Bool = false) {
        self.pipeline = pipeline
        self.engine = EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id))
        self.rehash = rehash
    }

    public func audit(at t: Date, only member: String? = nil) throws -> AuditReport {
        var report = AuditReport(at: t)
        let cache = try AuditChecksumCache(path: pipeline.stateFolder.appendingPathComponent("audit-cache.sqlite"))
        defer { try? cache.save() }
        let root = pipeline.sharedRoot
        let fm = FileManager.default
        let viewers = engine.viewers.filter { member == nil || $0.folder == member }
        var seen: [String: Set<String>] = [:]  // viewer → "collection/id"
        for name in DirectoryEntries.list(root).map(\.name) where name != ".store" && member == nil {
            if !viewers.contains(where: { $0.folder == name }) {
                report.findings.append(AuditFinding(kind: .orphan, member: nil, record: nil, detail: "\(name) is no member's folder"))
            }
        }
        for viewer in viewers {
            report.members += 1
            let vroot = root.appendingPathComponent(viewer.folder)
            guard fm.fileExists(atPath: vroot.path) else { continue }
            for centry in DirectoryEntries.list(vroot) {
                let cname = centry.name
                let cdir = vroot.appendingPathComponent(cname)
                if cname == "catalog.json" { continue }
                guard centry.isDirectory else {
                    report.findings.append(orphan(viewer, "\(cname)"))
                    continue
                }
                for ientry in DirectoryEntries.list(cdir) {
                    let iname = ientry.name
                    if iname == "collection.json" { continue }
                    let idir = cdir.appendingPathComponent(iname)
                    guard ientry.isDirectory else {
                        report.findings.append(orphan(viewer, "\(cname)/\(iname)"))
                        continue
                    }
                    checkItem(
                        folder: idir, collection: cname, id: iname, viewer: viewer, at: t, cache: cache, report: &report)
                    seen[viewer.folder, default: []].insert("\(cname)/\(iname)")
                }
            }
        }
        // missing: records a viewer may see that its tree does not hold.
        if fm.fileExists(atPath: pipeline.statePath.path) {
            let state = try StateStore(path: pipeline.statePath)
            try state.forEachRecord { record in
                let s = record.subject
                for viewer in viewers where engine.decide(s, for: viewer, at: t).visible {
                    if !(seen[viewer.folder]?.contains("\(s.collection)/\(s.id)") ?? false) {
                        report.findings.append(
                            AuditFinding(kind: .missing, member: viewer.folder, record: s.id, detail: "\(s.collection)/\(s.id) may be seen but is absent"))
                    }
                }
            }
        }
        if member == nil { report.findings.append(contentsOf: LedgerVerifier.verify(pipeline.ledgerPath)) }
        return report
    }

    func orphan(_ viewer: Viewer, _ path: String) -> AuditFinding {
        AuditFinding(kind: .orphan, member: viewer.folder, record: nil, detail: "\(viewer.folder)/\(path) is explained by no record")
    }

    func checkItem(
        folder: URL, collection: String, id: String, viewer: Viewer, at t: Date, cache: AuditChecksumCache,
        report: inout AuditReport
    ) {
        let jsonURL = folder.appendingPathComponent("\(id).json")
        let files = DirectoryEntries.list(folder).map(\.name)
        report.files += files.count
        guard let data = FileManager.default.contents(atPath: jsonURL.path) else {
            report.findings.append(orphan(viewer, "\(collection)/\(id)/ (no item JSON)"))
            return
        }
        report.items += 1
        guard let item = try? JSONValue.parse(data), let props = item["properties"]?.objectValue else {
            report.findings.append(AuditFinding(kind: .tampered, member: viewer.folder, record: id, detail: "\(id).json is not a STAC item"))
            return
        }
        guard let owner = props["consortium:owner"]?.stringValue else {
            report.findings.append(
                AuditFinding(kind: .undeterminable, member: viewer.folder, record: id, detail: "no consortium:owner"))
            return
        }
        let acquired = (props["end_datetime"]?.stringValue ?? props["datetime"]?.stringValue).flatMap(Timestamp.parse)
        let subject = EmbargoSubject(
            id: id, collection: collection, owner: owner, bbox: item["bbox"]?.arrayValue?.compactMap(\.doubleValue),
            acquired: acquired, processed: props["consortium:processed"]?.stringValue.flatMap(Timestamp.parse),
            ingested: props["consortium:ingested"]?.stringValue.flatMap(Timestamp.parse))
        let decision = engine.decide(subject, for: viewer, at: t)
        // Whatever the viewer, a record whose clock cannot be known is worth an operator's look.
        if let rule = engine.firstRule(for: subject), engine.clock(rule.clock, subject) == nil {
            report.findings.append(
                AuditFinding(
                    kind: .undeterminable, member: viewer.folder, record: id,
                    detail: "rule #\(rule.index + 1) clock \(rule.clock) is unknown for this record"))
        }
        if !decision.visible {
            report.findings.append(
                AuditFinding(kind: .violation, member: viewer.folder, record: id, detail: "\(viewer.folder) may not see \(collection)/\(id) at \(Timestamp.format(t)): \(decision.reason)"))
        }
        var explained: Set<String> = ["\(id).json"]
        for (key, asset) in item["assets"]?.objectValue?.entries ?? [] {
            guard let href = asset["href"]?.stringValue, !href.contains("://"), !href.contains("/") else { continue }
            explained.insert(href)
            let file = folder.appendingPathComponent(href)
            var st = stat()
            guard stat(file.path, &st) == 0 else {
                report.findings.append(
                    AuditFinding(kind: .tampered, member: viewer.folder, record: id, detail: "asset \(key) file \(href) is gone"))
                continue
            }
            if let size = asset["file:size"]?.doubleValue, Int64(size) != Int64(st.st_size) {
                report.findings.append(
                    AuditFinding(kind: .tampered, member: viewer.folder, record: id, detail: "asset \(key) is \(st.st_size) bytes, published \(Int64(size))"))
                continue
            }
            if let checksum = asset["file:checksum"]?.stringValue,
                let sha = try? cache.sha256(of: file, stat: st, reread: rehash), Digest.multihashSHA256(hex: sha) != checksum
            {
                report.findings.append(
                    AuditFinding(kind: .tampered, member: viewer.folder, record: id, detail: "asset \(key) bytes differ from file:checksum"))
            }
        }
        for name in files where !explained.contains(name) {
            report.findings.append(orphan(viewer, "\(collection)/\(id)/\(name)"))
        }
    }
}

/// Checks the ledger's hash chain: each line's `prev` must be the SHA-256 of the line before.
public enum LedgerVerifier {
    public static func verify(_ url: URL) -> [AuditFinding] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        var findings: [AuditFinding] = []
        var previous = Ledger.genesis
        let bytes = [UInt8](data)
        if !bytes.isEmpty, bytes.last != 0x0A {
            findings.append(AuditFinding(kind: .ledger, member: nil, record: nil, detail: "last line is truncated"))
        }
        for (n, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            let text = Array(line)
            guard let entry = try? JSONValue.parse(text), let prev = entry["prev"]?.stringValue else {
                findings.append(AuditFinding(kind: .ledger, member: nil, record: nil, detail: "line \(n + 1) is not a ledger entry"))
                previous = Digest.sha256Hex(text)
                continue
            }
            if prev != previous {
                findings.append(
                    AuditFinding(kind: .ledger, member: nil, record: entry["record"]?.stringValue, detail: "line \(n + 1) does not follow the line before (edited, removed or reordered)"))
            }
            previous = Digest.sha256Hex(text)
        }
        return findings
    }
}
