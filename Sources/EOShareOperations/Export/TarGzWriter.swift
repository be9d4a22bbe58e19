import EOShareCore
import EOShareEmbargo
import EOSharePublish
import EOShareState
import EOShareUnpack
import Foundation

/// Writes a `.tar.gz` as a stream: ustar entries (a pax header for long names) deflated
/// through zlib straight into the output file, each file's SHA-256 taken on the way.
package final class TarGzWriter {
    private let fd: Int32
    private let deflater = Deflater(format: .gzip, level: 6)
    private let mtime: Int

    package init(path: URL, modified: Date) throws {
        fd = open(path.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw POSIXIOError(op: "create", path: path.path) }
        mtime = Int(modified.timeIntervalSince1970)
    }

    deinit { close(fd) }

    /// Adds a regular file's bytes under `name`; returns their SHA-256.
    @discardableResult
    package func addFile(_ name: String, from url: URL) throws -> String {
        var st = stat()
        guard stat(url.path, &st) == 0 else { throw POSIXIOError(op: "stat", path: url.path) }
        try header(name, size: Int(st.st_size))
        let digest = StreamingDigest(.sha256)
        let total = try FileChunks.read(url) { chunk in
            digest.update(chunk)
            try emit(chunk)
        }
        guard total == Int64(st.st_size) else {
            throw POSIXIOError(op: "read (file changed)", path: url.path, code: EIO)
        }
        try pad(Int(total))
        return digest.finalizeHex()
    }

    /// Adds bytes from memory under `name`.
    package func addData(_ name: String, _ bytes: [UInt8]) throws {
        try header(name, size: bytes.count)
        try bytes.withUnsafeBytes { try emit($0) }
        try pad(bytes.count)
    }

    /// Two zero blocks end the archive; then the gzip trailer.
    package func finish() throws {
        try [UInt8](repeating: 0, count: 1024).withUnsafeBytes { try emit($0) }
        try deflater.finish { try write($0) }
        guard fsync(fd) == 0 else { throw POSIXIOError(op: "fsync", path: "archive") }
    }

    private func header(_ name: String, size: Int) throws {
        let nameBytes = Array(name.utf8)
        if nameBytes.count > 100 {
            // pax extended header: "<len> path=<name>\n", the length counting itself.
            let body = " path=\(name)\n"
            var length = body.utf8.count + 1
            while String(length).count + body.utf8.count != length { length = String(length).count + body.utf8.count }
            let record = Array("\(length)\(body)".utf8)
            try emitHeader(
                name: Array("PaxHeaders/\(name.suffix(80))".utf8.prefix(100)),
                size: record.count,
                type: UInt8(ascii: "x")
            )
            try record.withUnsafeBytes { try emit($0) }
            try pad(record.count)
        }
        try emitHeader(name: Array(nameBytes.prefix(100)), size: size, type: UInt8(ascii: "0"))
    }

    private func emitHeader(name: [UInt8], size: Int, type: UInt8) throws {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ offset: Int, _ bytes: [UInt8]) { for (i, b) in bytes.enumerated() { h[offset + i] = b } }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let s = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - s.count)) + s).utf8) + [0]
        }
        put(0, name)
        put(100, octal(0o644, width: 8))
        put(108, octal(0, width: 8))
        put(116, octal(0, width: 8))
        put(124, octal(size, width: 12))
        put(136, octal(mtime, width: 12))
        put(148, Array("        ".utf8))
        h[156] = type
        put(257, Array("ustar\u{0}00".utf8))
        put(265, Array("eoshare".utf8))
        put(297, Array("eoshare".utf8))
        let sum = h.reduce(0) { $0 + Int($1) }
        put(148, Array(String(format: "%06o", sum).utf8) + [0, 0x20])
        try h.withUnsafeBytes { try emit($0) }
    }

    private func pad(_ size: Int) throws {
        let rest = (512 - size % 512) % 512
        if rest > 0 { try [UInt8](repeating: 0, count: rest).withUnsafeBytes { try emit($0) } }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        try deflater.feed(bytes) { try write($0) }
    }

    private func write(_ out: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < out.count {
            let n = Glibc.write(fd, out.baseAddress! + off, out.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXIOError(op: "write", path: "archive")
            }
            off += n
        }
    }
}
