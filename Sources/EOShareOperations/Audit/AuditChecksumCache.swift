import EOShareCore
import EOShareEmbargo
import EOSharePublish
import EOShareState
import EOShareUnpack
import Foundation
import GRDB
import Synchronization

/// The audit's own memory of files it has hashed: (device, inode) → size, mtime, ctime,
/// SHA-256. An asset whose size and times are unchanged since it was last read is not read
/// again (a hard-linked asset is read once for every tree); `--rehash` reads all. The ctime
/// is there because no one can set it: bytes edited and the mtime put back still miss. Kept apart from
/// the publisher's state, in `audit-cache.sqlite` beside it. Safe to share between the
/// audit's workers.
package final class AuditChecksumCache: Sendable {
    package struct Identity: Hashable {
        package var device: UInt64
        package var inode: UInt64
    }
    package struct Entry {
        package var size: Int64
        package var mtimeNanoseconds: Int64
        package var ctimeNanoseconds: Int64
        package var sha256: String
    }

    private let db: DatabaseQueue
    /// What is known of each file, and what this audit learned (to be saved).
    private struct Memory {
        package var known: [Identity: Entry] = [:]
        package var fresh: [Identity: Entry] = [:]
    }
    private let memory = Mutex(Memory())

    /// `path` nil keeps the cache in memory: an audit of a pipeline that has no state folder
    /// creates none.
    package init(path: URL?) throws {
        if let path {
            try FileManager.default.createDirectory(
                at: path.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            db = try DatabaseQueue(path: path.path)
        } else {
            db = try DatabaseQueue()
        }
        try db.write { db in
            try db.execute(
                sql: """
                    DROP TABLE IF EXISTS hashes;
                    CREATE TABLE IF NOT EXISTS files (
                        device INTEGER NOT NULL, inode INTEGER NOT NULL, size INTEGER NOT NULL,
                        mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (device, inode))
                    """
            )
        }
        let known = try db.read { db in
            var known: [Identity: Entry] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT device, inode, size, mtime_ns, ctime_ns, sha256 FROM files")
            while let row = try rows.next() {
                let id = Identity(device: UInt64(bitPattern: row[0]), inode: UInt64(bitPattern: row[1]))
                known[id] = Entry(size: row[2], mtimeNanoseconds: row[3], ctimeNanoseconds: row[4], sha256: row[5])
            }
            return known
        }
        memory.withLock { $0.known = known }
    }

    package static func describe(_ st: stat) -> (Identity, Entry) {
        (
            Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)),
            Entry(
                size: Int64(st.st_size),
                mtimeNanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                ctimeNanoseconds: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec),
                sha256: ""
            )
        )
    }

    /// The file's SHA-256: from memory when its size and times are unchanged, else computed
    /// by `read` and remembered.
    package func sha256(stat st: stat, reread: Bool, read: () throws -> String) rethrows -> String {
        var (id, entry) = Self.describe(st)
        if !reread {
            let old = memory.withLock { $0.known[id] }
            if let old, old.size == entry.size, old.mtimeNanoseconds == entry.mtimeNanoseconds,
                old.ctimeNanoseconds == entry.ctimeNanoseconds
            {
                return old.sha256
            }
        }
        entry.sha256 = try read()
        memory.withLock {
            $0.known[id] = entry
            $0.fresh[id] = entry
        }
        return entry.sha256
    }

    package func save() throws {
        let fresh = memory.withLock { $0.fresh }
        guard !fresh.isEmpty else { return }
        try db.write { db in
            let insert = try db.makeStatement(
                sql:
                    "INSERT OR REPLACE INTO files (device, inode, size, mtime_ns, ctime_ns, sha256) VALUES (?, ?, ?, ?, ?, ?)"
            )
            for (id, e) in fresh {
                try insert.execute(arguments: [
                    Int64(bitPattern: id.device), Int64(bitPattern: id.inode), e.size, e.mtimeNanoseconds,
                    e.ctimeNanoseconds, e.sha256,
                ])
            }
        }
        memory.withLock { $0.fresh.removeAll() }
    }
}
