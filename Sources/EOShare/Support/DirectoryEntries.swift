import Foundation

/// A folder's entries with their kind, read with readdir(3): the kind comes from the
/// directory itself (d_type), so walking a tree of 100,000 items costs no stat per name.
enum DirectoryEntries {
    struct Entry {
        var name: String
        var isDirectory: Bool
    }

    /// Entries sorted by name, without "." and ".."; empty when the folder cannot be read.
    static func list(_ folder: URL) -> [Entry] { list(folder.path) }

    static func list(_ folder: String) -> [Entry] {
        guard let dir = opendir(folder) else { return [] }
        defer { closedir(dir) }
        return read(dir)
    }

    /// The entries of an open directory stream, which the caller keeps (its `dirfd` stays
    /// usable for `openat`/`fstatat` on the entries).
    static func read(_ dir: OpaquePointer) -> [Entry] {
        var out: [Entry] = []
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            var isDirectory = Int32(e.pointee.d_type) == DT_DIR
            if Int32(e.pointee.d_type) == DT_UNKNOWN {
                var st = stat()
                isDirectory = fstatat(dirfd(dir), name, &st, 0) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
            }
            out.append(Entry(name: name, isDirectory: isDirectory))
        }
        return out.sorted { $0.name < $1.name }
    }
}
