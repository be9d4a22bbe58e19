import Foundation

/// One of the record's files after unpacking: its name in the record (the path inside the
/// archive, or the object's name for a single stream), where it is, and the size and
/// SHA-256 measured while its bytes were written.
public struct UnpackedFile: Sendable, Hashable {
    public var name: String
    public var url: URL
    public var size: Int64
    public var sha256: String
}

/// A file being written: bytes go to disk with `write(2)` and through SHA-256 as they pass,
/// so the size and digest need no second read. Created exclusively (`O_EXCL`, `O_NOFOLLOW`):
/// it never follows or replaces anything already there. Mode 0644 whatever the archive says.
final class OutputFile {
    let path: String
    let name: String
    private var fd: Int32
    private let digest = StreamingDigest(.sha256)
    private(set) var size: Int64 = 0

    init(creating path: String, name: String) throws(UnpackError.Cause) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot create \(name): \(String(cString: strerror(errno)))") }
        self.path = path
        self.name = name
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    func write(_ chunk: UnsafeRawBufferPointer) throws(UnpackError.Cause) {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        digest.update(chunk)
        var written = 0
        while written < chunk.count {
            let n = Glibc.write(fd, base + written, chunk.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("cannot write \(name): \(String(cString: strerror(errno)))")
            }
            written += n
        }
        size += Int64(chunk.count)
    }

    /// Closes the file (a failed close can be a failed write) and describes it.
    func finish() throws(UnpackError.Cause) -> UnpackedFile {
        let rc = close(fd)
        fd = -1
        guard rc == 0 else { throw .io("cannot write \(name): \(String(cString: strerror(errno)))") }
        return UnpackedFile(name: name, url: URL(fileURLWithPath: path), size: size, sha256: digest.finalizeHex())
    }
}

/// An archive's entries on disk: a fresh folder, one regular file per entry, each name
/// checked against every earlier one (no duplicate, no file where a folder is, or under a
/// file), at most `maxEntries` of them.
final class ExtractionFolder {
    let root: String
    let maxEntries: Int
    private(set) var files: [UnpackedFile] = []
    private var fileNames: Set<String> = []
    private var folders: Set<String> = []
    private var entries = 0

    /// Creates `root` (removing what a crashed run may have left there).
    init(root: String, maxEntries: Int) throws(UnpackError.Cause) {
        self.root = root
        self.maxEntries = maxEntries
        removeOutput(root)
        guard mkdir(root, 0o755) == 0 else {
            throw .io("cannot create the unpack folder: \(String(cString: strerror(errno)))")
        }
    }

    /// A folder entry: created (it may be empty), and no file may take its name afterwards.
    /// The same folder may be listed twice.
    func addFolder(_ path: EntryPath) throws(UnpackError.Cause) {
        try countEntry()
        if fileNames.contains(path.path) { throw .clashes(with: path.path) }
        try makeFolders(path.parents + [path.path])
    }

    /// A file entry: its folders are made, then the file itself, exclusively.
    func createFile(_ path: EntryPath) throws(UnpackError.Cause) -> OutputFile {
        try countEntry()
        if fileNames.contains(path.path) { throw .duplicate }
        if folders.contains(path.path) { throw .clashes(with: path.path + "/") }
        try makeFolders(path.parents)
        fileNames.insert(path.path)
        return try OutputFile(creating: root + "/" + path.path, name: path.path)
    }

    func finish(_ file: OutputFile) throws(UnpackError.Cause) {
        files.append(try file.finish())
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
func removeOutput(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}
