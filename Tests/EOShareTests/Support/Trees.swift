import Foundation

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

/// Reads published trees in the layout of CONTRACT §6, as a test needs them.
enum Trees {
    struct Item {
        var viewer: String
        var collection: String
        var id: String
        /// The item JSON.
        var url: URL
    }

    /// Every item JSON under SHARED (`<viewer>/<collection>/…/<folder>/<folder>.json`).
    static func items(_ shared: URL) -> [Item] {
        var out: [Item] = []
        let e = FileManager.default.enumerator(atPath: shared.path)
        while let rel = e?.nextObject() as? String {
            if rel.hasPrefix(".store") {
                e?.skipDescendants()
                continue
            }
            let parts = rel.split(separator: "/").map(String.init)
            guard parts.count >= 4, let name = parts.last, name.hasSuffix(".json"),
                parts[parts.count - 2] + ".json" == name
            else { continue }
            let folder = parts[parts.count - 2]
            out.append(
                Item(
                    viewer: parts[0],
                    collection: parts[1],
                    id: ItemFolderName.decode(folder) ?? folder,
                    url: shared.appendingPathComponent(rel)
                )
            )
        }
        return out.sorted { ($0.viewer, $0.collection, $0.id) < ($1.viewer, $1.collection, $1.id) }
    }

    /// The ids a viewer's tree holds.
    static func ids(_ shared: URL, _ viewer: String, collection: String? = nil) -> Set<String> {
        Set(
            items(shared).filter { $0.viewer == viewer && (collection == nil || $0.collection == collection) }.map(\.id)
        )
    }

    /// The item JSON of a record in a viewer's tree, if there.
    static func item(_ shared: URL, _ viewer: String, _ collection: String, _ id: String) -> URL? {
        items(shared).first { $0.viewer == viewer && $0.collection == collection && $0.id == id }?.url
    }

    /// Every catalog file under a viewer's tree, relative to SHARED.
    static func catalogs(_ shared: URL, _ viewer: String) -> [String] {
        var out: [String] = []
        let e = FileManager.default.enumerator(atPath: shared.appendingPathComponent(viewer).path)
        while let rel = e?.nextObject() as? String {
            if rel.hasSuffix("catalog.json") || rel.hasSuffix("collection.json") { out.append("\(viewer)/\(rel)") }
        }
        return out.sorted()
    }
}
