import Foundation

/// A folder's entries with their kind, read with readdir(3): the kind comes from the
/// directory itself (d_type), so walking a tree of 100,000 items costs no stat per name.
enum DirectoryEntries {
    struct Entry {
        var name: String
        var isDirectory: Bool
    }

    /// Entries sorted by name, without "." and ".."; empty when the folder cannot be read.
    static func list(_ folder: URL) -> [Entry] {
        guard let dir = opendir(folder.path) else { return [] }
        defer { closedir(dir) }
        var out: [Entry] = []
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            var isDirectory = Int32(e.pointee.d_type) == DT_DIR
            if Int32(e.pointee.d_type) == DT_UNKNOWN {
                var st = stat()
                isDirectory = stat(folder.appendingPathComponent(name).path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
            }
            out.append(Entry(name: name, isDirectory: isDirectory))
        }
        return out.sorted { $0.name < $1.name }
    }
}
