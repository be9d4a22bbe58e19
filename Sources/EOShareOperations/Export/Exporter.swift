import EOShareCore
import EOShareEmbargo
import EOSharePublish
import EOShareState
import EOShareUnpack
import Foundation

public enum ExportFormat: String, Sendable, CaseIterable {
    case stac, geojson, csv
}

/// What a member state asked for (CONTRACT §2 `export`).
public struct ExportRequest: Sendable {
    public var member: Viewer
    public var out: URL
    public var format: ExportFormat
    public var collections: [String] = []
    /// [west, south, east, north]: records whose bbox intersects.
    public var bbox: [Double]?
    /// Records whose time span overlaps [start, end] (either end open).
    public var interval: (start: Date?, end: Date?)?
    public var at: Date
    public var archive = false
    /// Replace an existing `out` (`--force`).
    public var replace = false
    /// Write the file (geojson or csv) to standard output instead of `out` (`--out -`).
    public var toStandardOutput = false

    public init(member: Viewer, out: URL, format: ExportFormat, at: Date) {
        self.member = member
        self.out = out
        self.format = format
        self.at = at
    }
}

public struct ExportProgress: Sendable {
    public var records: Int
    public var totalRecords: Int
    public var bytes: Int64
    public var totalBytes: Int64
}

public struct ExportResult: Sendable {
    public var records: Int
    /// The bytes written: the file, the archive, or every file of the catalog folder.
    public var bytes: Int64
}

public struct ExportError: Error, CustomStringConvertible {
    public var description: String
}

/// Writes exactly the records a member may see at an instant, decided from the state and
/// the policy — never by copying the shared tree, which may lag or have been tampered with.
public struct Exporter {
    public let pipeline: Pipeline
    package let engine: EmbargoEngine

    public init(pipeline: Pipeline) {
        self.pipeline = pipeline
        engine = EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id))
    }

    /// The records the request selects, in id order.
    public func select(_ request: ExportRequest, state: any StateStore) async throws -> [StoredRecord] {
        var out: [StoredRecord] = []
        try await state.forEachRecord { r in
            let s = r.subject
            if !request.collections.isEmpty && !request.collections.contains(s.collection) { return }
            if let box = request.bbox {
                guard let rb = s.bbox, BBox.intersects(box, rb) else { return }
            }
            if let interval = request.interval {
                guard let start = r.startTime, let end = r.endTime ?? r.startTime else { return }
                if let a = interval.start, end < a { return }
                if let b = interval.end, start > b { return }
            }
            if engine.decide(s, for: request.member, at: request.at).visible { out.append(r) }
        }
        return out
    }

    /// Runs the export; `progress` is called as records are written.
    public func run(
        _ request: ExportRequest,
        progress: (ExportProgress) -> Void = { _ in }
    ) async throws -> ExportResult {
        // Nothing ingested yet is nothing to export, and no state or ledger to create.
        guard let state = try await existingState(pipeline) else {
            throw ExportError(description: "nothing has been ingested yet (no state at \(pipeline.statePath.path))")
        }
        let records = try await select(request, state: state)
        let totalBytes = records.reduce(Int64(0)) { $0 + $1.assets.reduce(0) { $0 + $1.size } + Int64($1.item.count) }
        let fm = FileManager.default
        if !request.toStandardOutput, !request.replace, fm.fileExists(atPath: request.out.path) {
            throw ExportError(
                description: "\(request.out.path) exists; export writes a new file or folder (--force replaces it)"
            )
        }
        // Everything is written under a temporary name beside PATH and renamed at the end.
        let staging = request.out.deletingLastPathComponent()
            .appendingPathComponent(".eoshare-export-\(getpid())-\(request.out.lastPathComponent)")
        try? fm.removeItem(at: staging)
        defer { try? fm.removeItem(at: staging) }
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        // An archive holds one folder named after it, so unpacking it scatters nothing.
        let payload =
            request.archive
            ? staging.appendingPathComponent("content").appendingPathComponent(Self.archiveFolderName(request.out))
            : staging.appendingPathComponent("out")
        var written = ExportProgress(records: 0, totalRecords: records.count, bytes: 0, totalBytes: totalBytes)
        progress(written)
        func advance(_ r: StoredRecord) {
            written.records += 1
            written.bytes += r.assets.reduce(0) { $0 + $1.size } + Int64(r.item.count)
            progress(written)
        }
        let fileName: String
        switch request.format {
        case .stac:
            fileName = ""
            try writeSTAC(records, request: request, to: payload, advance: advance)
        case .geojson:
            fileName = "items.geojson"
            var features: [JSONValue] = []
            for r in records {
                var item = Self.hrefsFromTreeRoot(
                    try JSONValue.parse(r.item),
                    place: r.place,
                    collection: r.subject.collection
                )
                if case .object(var o) = item {
                    o["links"] = nil
                    item = .object(o)
                }
                features.append(item)
                advance(r)
            }
            let fc: JSONValue = .object([
                "type": "FeatureCollection", "features": .array(features),
                "description": .string(
                    "asset hrefs are relative to the root of \(request.member.folder)'s tree (SHARED/\(request.member.folder)/)"
                ),
            ])
            try write(fc.serialized(), named: fileName, in: payload, archive: request.archive)
        case .csv:
            fileName = "items.csv"
            var text = "id,collection,owner,datetime,bbox,cloud_cover,asset_hrefs\r\n"
            for r in records {
                text +=
                    try Self.csvRow(
                        r,
                        item: Self.hrefsFromTreeRoot(
                            try JSONValue.parse(r.item),
                            place: r.place,
                            collection: r.subject.collection
                        )
                    ) + "\r\n"
                advance(r)
            }
            try write(Array(text.utf8), named: fileName, in: payload, archive: request.archive)
        }
        let bytes: Int64
        if request.toStandardOutput {
            let file = payload.appendingPathComponent(fileName)
            let data = try Data(contentsOf: file)
            FileHandle.standardOutput.write(data)
            bytes = Int64(data.count)
        } else {
            let made: URL
            if request.archive {
                made = staging.appendingPathComponent("archive.tar.gz")
                try writeArchive(from: payload, to: made, at: request.at)
            } else {
                made = request.format == .stac ? payload : payload.appendingPathComponent(fileName)
            }
            bytes = Self.size(of: made)
            if request.replace, fm.fileExists(atPath: request.out.path) {
                // A folder cannot be renamed over: the old one goes first (a file is replaced atomically).
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: request.out.path, isDirectory: &isDirectory), isDirectory.boolValue {
                    try fm.removeItem(at: request.out)
                }
            }
            try AtomicFile.rename(made, to: request.out)
        }
        // The ledger records every export (who got what, as of when).
        try await Ledger.record(
            [
                LedgerEvent(
                    event: "export",
                    at: Date(),
                    fields: [
                        ("member", .string(request.member.folder)), ("as_of", .string(Timestamp.format(request.at))),
                        ("format", .string(request.format.rawValue + (request.archive ? "+archive" : ""))),
                        ("records", .int(Int64(records.count))),
                        ("path", .string(request.toStandardOutput ? "-" : request.out.lastPathComponent)),
                    ]
                )
            ],
            state: state,
            file: pipeline.ledgerPath
        )
        return ExportResult(records: records.count, bytes: bytes)
    }

    /// The folder an archive holds: its name without `.tar.gz` or `.tgz`.
    package static func archiveFolderName(_ out: URL) -> String {
        let name = out.lastPathComponent
        for suffix in [".tar.gz", ".tgz"] where name.hasSuffix(suffix) && name.count > suffix.count {
            return String(name.dropLast(suffix.count))
        }
        return name
    }

    /// Bytes of a file, or of every file under a folder.
    package static func size(of url: URL) -> Int64 {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return 0 }
        if !isDirectory.boolValue { return (try? fm.attributesOfItem(atPath: url.path)[.size] as? Int64) ?? 0 }
        var total: Int64 = 0
        for case let rel as String in fm.enumerator(atPath: url.path) ?? FileManager.DirectoryEnumerator() {
            let attributes = try? fm.attributesOfItem(atPath: url.appendingPathComponent(rel).path)
            if attributes?[.type] as? FileAttributeType == .typeRegular { total += (attributes?[.size] as? Int64) ?? 0 }
        }
        return total
    }

    /// The item with its asset hrefs made relative to the member's tree root
    /// (`collection/YYYY/MM/DD/folder/file`): a bare name in a GeoJSON or CSV file points at nothing.
    package static func hrefsFromTreeRoot(_ item: JSONValue, place: ItemPlace, collection: String) -> JSONValue {
        guard case .object(var o) = item, case .object(var assets)? = o["assets"] else { return item }
        let base = "\(collection)/\(place.day)/\(place.folder)/"
        for (key, value) in assets.entries {
            guard case .object(var asset) = value, let href = asset["href"]?.stringValue, !href.contains("://"),
                !href.hasPrefix("/")
            else { continue }
            asset["href"] = .string(base + href)
            assets[key] = .object(asset)
        }
        o["assets"] = .object(assets)
        return .object(o)
    }

    package func write(_ bytes: [UInt8], named name: String, in folder: URL, archive: Bool) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try AtomicFile.write(bytes, to: folder.appendingPathComponent(name))
    }

    /// A self-contained catalog in the layout of CONTRACT §6, its assets copied.
    package func writeSTAC(
        _ records: [StoredRecord],
        request: ExportRequest,
        to folder: URL,
        advance: (StoredRecord) -> Void
    ) throws {
        let publisher = Publisher(root: pipeline.sharedRoot, collections: pipeline.collections, exportTree: folder)
        try publisher.makeFolder(publisher.temporaryFolder)
        // Each day's item folders, and per collection its days and extent, as the catalogs need them.
        var days: [String: [String: [String]]] = [:]
        var extents: [String: Extent] = [:]
        for r in records {
            let c = r.subject.collection
            try publisher.publish(
                item: try JSONValue.parse(r.item),
                assets: r.assets,
                collection: c,
                place: r.place,
                to: [request.member],
                replacing: false
            )
            days[c, default: [:]][r.place.day, default: []].append(r.place.folder)
            var e = extents[c] ?? Extent()
            if let b = r.subject.bbox, b.count == 4 {
                let old = e.bbox ?? b
                e.bbox = [min(old[0], b[0]), min(old[1], b[1]), max(old[2], b[2]), max(old[3], b[3])]
            }
            if let s = r.startTime { e.start = min(e.start ?? s, s) }
            if let end = r.endTime ?? r.startTime { e.end = max(e.end ?? end, end) }
            extents[c] = e
            advance(r)
        }
        for (collection, byDay) in days {
            let title = pipeline.collections.first { $0.id == collection }?.title ?? collection
            try publisher.writeCatalogs(
                viewer: request.member,
                collection: collection,
                changedDays: byDay.mapValues { $0.sorted() },
                contents: Publisher.CollectionContents(
                    days: byDay.keys.sorted(),
                    extent: extents[collection] ?? Extent()
                ),
                title: title
            )
        }
        let name =
            request.member == .public
            ? "the public" : pipeline.member(request.member.folder)?.name ?? request.member.folder
        try publisher.writeRootCatalog(for: request.member, name: name, collections: days.keys.sorted())
        try FileManager.default.removeItem(at: publisher.temporaryFolder)
    }

    /// The folder as a `.tar.gz` holding one folder of its name, with `MANIFEST.sha256`
    /// (sha256sum -c format, run inside that folder) last.
    package func writeArchive(from folder: URL, to archive: URL, at: Date) throws {
        let top = folder.lastPathComponent
        let tar = try TarGzWriter(path: archive, modified: at)
        var manifest = ""
        let files = (FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? []).sorted()
        for rel in files {
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: folder.appendingPathComponent(rel).path, isDirectory: &isDir)
            if isDir.boolValue { continue }
            let sha = try tar.addFile("\(top)/\(rel)", from: folder.appendingPathComponent(rel))
            manifest += "\(sha)  \(rel)\n"
        }
        try tar.addData("\(top)/MANIFEST.sha256", Array(manifest.utf8))
        try tar.finish()
    }

    /// One RFC 4180 row: fields with commas, quotes or line breaks are quoted, quotes doubled.
    package static func csvRow(_ r: StoredRecord, item: JSONValue) throws -> String {
        let props = item["properties"]
        let bbox =
            item["bbox"]?.arrayValue?.compactMap(\.doubleValue).map { JSONValue.format($0) }.joined(separator: ",")
            ?? ""
        let cloud = props?["eo:cloud_cover"]?.doubleValue.map { JSONValue.format($0) } ?? ""
        let hrefs = (item["assets"]?.objectValue?.entries ?? []).compactMap { $0.value["href"]?.stringValue }.joined(
            separator: " "
        )
        let datetime = props?["datetime"]?.stringValue ?? props?["start_datetime"]?.stringValue ?? ""
        return [r.subject.id, r.subject.collection, r.subject.owner, datetime, bbox, cloud, hrefs].map(csvField).joined(
            separator: ","
        )
    }

    package static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
