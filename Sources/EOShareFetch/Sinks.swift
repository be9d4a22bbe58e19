import EOShareCore
import EOShareState
import Foundation

/// Writes a transfer's body to a work file and digests it on the way (SHA-256 always, MD5
/// only when a `.md5` sidecar may need it), so no file is read again once it is complete.
/// Once a transfer has settled, the bytes on disk and the digest state cover the same
/// prefix, which is what lets an interrupted transfer continue with `Range` from `count`.
///
/// Where the work happens depends on the body (decided at its first byte):
/// - `.trailed`: a large or unannounced body is written by the transfer thread straight
///   from libcurl's buffer, and the `Digester`'s thread digests it right behind, reading
///   back the bytes just written (digesting costs as much as receiving and writing);
/// - `.deferred`: a body announced to fit one buffer is kept in it and written and digested
///   by the awaiting task in `complete()`, off the transfer thread, without a hand-over;
/// - `.direct`: a body longer than it announced, past the kept buffer: written and
///   digested on the transfer thread as it arrives.
///
/// `@unchecked Sendable` is sound: the state has owners in turn. While a transfer runs, the
/// transfer thread owns `mode`, `accepted`, `written` and the kept buffer; the digests,
/// `head` and `digested` belong to the digester thread while it has bytes of this sink to
/// digest, and `settle` (waiting under the digester's lock until it has none) hands them
/// back. The file descriptor is shared: the transfer thread appends, the digester reads at
/// offsets already written. The submitting task touches the sink only before
/// `CurlMulti.perform` and after it returns, when the transfer thread has settled it and
/// resumed the continuation (the inbox lock and the continuation order those accesses);
/// `complete()` runs then.
package final class FileSink: TransferSink, @unchecked Sendable {
    package enum Mode { case direct, trailed, deferred }

    private let fd: Int32
    private let wantsMD5: Bool
    private let digester: Digester
    private var mode = Mode.direct
    private var sha256 = StreamingDigest(.sha256)
    private var md5: StreamingDigest?
    /// Bytes handed to `write`.
    private var accepted: Int64 = 0
    /// Deferred: the buffer keeping the body until `complete`, and how full it is.
    private var kept: UnsafeMutableRawBufferPointer?
    private var filled = 0
    /// Bytes in the work file.
    private var written: Int64 = 0
    /// Trailed: bytes the digester has been told about.
    private var announced: Int64 = 0
    /// Bytes digested.
    private var digested: Int64 = 0
    /// The first bytes of the body, to recognise an error page served as data.
    private(set) var head: [UInt8] = []
    package static let headLength = 512

    /// `path`: the work file, created empty.
    package init(path: String, md5 wantsMD5: Bool, digester: Digester) throws(FetchError) {
        self.wantsMD5 = wantsMD5
        self.digester = digester
        // Read and write: the digester reads back what was written.
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            throw FetchError("cannot create the work file \(path.split(separator: "/").last ?? ""): \(why)")
        }
        md5 = wantsMD5 ? StreamingDigest(.md5) : nil
    }

    deinit {
        if let kept { digester.giveBack(kept) }
        close(fd)
    }

    package var count: Int64 { accepted }

    package func begin(at offset: Int64, total: Int64?) -> Bool {
        guard settle(), complete() else { return false }
        announced = written
        let fits = total.map { $0 - offset <= Int64(Digester.bufferSize) } ?? false
        mode = fits ? .deferred : .trailed
        if fits { kept = digester.takeBuffer() }
        guard offset == 0 else { return offset == written }
        guard written > 0 else { return true }
        // Starting over: forget the prefix and its digest state.
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { return false }
        sha256 = StreamingDigest(.sha256)
        md5 = wantsMD5 ? StreamingDigest(.md5) : nil
        head = []
        written = 0
        announced = 0
        digested = 0
        accepted = 0
        return true
    }

    package func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        switch mode {
        case .direct:
            accepted += Int64(bytes.count)
            guard store(bytes) else { return false }
            digest(bytes)
            return true
        case .deferred:
            guard let buffer = kept, filled + bytes.count <= buffer.count else {
                // More than announced: write what is kept and go on directly.
                guard complete() else { return false }
                mode = .direct
                return write(bytes)
            }
            (buffer.baseAddress! + filled).copyMemory(from: base, byteCount: bytes.count)
            filled += bytes.count
            accepted += Int64(bytes.count)
            return true
        case .trailed:
            guard store(bytes) else { return false }
            accepted += Int64(bytes.count)
            // One announcement per buffer's worth, however small libcurl's pieces.
            guard written - announced >= Int64(Digester.bufferSize) else { return true }
            defer { announced = written }
            return digester.announce(self, from: announced, to: written)
        }
    }

    package func settle() -> Bool {
        guard mode == .trailed else { return true }
        var ok = written == announced || digester.announce(self, from: announced, to: written)
        announced = written
        ok = digester.settle(self) && ok
        // Bytes written but not digested (a read back failed, or the digester stopped) are
        // cut off, so the file and the digest cover the same prefix again.
        if digested < written {
            _ = ftruncate(fd, off_t(digested))
            _ = lseek(fd, off_t(digested), SEEK_SET)
            written = digested
            announced = digested
            ok = false
        }
        accepted = written
        return ok
    }

    package func complete() -> Bool {
        guard mode == .deferred, let buffer = kept else { return true }
        kept = nil
        defer {
            digester.giveBack(buffer)
            filled = 0
        }
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<filled])
        let ok = store(bytes)
        if ok { digest(bytes) }
        accepted = written
        return ok
    }

    /// Appends bytes to the work file.
    private func store(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, base + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        written += Int64(bytes.count)
        return true
    }

    private func digest(_ bytes: UnsafeRawBufferPointer) {
        sha256.update(bytes)
        md5?.update(bytes)
        if head.count < Self.headLength { head += bytes.prefix(Self.headLength - head.count) }
        digested += Int64(bytes.count)
    }

    /// Digester thread: reads back and digests the file's bytes from `digested` to `end`.
    package func digestWritten(upTo end: Int64, buffer: UnsafeMutableRawBufferPointer) -> Bool {
        while digested < end {
            let n = pread(fd, buffer.baseAddress, min(buffer.count, Int(end - digested)), off_t(digested))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            digest(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        }
        return true
    }

    /// The digests of everything written (call once, after the transfer completed).
    package func finish() -> (sha256: String, md5: String?) {
        (sha256.finalizeHex(), md5?.finalizeHex())
    }
}

/// Collects a small body (a listing, an index, a sidecar) in memory, capped by the request's
/// `maxBytes`. Sendable for the same reason as `FileSink`: one owner at a time.
package final class MemorySink: TransferSink, @unchecked Sendable {
    private(set) var bytes: [UInt8] = []
    package var count: Int64 { Int64(bytes.count) }

    package func begin(at offset: Int64, total: Int64?) -> Bool {
        guard offset == 0 else { return offset == count }
        bytes = []
        return true
    }

    package func write(_ chunk: UnsafeRawBufferPointer) -> Bool {
        bytes.append(contentsOf: chunk)
        return true
    }

    package func settle() -> Bool { true }

    package func complete() -> Bool { true }
}
