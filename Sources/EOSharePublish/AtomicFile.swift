import EOShareCore
import EOShareEmbargo
import EOShareFetch
import EOShareNormalize
import EOShareState
import Foundation

/// Writes that no reader can see half-done: a temporary name in the same folder, then rename.
package enum AtomicFile {
    /// `temporaryFolder` (same filesystem) keeps even the temporary name out of readers' sight.
    package static func write(_ bytes: [UInt8], to url: URL, temporaryFolder: URL? = nil) throws {
        let tmp = temporaryName(for: url, in: temporaryFolder)
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw POSIXIOError(op: "create", path: tmp.path) }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = POSIXIOError(op: "write", path: tmp.path)
                close(fd)
                unlink(tmp.path)
                throw e
            }
            off += n
        }
        close(fd)
        try rename(tmp, to: url)
    }

    package static func rename(_ from: URL, to: URL) throws {
        guard Glibc.rename(from.path, to.path) == 0 else {
            let e = POSIXIOError(op: "rename", path: to.path)
            unlink(from.path)
            throw e
        }
    }

    /// Hidden, unique, in the same folder or the given one on the same filesystem (so rename
    /// is atomic); the `.tmp` ending marks it partial (collectors that read `*.prom` or
    /// `*.json` skip it).
    /// At most 40 bytes of the name are kept: a folder name may be as long as the file system
    /// allows, and its temporary name must still fit.
    package static func temporaryName(for url: URL, in folder: URL? = nil) -> URL {
        let name = String(decoding: url.lastPathComponent.utf8.prefix(40), as: UTF8.self)
        return (folder ?? url.deletingLastPathComponent()).appendingPathComponent(
            ".\(name).\(pid).\(UInt32.random(in: 0...UInt32.max)).tmp",
            isDirectory: false
        )
    }

    private static let pid = getpid()
}
