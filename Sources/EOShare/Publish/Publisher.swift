import Foundation

/// Writes the shared directories of CONTRACT §6: per-viewer static STAC catalogs with
/// relative links, asset bytes stored once in `SHARED/.store` and hard-linked into each tree.
///
/// Order keeps the embargo under a crash: an item's assets go in before its JSON, and a
/// retraction removes the JSON first; every file appears by rename.
public struct Publisher: Sendable {
    public let root: URL
    public let collections: [CollectionConfig]

    public init(root: URL, collections: [CollectionConfig]) {
        self.root = root
        self.collections = collections
    }

    public var storeFolder: URL { root.appendingPathComponent(".store") }

    func itemFolder(_ viewer: Viewer, collection: String, id: String) -> URL {
        root.appendingPathComponent(viewer.folder).appendingPathComponent(collection).appendingPathComponent(id)
    }

    /// Where the store keeps bytes with this SHA-256.
    public func storePath(sha256: String) -> URL {
        storeFolder.appendingPathComponent(String(sha256.prefix(2))).appendingPathComponent(sha256)
    }

    /// Moves a verified work file into the store (once per content), read-only.
    public func store(file: URL, sha256: String) throws {
        let dest = storePath(sha256: sha256)
        if FileManager.default.fileExists(atPath: dest.path) {
            try? FileManager.default.removeItem(at: file)
            return
        }
        try FileManager.default.createDirectory(at: dest.deletingLastPathComponent(), withIntermediateDirectories: true)
        chmod(file.path, 0o444)
        if Glibc.rename(file.path, dest.path) != 0 {
            guard errno == EXDEV else { throw POSIXIOError(op: "rename", path: dest.path) }
            let tmp = AtomicFile.temporaryName(for: dest)
            try FileManager.default.copyItem(at: file, to: tmp)
            try AtomicFile.rename(tmp, to: dest)
            try? FileManager.default.removeItem(at: file)
        }
    }

    /// Publishes an item into a viewer's tree: assets first, then the item JSON; then files
    /// a previous version had and this one does not are removed.
    public func publish(item: JSONValue, assets: [StateStore.StoredAsset], collection: String, id: String, to viewer: Viewer)
        throws
    {
        let folder = itemFolder(viewer, collection: collection, id: id)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for asset in assets {
            try linkFromStore(sha256: asset.sha256, to: folder.appendingPathComponent(asset.file))
        }
        let json = Self.withLinks(
            item,
            [
                Self.stacLink("root", "../../catalog.json"), Self.stacLink("parent", "../collection.json"),
                Self.stacLink("collection", "../collection.json"),
            ])
        try AtomicFile.write(json.serialized(), to: folder.appendingPathComponent("\(id).json"))
        let keep = Set(assets.map(\.file) + ["\(id).json"])
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where !keep.contains(name) {
            unlink(folder.appendingPathComponent(name).path)
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
    }

    /// Hard link from the store under a temporary name, then rename into place; a copy only
    /// when the tree is on another filesystem.
    func linkFromStore(sha256: String, to dest: URL) throws {
        let src = storePath(sha256: sha256)
        var a = stat()
        var b = stat()
        if stat(src.path, &a) == 0, stat(dest.path, &b) == 0, a.st_ino == b.st_ino, a.st_dev == b.st_dev { return }
        let tmp = AtomicFile.temporaryName(for: dest)
        if Glibc.link(src.path, tmp.path) != 0 {
            guard errno == EXDEV else { throw POSIXIOError(op: "link", path: dest.path) }
            try FileManager.default.copyItem(at: src, to: tmp)
        }
        try AtomicFile.rename(tmp, to: dest)
    }

    /// Rewrites a viewer's collection.json from the items it holds (extents follow the items);
    /// removes it when the viewer has none left.
    public func writeCollection(_ collectionId: String, for viewer: Viewer, items: [StateStore.PublishedItem]) throws {
        let folder = root.appendingPathComponent(viewer.folder).appendingPathComponent(collectionId)
        let file = folder.appendingPathComponent("collection.json")
        guard !items.isEmpty else {
            unlink(file.path)
            rmdir(folder.path)
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
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try AtomicFile.write(collection.serialized(), to: file)
    }

    /// Rewrites a viewer's root catalog linking its collections.
    public func writeCatalog(for viewer: Viewer, name: String, collections: [String]) throws {
        let folder = root.appendingPathComponent(viewer.folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
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
        try AtomicFile.write(catalog.serialized(), to: folder.appendingPathComponent("catalog.json"))
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
