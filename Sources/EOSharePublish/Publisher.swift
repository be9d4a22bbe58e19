import EOShareCore
import EOShareEmbargo
import EOShareFetch
import EOShareNormalize
import EOShareState
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
    package let exportTree: URL?
    /// Folders known to exist (saves a stat per path component on every publish).
    package var madeFolders = Set<String>()

    /// `root` is SHARED; with `exportTree`, the viewer's tree is written there instead,
    /// self-contained, its assets copied out of SHARED's store.
    public init(root: URL, collections: [CollectionConfig], exportTree: URL? = nil) {
        self.root = root
        self.collections = collections
        self.exportTree = exportTree
    }

    /// A viewer's tree: `SHARED/<viewer>`, or the export folder.
    package func treeFolder(_ viewer: Viewer) -> URL {
        exportTree ?? root.appendingPathComponent(viewer.folder, isDirectory: false)
    }

    public var storeFolder: URL { root.appendingPathComponent(".store", isDirectory: false) }

    /// Where files are written before they are renamed into a tree: outside every member's
    /// folder, so no reader ever meets a partial file, even after a crash.
    package var temporaryFolder: URL {
        exportTree.map { $0.appendingPathComponent(".tmp", isDirectory: false) }
            ?? storeFolder.appendingPathComponent(".tmp", isDirectory: false)
    }

    /// Creates the store, reachable by no one but the publisher, and its temporary folder.
    public func prepare() throws {
        try makeFolder(temporaryFolder)
        chmod(storeFolder.path, 0o700)
    }

    /// Removes what a killed run left half written (only ever in the temporary folder): all
    /// of it, or, while other workers may be writing there, what is older than `olderThan`.
    public func clearTemporaryFiles(olderThan age: TimeInterval? = nil) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporaryFolder.path)) ?? [] {
            // Files half written, and folders moved out of a tree but not yet removed.
            let file = temporaryFolder.appendingPathComponent(name, isDirectory: false)
            if let age {
                var st = stat()
                guard lstat(file.path, &st) == 0, Double(st.st_mtim.tv_sec) < Date().timeIntervalSince1970 - age
                else { continue }
            }
            try? FileManager.default.removeItem(at: file)
        }
    }

    package func itemFolder(_ viewer: Viewer, collection: String, place: ItemPlace) -> URL {
        treeFolder(viewer).appendingPathComponent(place.relativePath(collection: collection), isDirectory: false)
    }

    /// Where the store keeps bytes with this SHA-256.
    public func storePath(sha256: String) -> URL {
        storeFolder.appendingPathComponent(String(sha256.prefix(2)), isDirectory: false).appendingPathComponent(
            sha256,
            isDirectory: false
        )
    }

    /// Creates a folder and its parents unless this run already did. Folders made once and
    /// used once (an item's) are not remembered (`remember: false`), so what the run keeps
    /// grows with the day folders, not with the items.
    package func makeFolder(_ url: URL, remember: Bool = true) throws {
        guard !madeFolders.contains(url.path) else { return }
        if mkdir(url.path, 0o755) != 0 {
            switch errno {
            case EEXIST: break
            case ENOENT:
                // A parent this run made may have been removed since (another worker's
                // retraction emptied it): made again.
                madeFolders.remove(url.deletingLastPathComponent().path)
                try makeFolder(url.deletingLastPathComponent())
                guard mkdir(url.path, 0o755) == 0 || errno == EEXIST else {
                    throw POSIXIOError(op: "mkdir", path: url.path)
                }
            default: throw POSIXIOError(op: "mkdir", path: url.path)
            }
        }
        if remember { madeFolders.insert(url.path) }
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

    /// Whether the store holds these bytes (a lost store file makes a record unpublishable
    /// until its object is fetched again).
    public func hasStored(sha256: String) -> Bool { access(storePath(sha256: sha256).path, F_OK) == 0 }

    /// An item's JSON as every tree holds it: the item with the links of its place.
    public static func itemJSON(_ item: JSONValue, collection: String, place: ItemPlace) -> [UInt8] {
        let up = String(repeating: "../", count: place.depth)
        let toCollection = String(repeating: "../", count: place.depth - 1)
        return withLinks(
            item,
            [
                stacLink("root", "\(up)catalog.json"), stacLink("parent", "../catalog.json"),
                stacLink("collection", "\(toCollection)collection.json"),
            ]
        ).serialized()
    }

    /// Publishes an item into viewers' trees: in each, assets first, then the item JSON; when
    /// it replaces an earlier version, files that version had and this one has not are removed.
    /// The item JSON is the same bytes in every tree (its links are relative), so it is
    /// written once and hard-linked into the others: a link costs no new inode. Returns the
    /// SHA-256 of the item JSON, for the ledger.
    @discardableResult
    public func publish(
        item: JSONValue,
        assets: [StoredAsset],
        collection: String,
        place: ItemPlace,
        to viewers: [Viewer],
        replacing: Bool
    ) throws -> String {
        let json = Self.itemJSON(item, collection: collection, place: place)
        guard !viewers.isEmpty else { return Digest.sha256Hex(json) }
        var written: URL?
        let name = "\(place.folder).json"
        for viewer in viewers {
            let folder = itemFolder(viewer, collection: collection, place: place)
            try makeFolder(folder, remember: false)
            for asset in assets {
                try linkFromStore(
                    sha256: asset.sha256,
                    to: folder.appendingPathComponent(asset.file, isDirectory: false)
                )
            }
            CrashPoint.hit("publish.after-assets")
            let file = folder.appendingPathComponent(name, isDirectory: false)
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
            CrashPoint.hit("publish.after-item")
            guard replacing else { continue }
            let keep = Set(assets.map(\.file) + [name])
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            where !keep.contains(name) {
                unlink(folder.appendingPathComponent(name, isDirectory: false).path)
            }
        }
        return Digest.sha256Hex(json)
    }

    /// Retracts an item from a viewer's tree. The folder is renamed out of the tree in one
    /// step (JSON and assets vanish together, and a rename needs no free space), then
    /// emptied; where it cannot be moved (another filesystem), the JSON goes first.
    public func retract(collection: String, place: ItemPlace, from viewer: Viewer) throws {
        let folder = itemFolder(viewer, collection: collection, place: place)
        madeFolders.remove(folder.path)
        try removeFolder(folder, firstFile: "\(place.folder).json")
        // Folders above it that were left empty: their catalogs went when nothing linked
        // them any more (an emptied day's before its last item left).
        var parent = folder.deletingLastPathComponent()
        for _ in 1..<place.depth where rmdir(parent.path) == 0 {
            madeFolders.remove(parent.path)
            parent = parent.deletingLastPathComponent()
        }
        CrashPoint.hit("retract.after-files")
    }

    /// Takes a folder out of a tree: a rename into the temporary folder, then its removal.
    package func removeFolder(_ folder: URL, firstFile: String?) throws {
        let trash = AtomicFile.temporaryName(for: folder, in: temporaryFolder)
        if Glibc.rename(folder.path, trash.path) == 0 {
            CrashPoint.hit("retract.after-move")
            try? FileManager.default.removeItem(at: trash)
            return
        }
        if errno == ENOENT { return }
        // It cannot be moved (another file system, say): emptied where it is, its JSON first.
        if let firstFile {
            let json = folder.appendingPathComponent(firstFile, isDirectory: false)
            if unlink(json.path) != 0, errno != ENOENT { throw POSIXIOError(op: "unlink", path: json.path) }
        }
        CrashPoint.hit("retract.after-move")
        try FileManager.default.removeItem(at: folder)
    }

    /// Removes a whole viewer tree (a member that left the pipeline) in one rename.
    public func removeTree(_ viewer: Viewer) throws {
        let folder = treeFolder(viewer)
        madeFolders = madeFolders.filter { !$0.hasPrefix(folder.path + "/") && $0 != folder.path }
        let trash = AtomicFile.temporaryName(for: folder, in: temporaryFolder)
        if Glibc.rename(folder.path, trash.path) != 0 {
            guard errno != ENOENT else { return }
            throw POSIXIOError(op: "rename", path: folder.path)
        }
        try? FileManager.default.removeItem(at: trash)
    }

    /// Hard link from the store under a temporary name, then rename into place; a copy only
    /// when the tree is on another filesystem.
    package func linkFromStore(sha256: String, to dest: URL) throws {
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

    package static func stacLink(_ rel: String, _ href: String, type: String = "application/json") -> JSONValue {
        .object(["rel": .string(rel), "href": .string(href), "type": .string(type)])
    }

    package static func withLinks(_ item: JSONValue, _ links: [JSONValue]) -> JSONValue {
        guard case .object(var o) = item else { return item }
        o["links"] = .array(links)
        return .object(o)
    }
}
