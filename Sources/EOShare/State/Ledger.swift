import Foundation

/// The append-only ledger of CONTRACT §5: one JSON object a line, each carrying the SHA-256
/// of the line before it (`prev`), so an edited or truncated ledger breaks the chain.
public final class Ledger {
    public let url: URL
    private var fd: Int32 = -1
    private var previousHash: String
    /// The file's size after our last append: if it grew since, another process (an
    /// export during an ingest) appended, and the chain continues from its line.
    private var knownSize: Int64 = -1

    /// The chain's anchor: what the first line's `prev` holds.
    public static let genesis = String(repeating: "0", count: 64)

    public init(url: URL) throws {
        self.url = url
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        previousHash = try Self.lastLineHash(url) ?? Self.genesis
        fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw POSIXIOError(op: "open", path: url.path) }
        var st = stat()
        fstat(fd, &st)
        knownSize = Int64(st.st_size)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends one event. Fields are written in the given order after `at` and `event`.
    public func append(event: String, at: Date, fields: [(String, JSONValue)]) throws {
        var o = JSONObject()
        o["at"] = .string(Timestamp.format(at))
        o["event"] = .string(event)
        for (k, v) in fields { o[k] = v }
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        var st = stat()
        fstat(fd, &st)
        if Int64(st.st_size) != knownSize {
            previousHash = try Self.lastLineHash(url) ?? Self.genesis
        }
        o["prev"] = .string(previousHash)
        let line = JSONValue.object(o).serialized(pretty: false)
        var bytes = line
        bytes.append(0x0A)
        // One write(2) of the whole line with O_APPEND: a kill never leaves half a line.
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw POSIXIOError(op: "append", path: url.path) }
        previousHash = Digest.sha256Hex(line)
        knownSize = Int64(st.st_size) + Int64(bytes.count)
    }

    /// Makes appended lines durable before a run reports success.
    public func sync() throws {
        guard fsync(fd) == 0 else { throw POSIXIOError(op: "fsync", path: url.path) }
    }

    /// SHA-256 of the file's last line (without its newline), read from the end.
    static func lastLineHash(_ url: URL) throws -> String? {
        guard let h = FileHandle(forReadingAtPath: url.path) else { return nil }
        defer { try? h.close() }
        let size = try h.seekToEnd()
        guard size > 0 else { return nil }
        var chunk: UInt64 = 64 * 1024
        while true {
            let start = size > chunk ? size - chunk : 0
            try h.seek(toOffset: start)
            var data = [UInt8](try h.readToEnd() ?? Data())
            if data.last == 0x0A { data.removeLast() }
            if let nl = data.lastIndex(of: 0x0A) {
                return Digest.sha256Hex(Array(data[(nl + 1)...]))
            }
            if start == 0 { return Digest.sha256Hex(data) }
            chunk *= 4
        }
    }
}
