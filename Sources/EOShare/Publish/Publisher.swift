import Foundation

/// Writes the shared directories of CONTRACT §6: per-viewer static STAC catalogs with
/// relative links, asset bytes stored once in `SHARED/.store` and hard-linked into each tree.
///
/// Order keeps the embargo under a crash: an item's assets go in before its JSON, and a
/// retraction removes the JSON first; every file appears by rename.
public final class Publisher {
    public let root: URL
    public let collections: [CollectionConfig]
    /// For an export: the one tree written (assets copied, not linked to the store).
    let exportTree: URL?
    /// Folders known to exist (saves a stat per path component on every publish).
    private var madeFolders = Set<String>()

    /// `root` is SHARED; with `exportTree`, the viewer's tree is written there instead,
    /// self-contained, its assets copied out of SHARED's store.
    public init(root: URL, collections: [CollectionConfig], exportTree: URL? = nil) {
        self.root = root
        self.collections = collections
        self.exportTree = exportTree
    }

    /// A viewer's tree: `SHARED/<viewer>`, or the export folder.
    func treeFolder(_ viewer: Viewer) -> URL { exportTree ?? root.appendingPathComponent(viewer.folder) }

    public var storeFolder: URL { root.appendingPathComponent(".store") }

    /// Where files are written before they are renamed into a tree: outside every member's
    /// folder, so no reader ever meets a partial file, even after a crash.
    var temporaryFolder: URL {
        exportTree.map { $0.appendingPathComponent(".tmp") } ?? storeFolder.appendingPathComponent(".tmp")
    }

    /// Creates the store, reachable by no one but the publisher, and its temporary folder.
    public func prepare() throws {
        try makeFolder(temporaryFolder)
        chmod(storeFolder.path, 0o700)
    }

    /// Removes what a killed run left half written (only ever in the temporary folder).
    public func clearTemporaryFiles() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporaryFolder.path)) ?? [] {
            unlink(temporaryFolder.appendingPathComponent(name).path)
        }
    }

    func itemFolder(_ viewer: Viewer, collection: String, id: String) -> URL {
        treeFolder(viewer).appendingPathComponent(collection).appendingPathComponent(id)
    }

    /// Where the store keeps bytes with this SHA-256.
    public func storePath(sha256: String) -> URL {
        storeFolder.appendingPathComponent(String(sha256.prefix(2))).appendingPathComponent(sha256)
    }

    /// Creates a folder and its parents unless this run already did.
    func makeFolder(_ url: URL) throws {
        guard !madeFolders.contains(url.path) else { return }
        if mkdir(url.path, 0o755) != 0 {
            switch errno {
            case EEXIST: break
            case ENOENT:
                try makeFolder(url.deletingLastPathComponent())
                guard mkdir(url.path, 0o755) == 0 || errno == EEXIST else { throw POSIXIOError(op: "mkdir", path: url.path) }
            default: throw POSIXIOError(op: "mkdir", path: url.path)
            }
        }
        madeFolders.insert(url.path)
    }

    /// Moves a verified work file into the store (once per content), read-only.
    public func store(file: URL, sha256: String) throws {
        let dest = storePath(sha256: sha256)
        if access(dest.path, F_OK) == 0 {
            unlink(file.path)
            return
        }
        try makeFolder(dest.deletingLastPathComponent())
        chmod(file.path, 0o444)
        if Glibc.rename(file.path, dest.path) != 0 {
            guard errno == EXDEV else { throw POSIXIOError(op: "rename", path: dest.path) }
            let tmp = AtomicFile.temporaryName(for: dest, in: temporaryFolder)
            try FileManager.default.copyItem(at: file, to: tmp)
            try AtomicFile.rename(tmp, to: dest)
            try? FileManager.default.removeItem(at: file)
        }
    }

    /// Publishes an item into viewers' trees: in each, assets first, then the item JSON; when
    /// it replaces an earlier version, files that version had and this one has not are removed.
    /// The item JSON is the same bytes in every tree (its links are relative), so it is
    /// written once and hard-linked into the others: a link costs no new inode.
    public func publish(
        item: JSONValue, assets: [StateStore.StoredAsset], collection: String, id: String, to viewers: [Viewer],
        replacing: Bool
    ) throws {
        guard !viewers.isEmpty else { return }
        let json = Self.withLinks(
            item,
            [
                Self.stacLink("root", "../../catalog.json"), Self.stacLink("parent", "../collection.json"),
                Self.stacLink("collection", "../collection.json"),
            ]
        ).serialized()
        var written: URL?
        for viewer in viewers {
            let folder = itemFolder(viewer, collection: collection, id: id)
            try makeFolder(folder)
            for asset in assets {
                try linkFromStore(sha256: asset.sha256, to: folder.appendingPathComponent(asset.file))
            }
            let file = folder.appendingPathComponent("\(id).json")
            if let written {
                let tmp = AtomicFile.temporaryName(for: file, in: temporaryFolder)
                if Glibc.link(written.path, tmp.path) != 0 {
                    try AtomicFile.write(json, to: file, temporaryFolder: temporaryFolder)
                } else {
                    try AtomicFile.rename(tmp, to: file)
                }
            } else {
                try AtomicFile.write(json, to: file, temporaryFolder: temporaryFolder)
                written = file
            }
            guard replacing else { continue }
            let keep = Set(assets.map(\.file) + ["\(id).json"])
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where !keep.contains(name) {
                unlink(folder.appendingPathComponent(name).path)
            }
        }
    }

    /// Retracts an item from a viewer's tree: the JSON first, then its files and folder.
    public func retract(collection: String, id: String, from viewer: Viewer) throws {
        let folder = itemFolder(viewer, collection: collection, id: id)
        let json = folder.appendingPathComponent("\(id).json")
        if unlink(json.path) != 0, errno != ENOENT { throw POSIXIOError(op: "unlink", path: json.path) }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
            unlink(folder.appendingPathComponent(name).path)
        }
        rmdir(folder.path)
        madeFolders.remove(folder.path)
    }

    /// Hard link from the store under a temporary name, then rename into place; a copy only
    /// when the tree is on another filesystem.
    func linkFromStore(sha256: String, to dest: URL) throws {
        let src = storePath(sha256: sha256)
        if exportTree != nil {
            // An export leaves eoshare's hands: its files must not share an inode with the store.
            let tmp = AtomicFile.temporaryName(for: dest, in: temporaryFolder)
            try FileManager.default.copyItem(at: src, to: tmp)
            try AtomicFile.rename(tmp, to: dest)
            return
        }
        // A new name: link(2) makes it appear whole, at once.
        if Glibc.link(src.path, dest.path) == 0 { return }
        guard errno == EEXIST || errno == EXDEV else { throw POSIXIOError(op: "link", path: dest.path) }
        var a = stat()
        var b = stat()
        if stat(src.path, &a) == 0, stat(dest.path, &b) == 0, a.st_ino == b.st_ino, a.st_dev == b.st_dev { return }
        let tmp = AtomicFile.temporaryName(for: dest, in: temporaryFolder)
        if Glibc.link(src.path, tmp.path) != 0 {
            guard errno == EXDEV else { throw POSIXIOError(op: "link", path: dest.path) }
            try FileManager.default.copyItem(at: src, to: tmp)
        }
        try AtomicFile.rename(tmp, to: dest)
    }

    /// Rewrites a viewer's collection.json from the items it holds (extents follow the items);
    /// removes it when the viewer has none left.
    public func writeCollection(_ collectionId: String, for viewer: Viewer, items: [StateStore.PublishedItem]) throws {
        let folder = treeFolder(viewer).appendingPathComponent(collectionId)
        let file = folder.appendingPathComponent("collection.json")
        guard !items.isEmpty else {
            unlink(file.path)
            rmdir(folder.path)
            madeFolders.remove(folder.path)
            return
        }
        let config = collections.first { $0.id == collectionId }
        var west = 180.0, south = 90.0, east = -180.0, north = -90.0
        var hasBox = false
        var start: Date?
        var end: Date?
        for item in items {
            if let b = item.bbox {
                hasBox = true
                west = min(west, b[0])
                south = min(south, b[1])
                east = max(east, b[2])
                north = max(north, b[3])
            }
            if let s = item.start { start = min(start ?? s, s) }
            if let e = item.end ?? item.start { end = max(end ?? e, e) }
        }
        let bbox: [Double] = hasBox ? [west, south, east, north] : [-180, -90, 180, 90]
        var links: [JSONValue] = [Self.stacLink("root", "../catalog.json"), Self.stacLink("parent", "../catalog.json")]
        links.reserveCapacity(items.count + 2)
        for item in items {
            links.append(Self.stacLink("item", "./\(item.id)/\(item.id).json", type: "application/geo+json"))
        }
        let interval: JSONValue = .array([
            start.map { .string(Timestamp.format($0)) } ?? .null, end.map { .string(Timestamp.format($0)) } ?? .null,
        ])
        var extent = JSONObject()
        extent["spatial"] = .object(["bbox": .array([.array(bbox.map(JSONValue.number))])])
        extent["temporal"] = .object(["interval": .array([interval])])
        var c = JSONObject()
        c["type"] = "Collection"
        c["stac_version"] = .string(STACItemWriter.stacVersion)
        c["id"] = .string(collectionId)
        c["title"] = .string(config?.title ?? collectionId)
        c["description"] = .string(config?.description ?? config?.title ?? collectionId)
        c["license"] = .string(config?.license ?? "proprietary")
        c["extent"] = .object(extent)
        c["links"] = .array(links)
        let collection = JSONValue.object(c)
        try makeFolder(folder)
        try AtomicFile.write(collection.serialized(), to: file, temporaryFolder: temporaryFolder)
    }

    /// Rewrites a viewer's root catalog linking its collections.
    public func writeCatalog(for viewer: Viewer, name: String, collections: [String]) throws {
        let folder = treeFolder(viewer)
        try makeFolder(folder)
        var links: [JSONValue] = [Self.stacLink("root", "./catalog.json")]
        for c in collections { links.append(Self.stacLink("child", "./\(c)/collection.json")) }
        let catalog: JSONValue = .object([
            "type": "Catalog",
            "stac_version": .string(STACItemWriter.stacVersion),
            "id": .string("eoshare-\(viewer.folder)"),
            "title": .string(viewer == .public ? "Public releases" : "Records shared with \(name)"),
            "description": .string(
                viewer == .public
                    ? "Consortium records released to the public." : "Consortium records that \(name) may see."),
            "links": .array(links),
        ])
        try AtomicFile.write(
            catalog.serialized(), to: folder.appendingPathComponent("catalog.json"), temporaryFolder: temporaryFolder)
    }

    static func stacLink(_ rel: String, _ href: String, type: String = "application/json") -> JSONValue {
        .object(["rel": .string(rel), "href": .string(href), "type": .string(type)])
    }

    static func withLinks(_ item: JSONValue, _ links: [JSONValue]) -> JSONValue {
        guard case .object(var o) = item else { return item }
        o["links"] = .array(links)
        return .object(o)
    }
}
