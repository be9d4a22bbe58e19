import Foundation

/// Writes a transfer's body to a work file and digests it on the way (SHA-256 always, MD5
/// only when a `.md5` sidecar may need it), so no file is read twice. The bytes on disk and
/// the digest state always cover the same prefix, which is what lets an interrupted
/// transfer continue with `Range` from `count` without re-reading anything.
///
/// `@unchecked Sendable` is sound: the submitting task creates the sink and hands it to
/// `CurlMulti.perform`, whose thread alone calls `begin`/`write` until it resumes the
/// caller's continuation (the inbox lock and the continuation order those accesses); the
/// task touches the sink only before submitting and after the await returns.
final class FileSink: TransferSink, @unchecked Sendable {
    let url: URL
    private let fd: Int32
    private let wantsMD5: Bool
    private var sha256 = StreamingDigest(.sha256)
    private var md5: StreamingDigest?
    private(set) var count: Int64 = 0
    /// The first bytes of the body, to recognise an error page served as data.
    private(set) var head: [UInt8] = []
    static let headLength = 512

    init(_ url: URL, md5 wantsMD5: Bool) throws(FetchError) {
        self.url = url
        self.wantsMD5 = wantsMD5
        fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FetchError("cannot create the work file \(url.lastPathComponent): \(String(cString: strerror(errno)))")
        }
        md5 = wantsMD5 ? StreamingDigest(.md5) : nil
    }

    deinit { close(fd) }

    func begin(at offset: Int64) -> Bool {
        guard offset == 0 else { return offset == count }
        guard count > 0 else { return true }
        // Starting over: forget the prefix and its digest state.
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { return false }
        sha256 = StreamingDigest(.sha256)
        md5 = wantsMD5 ? StreamingDigest(.md5) : nil
        head = []
        count = 0
        return true
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
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
        count += Int64(bytes.count)
        return true
    }

    /// The digests of everything written (call once, after the transfer).
    func finish() -> (sha256: String, md5: String?) {
        (sha256.finalizeHex(), md5?.finalizeHex())
    }
}

/// Collects a small body (a listing, an index, a sidecar) in memory, capped by the request's
/// `maxBytes`. Sendable for the same reason as `FileSink`: one owner at a time.
final class MemorySink: TransferSink, @unchecked Sendable {
    private(set) var bytes: [UInt8] = []
    var count: Int64 { Int64(bytes.count) }

    func begin(at offset: Int64) -> Bool {
        guard offset == 0 else { return offset == count }
        bytes = []
        return true
    }

    func write(_ chunk: UnsafeRawBufferPointer) -> Bool {
        bytes.append(contentsOf: chunk)
        return true
    }
}
