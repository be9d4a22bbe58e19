import EOShareCore
import EOShareEmbargo
import EOShareFetch
import EOShareNormalize
import EOShareState
import Foundation

/// The append-only ledger of CONTRACT §5, as `ledger.jsonl`: one JSON object a line, each
/// carrying the SHA-256 of the line before it (`prev`).
///
/// Lines are born in the state, in the transaction of the change they record
/// (`StateStore.appendLedger`); this file receives them afterwards. So a crash between the
/// two loses nothing (the next flush appends what is missing), a torn last line is cut off
/// before anything is chained after it, and the state's anchor (how many lines, and the
/// hash at the last one) lets the audit see a truncated, edited or deleted file.
public enum Ledger {
    /// The chain's anchor: what the first line's `prev` holds.
    public static let genesis = LedgerAnchor.genesis

    /// Records events that change nothing else (an export: who got what, as of when):
    /// committed in the state, then appended to the file.
    public static func record(_ events: [LedgerEvent], state: any StateStore, file url: URL) async throws {
        try await state.appendLedger(events)
        try await flush(state: state, to: url)
    }

    /// Appends every committed line the file does not hold yet, then fsyncs. Several
    /// processes may flush at once (an export during an ingest): the file's lock orders them.
    public static func flush(state: any StateStore, to url: URL) async throws {
        // A PostgreSQL state's ledger is its table: there is no file to append to.
        if state is PostgresStateStore { return }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(url.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXIOError(op: "open", path: url.path) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw POSIXIOError(op: "flock", path: url.path) }
        let pending = try await state.pendingLedgerLines()
        guard let last = pending.last else { return }
        let anchor = try await state.ledgerAnchor()
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw POSIXIOError(op: "fstat", path: url.path) }
        var size = Int64(st.st_size)
        // Lines a flush wrote before it was killed, ahead of what the state knows: keep those
        // that are the pending lines themselves, cut a torn one.
        var skip = 0
        if size > anchor.fileBytes {
            let tail = try readTail(fd, from: anchor.fileBytes, to: size, path: url.path)
            var offset = 0
            while skip < pending.count, let nl = tail[offset...].firstIndex(of: 0x0A),
                Array(tail[offset..<nl]) == pending[skip].line
            {
                offset = nl + 1
                skip += 1
            }
            // Whatever follows the last whole line is a torn one: cut, never chained onto.
            let whole = (tail[offset...].lastIndex(of: 0x0A)).map { $0 + 1 } ?? offset
            if whole < tail.count {
                size = anchor.fileBytes + Int64(whole)
                guard ftruncate(fd, off_t(size)) == 0 else { throw POSIXIOError(op: "truncate", path: url.path) }
            }
        }
        var bytes: [UInt8] = []
        for p in pending.dropFirst(skip) {
            bytes += p.line
            bytes.append(0x0A)
        }
        CrashPoint.hit("ledger.before-append")
        if !bytes.isEmpty {
            if CrashPoint.isArmed("ledger.torn-append") {
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, max(1, $0.count / 2)) }
                CrashPoint.hit("ledger.torn-append")
            }
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n != bytes.count {
                // A short write (disk full): cut what went in, so no half line stays for the
                // next line to be chained onto.
                let e = POSIXIOError(op: "append", path: url.path, code: n < 0 ? errno : ENOSPC)
                _ = ftruncate(fd, off_t(size))
                throw e
            }
        }
        guard fsync(fd) == 0 else { throw POSIXIOError(op: "fsync", path: url.path) }
        CrashPoint.hit("ledger.after-append")
        try await state.ledgerAppended(through: last.seq, fileBytes: size + Int64(bytes.count))
    }

    package static func readTail(_ fd: Int32, from start: Int64, to end: Int64, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(end - start))
        var done = 0
        while done < out.count {
            let n = out.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, $0.count - done, off_t(start) + off_t(done))
            }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw POSIXIOError(op: "read", path: path) }
            done += n
        }
        return out
    }
}
