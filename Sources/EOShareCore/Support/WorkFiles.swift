import Foundation

/// The work files of one object: the fetched bytes and what unpacking made beside them.
package enum WorkFiles {
    /// Where the unpacked form of a fetched file goes (same folder, so renames stay cheap):
    /// one file for a single compressed stream, a folder of entries for an archive.
    package static func unpacked(_ fetched: URL) -> URL { URL(fileURLWithPath: unpacked(fetched.path)) }

    package static func unpacked(_ path: String) -> String { path + ".out" }

    package static func discard(_ fetched: URL) { discard(fetched.path) }

    package static func discard(_ path: String) {
        unlink(path)
        // The unpacked form: a file or a folder tree.
        try? FileManager.default.removeItem(atPath: unpacked(path))
    }
}
