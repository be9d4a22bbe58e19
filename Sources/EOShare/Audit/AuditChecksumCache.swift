import Foundation
import GRDB

/// The audit's own memory of files it has hashed: (device, inode, size, mtime) → SHA-256.
/// An asset whose identity and size and mtime are unchanged since it was last read is not
/// read again (a hard-linked asset is read once for every tree); `--rehash` reads all.
/// Kept apart from the publisher's state, in `audit-cache.sqlite` beside it.
final class AuditChecksumCache {
    private let db: DatabaseQueue
    private var known: [String: String] = [:]
    private var fresh: [(String, String)] = []

    init(path: URL) throws {
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        db = try DatabaseQueue(path: path.path)
        try db.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS hashes (key TEXT PRIMARY KEY, sha256 TEXT NOT NULL)")
        }
        known = try db.read { db in
            Dictionary(
                try Row.fetchAll(db, sql: "SELECT key, sha256 FROM hashes").map { ($0["key"] as String, $0["sha256"] as String) },
                uniquingKeysWith: { a, _ in a })
        }
    }

    static func key(_ st: stat) -> String {
        "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// The file's SHA-256: from memory when its identity is unchanged, else read (and remembered).
    func sha256(of url: URL, stat st: stat, reread: Bool) throws -> String {
        let k = Self.key(st)
        if !reread, let sha = known[k] { return sha }
        let sha = try Digest.sha256Hex(ofFile: url)
        known[k] = sha
        fresh.append((k, sha))
        return sha
    }

    func save() throws {
        guard !fresh.isEmpty else { return }
        try db.write { db in
            for (k, sha) in fresh {
                try db.execute(sql: "INSERT OR REPLACE INTO hashes (key, sha256) VALUES (?, ?)", arguments: [k, sha])
            }
        }
        fresh.removeAll()
    }
}
