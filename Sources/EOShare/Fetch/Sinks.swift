import Foundation

/// Writes a transfer's body to a work file and digests it on the way (SHA-256 always, MD5
/// only when a `.md5` sidecar may need it), so no file is read twice. The bytes on disk and
/// the digest state always cover the same prefix, which is what lets an interrupted
/// transfer continue with `Range` from `count` without re-reading anything.
///
/// Where the work happens depends on the body (decided at its first byte):
/// - `.threaded`: a large or unannounced body goes in 256 KiB buffers to the `ChunkWriter`'s
///   thread, so the transfer thread only receives and copies;
/// - `.deferred`: a body announced to fit one buffer is kept in it and written and digested
///   by the awaiting task in `complete()`, off the transfer thread, without a hand-over;
/// - `.direct`: without a writer, on the transfer thread as it arrives.
///
/// `@unchecked Sendable` is sound: the state has owners in turn. While a transfer runs, the
/// transfer thread owns `mode`, `accepted` and the buffer being filled; the file, the
/// digests, `head` and `written` belong to the writer thread while chunks of this sink are
/// queued, and `settle` (waiting under the writer's lock until none is) hands them back.
/// The submitting task touches the sink only before `CurlMulti.perform` and after it
/// returns, when the transfer thread has settled it and resumed the continuation (the inbox
/// lock and the continuation order those accesses); `complete()` runs then.
final class FileSink: TransferSink, @unchecked Sendable {
    enum Mode { case direct, threaded, deferred }

    let url: URL
    private let fd: Int32
    private let wantsMD5: Bool
    private let writer: ChunkWriter?
    private var mode = Mode.direct
    private var sha256 = StreamingDigest(.sha256)
    private var md5: StreamingDigest?
    /// Bytes handed to `write`.
    private var accepted: Int64 = 0
    /// The buffer being filled (threaded: until it goes to the writer; deferred: until
    /// `complete`), and how full it is.
    private var filling: UnsafeMutableRawBufferPointer?
    private var filled = 0
    /// Bytes written and digested.
    private var written: Int64 = 0
    /// The first bytes of the body, to recognise an error page served as data.
    private(set) var head: [UInt8] = []
    static let headLength = 512

    init(_ url: URL, md5 wantsMD5: Bool, writer: ChunkWriter?) throws(FetchError) {
        self.url = url
        self.wantsMD5 = wantsMD5
        self.writer = writer
        fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            throw FetchError("cannot create the work file \(url.lastPathComponent): \(why)")
        }
        md5 = wantsMD5 ? StreamingDigest(.md5) : nil
    }

    deinit {
        if let filling { writer?.giveBack(filling) }
        close(fd)
    }

    var count: Int64 { accepted }

    func begin(at offset: Int64, total: Int64?) -> Bool {
        guard settle(), complete() else { return false }
        if let writer {
            let fits = total.map { $0 - offset <= Int64(ChunkWriter.bufferSize) } ?? false
            mode = fits ? .deferred : .threaded
            if fits { filling = writer.takeBuffer() }
        } else {
            mode = .direct
        }
        guard offset == 0 else { return offset == written }
        guard written > 0 else { return true }
        // Starting over: forget the prefix and its digest state.
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { return false }
        sha256 = StreamingDigest(.sha256)
        md5 = wantsMD5 ? StreamingDigest(.md5) : nil
        head = []
        written = 0
        accepted = 0
        return true
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        switch mode {
        case .direct:
            accepted += Int64(bytes.count)
            return apply(bytes)
        case .deferred:
            guard let buffer = filling, filled + bytes.count <= buffer.count else {
                // More than announced: write what is kept and go on directly.
                guard complete() else { return false }
                mode = .direct
                return write(bytes)
            }
            (buffer.baseAddress! + filled).copyMemory(from: base, byteCount: bytes.count)
            filled += bytes.count
            accepted += Int64(bytes.count)
            return true
        case .threaded:
            guard let writer else { return false }
            accepted += Int64(bytes.count)
            var offset = 0
            while offset < bytes.count {
                let buffer = filling ?? writer.takeBuffer()
                filling = buffer
                let n = min(bytes.count - offset, buffer.count - filled)
                (buffer.baseAddress! + filled).copyMemory(from: base + offset, byteCount: n)
                filled += n
                offset += n
                if filled == buffer.count, !submit() { return false }
            }
            return true
        }
    }

    /// Threaded: hands the filled part of the current buffer to the writer.
    private func submit() -> Bool {
        guard let writer, let buffer = filling else { return true }
        filling = nil
        defer { filled = 0 }
        guard filled > 0 else {
            writer.giveBack(buffer)
            return true
        }
        return writer.submit(self, buffer, count: filled)
    }

    func settle() -> Bool {
        switch mode {
        case .direct, .deferred:
            return true
        case .threaded:
            let submitted = submit()
            let ok = (writer?.settle(self) ?? true) && submitted
            accepted = written
            return ok
        }
    }

    func complete() -> Bool {
        guard mode == .deferred, let buffer = filling else { return true }
        filling = nil
        defer {
            writer?.giveBack(buffer)
            filled = 0
        }
        let ok = apply(UnsafeRawBufferPointer(rebasing: buffer[..<filled]))
        accepted = written
        return ok
    }

    /// Writes and digests bytes (on the writer thread, or where the mode says).
    func apply(_ bytes: UnsafeRawBufferPointer) -> Bool {
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
        sha256.update(bytes)
        md5?.update(bytes)
        if head.count < Self.headLength { head += bytes.prefix(Self.headLength - head.count) }
        written += Int64(bytes.count)
        return true
    }

    /// The digests of everything written (call once, after the transfer completed).
    func finish() -> (sha256: String, md5: String?) {
        (sha256.finalizeHex(), md5?.finalizeHex())
    }
}

/// Collects a small body (a listing, an index, a sidecar) in memory, capped by the request's
/// `maxBytes`. Sendable for the same reason as `FileSink`: one owner at a time.
final class MemorySink: TransferSink, @unchecked Sendable {
    private(set) var bytes: [UInt8] = []
    var count: Int64 { Int64(bytes.count) }

    func begin(at offset: Int64, total: Int64?) -> Bool {
        guard offset == 0 else { return offset == count }
        bytes = []
        return true
    }

    func write(_ chunk: UnsafeRawBufferPointer) -> Bool {
        bytes.append(contentsOf: chunk)
        return true
    }

    func settle() -> Bool { true }

    func complete() -> Bool { true }
}
