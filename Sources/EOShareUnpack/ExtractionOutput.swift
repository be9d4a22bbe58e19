import EOShareCore
import EOShareFetch
import Foundation

/// One of the record's files after unpacking: its name in the record (the path inside the
/// archive, or the object's name for a single stream), where it is, and the size and
/// SHA-256 measured while its bytes were written.
public struct UnpackedFile: Sendable, Hashable {
    public var name: String
    public var url: URL
    public var size: Int64
    public var sha256: String

    public init(name: String, url: URL, size: Int64, sha256: String) {
        self.name = name
        self.url = url
        self.size = size
        self.sha256 = sha256
    }
}

/// An archive's entries on disk: a fresh folder, one regular file per entry, each name
/// checked against every earlier one (no duplicate, no file where a folder is, or under a
/// file), at most `maxEntries` of them. The files' bytes go through `writer`.
package final class ExtractionFolder {
    package let root: String
    package let maxEntries: Int
    package let writer: FileWriter
    private var fileNames: Set<String> = []
    private var folders: Set<String> = []
    private var entries = 0

    /// Creates `root` (removing what a crashed run may have left there).
    package init(root: String, maxEntries: Int, writer: FileWriter) throws(UnpackError.Cause) {
        self.root = root
        self.maxEntries = maxEntries
        self.writer = writer
        removeOutput(root)
        guard mkdir(root, 0o755) == 0 else {
            throw .io("cannot create the unpack folder: \(String(cString: strerror(errno)))")
        }
    }

    /// A folder entry: created (it may be empty), and no file may take its name afterwards.
    /// The same folder may be listed twice.
    package func addFolder(_ path: EntryPath) throws(UnpackError.Cause) {
        try countEntry()
        if fileNames.contains(path.path) { throw .clashes(with: path.path) }
        try makeFolders(path.parents + [path.path])
    }

    /// A file entry: its folders are made, then the file itself, exclusively.
    package func createFile(_ path: EntryPath) throws(UnpackError.Cause) -> OutputFile {
        try countEntry()
        if fileNames.contains(path.path) { throw .duplicate }
        if folders.contains(path.path) { throw .clashes(with: path.path + "/") }
        try makeFolders(path.parents)
        fileNames.insert(path.path)
        return try writer.create(root + "/" + path.path, name: path.path)
    }

    package func write(_ chunk: UnsafeRawBufferPointer, to file: OutputFile) throws(UnpackError.Cause) {
        try writer.write(chunk, to: file)
    }

    /// The file's last byte was written; it joins the record's files.
    package func finish(_ file: OutputFile) throws(UnpackError.Cause) {
        try writer.close(file)
    }

    private func countEntry() throws(UnpackError.Cause) {
        entries += 1
        guard entries <= maxEntries else { throw .tooManyEntries(limit: maxEntries) }
    }

    private func makeFolders(_ paths: [String]) throws(UnpackError.Cause) {
        for folder in paths where !folders.contains(folder) {
            if fileNames.contains(folder) { throw .clashes(with: folder) }
            guard mkdir(root + "/" + folder, 0o755) == 0 || errno == EEXIST else {
                throw .io("cannot create the folder \(folder): \(String(cString: strerror(errno)))")
            }
            folders.insert(folder)
        }
    }
}

/// Removes an unpack output, file or folder tree, if there is one.
package func removeOutput(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}
