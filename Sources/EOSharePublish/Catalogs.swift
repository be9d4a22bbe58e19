import EOShareCore
import EOShareEmbargo
import EOShareFetch
import EOShareNormalize
import EOShareState
import Foundation

/// The catalogs of CONTRACT §6 above the items: per viewer a root catalog, per collection a
/// `collection.json` linking its years, a catalog per year, month and day, and `undated/`.
/// No file grows with the whole collection, and a run rewrites only those whose content
/// changed. A catalog names an item only once the item is whole in the tree, and stops
/// naming it before the item leaves; a new day's catalog exists before its month links it,
/// and an emptied one goes only after its month stopped linking it.
extension Publisher {
    /// What a viewer's collection holds, as its catalogs need it.
    public struct CollectionContents: Sendable {
        /// Day folders (`YYYY/MM/DD`, `undated`) holding at least one item, sorted.
        public var days: [String]
        public var extent: Extent

        public init(days: [String], extent: Extent) {
            self.days = days
            self.extent = extent
        }
    }

    /// Rewrites the catalogs of one viewer's collection after the items of `changedDays`
    /// changed: those days' catalogs (with each day's item folders), the
    /// months and years above them, and `collection.json` (its extent from `contents`).
    public func writeCatalogs(
        viewer: Viewer,
        collection: String,
        changedDays: [String: [String]],
        contents: CollectionContents,
        title: String
    ) throws {
        let base = treeFolder(viewer).appendingPathComponent(collection, isDirectory: false)
        let present = Set(contents.days)
        var emptied: [String] = []
        for (day, folders) in changedDays.sorted(by: { $0.key < $1.key }) {
            guard !folders.isEmpty else {
                emptied.append(day)
                continue
            }
            var links = [
                Self.stacLink(
                    "root",
                    String(repeating: "../", count: day == ItemPlace.undated ? 2 : 4) + "catalog.json"
                ),
                Self.stacLink("parent", day == ItemPlace.undated ? "../collection.json" : "../catalog.json"),
            ]
            for folder in folders {
                links.append(Self.stacLink("item", "./\(folder)/\(folder).json", type: "application/geo+json"))
            }
            let name = day == ItemPlace.undated ? "undated" : day.replacingOccurrences(of: "/", with: "-")
            try writeCatalog(
                Self.catalog(id: "\(collection)-\(name)", description: "\(title): items of \(name)", links: links),
                to: base.appendingPathComponent(day, isDirectory: false)
            )
        }
        CrashPoint.hit("catalogs.after-day")
        // Months and years above the changed days, rewritten from the days that hold items.
        let dated = changedDays.keys.filter { $0 != ItemPlace.undated }
        let months = Set(dated.map { String($0.prefix(7)) })
        let years = Set(months.map { String($0.prefix(4)) })
        for month in months.sorted() {
            let days = contents.days.filter { $0.hasPrefix(month + "/") }.map { String($0.suffix(2)) }
            guard !days.isEmpty else { continue }
            let links =
                [Self.stacLink("root", "../../../catalog.json"), Self.stacLink("parent", "../catalog.json")]
                + days.map { Self.stacLink("child", "./\($0)/catalog.json") }
            try writeCatalog(
                Self.catalog(
                    id: "\(collection)-\(month.replacingOccurrences(of: "/", with: "-"))",
                    description: "\(title): items of \(month)",
                    links: links
                ),
                to: base.appendingPathComponent(month, isDirectory: false)
            )
        }
        for year in years.sorted() {
            let monthsOfYear = Set(
                contents.days.filter { $0.hasPrefix(year + "/") }.map { String($0.dropFirst(5).prefix(2)) }
            )
            guard !monthsOfYear.isEmpty else { continue }
            let links =
                [Self.stacLink("root", "../../catalog.json"), Self.stacLink("parent", "../collection.json")]
                + monthsOfYear.sorted().map { Self.stacLink("child", "./\($0)/catalog.json") }
            try writeCatalog(
                Self.catalog(id: "\(collection)-\(year)", description: "\(title): items of \(year)", links: links),
                to: base.appendingPathComponent(year, isDirectory: false)
            )
        }
        CrashPoint.hit("catalogs.after-month")
        if contents.days.isEmpty {
            unlink(base.appendingPathComponent("collection.json", isDirectory: false).path)
        } else {
            try writeCollectionFile(collection, viewer: viewer, contents: contents)
        }
        CrashPoint.hit("catalogs.after-collection")
        // What lost its last item goes now that nothing links it: day, then month, then year.
        for day in emptied where !present.contains(day) {
            removeCatalogFolder(base.appendingPathComponent(day, isDirectory: false))
        }
        for month in months where !contents.days.contains(where: { $0.hasPrefix(month + "/") }) {
            removeCatalogFolder(base.appendingPathComponent(month, isDirectory: false))
        }
        for year in years where !contents.days.contains(where: { $0.hasPrefix(year + "/") }) {
            removeCatalogFolder(base.appendingPathComponent(year, isDirectory: false))
        }
        if contents.days.isEmpty { rmdir(base.path) }
    }

    package func writeCollectionFile(_ collectionId: String, viewer: Viewer, contents: CollectionContents) throws {
        let config = collections.first { $0.id == collectionId }
        let extent = contents.extent
        let bbox: [Double] = extent.bbox ?? [-180, -90, 180, 90]
        var links: [JSONValue] = [Self.stacLink("root", "../catalog.json"), Self.stacLink("parent", "../catalog.json")]
        var children = Set<String>()
        for day in contents.days { children.insert(day == ItemPlace.undated ? day : String(day.prefix(4))) }
        for child in children.sorted() { links.append(Self.stacLink("child", "./\(child)/catalog.json")) }
        let interval: JSONValue = .array([
            extent.start.map { .string(Timestamp.format($0)) } ?? .null,
            extent.end.map { .string(Timestamp.format($0)) } ?? .null,
        ])
        var spatial = JSONObject()
        spatial["bbox"] = .array([.array(bbox.map(JSONValue.number))])
        var temporal = JSONObject()
        temporal["interval"] = .array([interval])
        var c = JSONObject()
        c["type"] = "Collection"
        c["stac_version"] = .string(STACItemWriter.stacVersion)
        c["id"] = .string(collectionId)
        c["title"] = .string(config?.title ?? collectionId)
        c["description"] = .string(config?.description ?? config?.title ?? collectionId)
        c["license"] = .string(config?.license ?? "proprietary")
        c["extent"] = .object(["spatial": .object(spatial), "temporal": .object(temporal)])
        c["links"] = .array(links)
        let folder = treeFolder(viewer).appendingPathComponent(collectionId, isDirectory: false)
        try makeFolder(folder)
        try writeIfChanged(
            JSONValue.object(c).serialized(),
            to: folder.appendingPathComponent("collection.json", isDirectory: false)
        )
    }

    /// Rewrites a viewer's root catalog linking its collections.
    public func writeRootCatalog(for viewer: Viewer, name: String, collections: [String]) throws {
        let folder = treeFolder(viewer)
        try makeFolder(folder)
        var links: [JSONValue] = [Self.stacLink("root", "./catalog.json")]
        for c in collections { links.append(Self.stacLink("child", "./\(c)/collection.json")) }
        var catalog = Self.catalog(
            id: "eoshare-\(viewer.folder)",
            description: viewer == .public
                ? "Consortium records released to the public." : "Consortium records that \(name) may see.",
            links: links
        )
        if case .object(var o) = catalog {
            o["title"] = .string(viewer == .public ? "Public releases" : "Records shared with \(name)")
            catalog = .object(o)
        }
        try writeIfChanged(catalog.serialized(), to: folder.appendingPathComponent("catalog.json", isDirectory: false))
        CrashPoint.hit("catalogs.after-root")
    }

    package static func catalog(id: String, description: String, links: [JSONValue]) -> JSONValue {
        var o = JSONObject()
        o["type"] = "Catalog"
        o["stac_version"] = .string(STACItemWriter.stacVersion)
        o["id"] = .string(id)
        o["description"] = .string(description)
        o["links"] = .array(links)
        return .object(o)
    }

    package func writeCatalog(_ catalog: JSONValue, to folder: URL) throws {
        try makeFolder(folder)
        try writeIfChanged(catalog.serialized(), to: folder.appendingPathComponent("catalog.json", isDirectory: false))
    }

    /// Writes by rename unless the file already holds these bytes.
    package func writeIfChanged(_ bytes: [UInt8], to file: URL) throws {
        if let old = try? FileBytes.read(file), old == bytes { return }
        try AtomicFile.write(bytes, to: file, temporaryFolder: temporaryFolder)
    }

    /// Removes a catalog that names nothing any more, then its folder if empty.
    package func removeCatalogFolder(_ folder: URL) {
        unlink(folder.appendingPathComponent("catalog.json", isDirectory: false).path)
        rmdir(folder.path)
        madeFolders.remove(folder.path)
    }

    /// Takes a catalog out of a tree when it cannot be rewritten (a full disk): removing a
    /// file needs no space, and a missing catalog names nothing.
    public func removeDayCatalog(viewer: Viewer, collection: String, day: String) {
        unlink(
            treeFolder(viewer).appendingPathComponent(collection, isDirectory: false).appendingPathComponent(
                day,
                isDirectory: false
            )
            .appendingPathComponent("catalog.json", isDirectory: false).path
        )
    }

    /// The day folders of a collection folder: `YYYY/MM/DD` and `undated`.
    package static func dayFolders(_ collection: URL) -> [String] {
        var days: [String] = []
        if access(collection.appendingPathComponent(ItemPlace.undated, isDirectory: false).path, F_OK) == 0 {
            days.append(ItemPlace.undated)
        }
        for y in DirectoryEntries.list(collection.path) where y.isDirectory && isNumber(y.name, digits: 4) {
            for m in DirectoryEntries.list(collection.appendingPathComponent(y.name, isDirectory: false).path)
            where m.isDirectory && isNumber(m.name, digits: 2) {
                for d in DirectoryEntries.list(
                    collection.appendingPathComponent("\(y.name)/\(m.name)", isDirectory: false).path
                )
                where d.isDirectory && isNumber(d.name, digits: 2) {
                    days.append("\(y.name)/\(m.name)/\(d.name)")
                }
            }
        }
        return days
    }

    package static func isNumber(_ name: String, digits: Int) -> Bool {
        name.utf8.count == digits && name.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}
