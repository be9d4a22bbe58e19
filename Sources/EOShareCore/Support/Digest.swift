import CEOShareCrypto
import Foundation

/// A streaming message digest (SHA-256 or MD5) over libcrypto's EVP interface, fed as bytes
/// move so no file is read twice.
public final class StreamingDigest {
    public enum Algorithm: Sendable { case sha256, md5 }

    private let context: OpaquePointer
    public let algorithm: Algorithm

    public init(_ algorithm: Algorithm) {
        self.algorithm = algorithm
        context = EVP_MD_CTX_new()!
        let md = algorithm == .sha256 ? EVP_sha256() : EVP_md5()
        EVP_DigestInit_ex(context, md, nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes and returns the lowercase hex digest.
    public func finalizeHex() -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Int(EVP_MAX_MD_SIZE)) { out in
            var length: UInt32 = 0
            EVP_DigestFinal_ex(context, out.baseAddress, &length)
            return Digest.hex(UnsafeBufferPointer(rebasing: out[..<Int(length)]))
        }
    }
}

public enum Digest {
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        let d = StreamingDigest(.sha256)
        d.update(bytes)
        return d.finalizeHex()
    }

    public static func sha256Hex(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let d = StreamingDigest(.sha256)
        d.update(UnsafeRawBufferPointer(bytes))
        return d.finalizeHex()
    }

    /// SHA-256 of a file, read in 1 MiB blocks.
    public static func sha256Hex(ofFile url: URL) throws -> String {
        let d = StreamingDigest(.sha256)
        try FileChunks.read(url) { d.update($0) }
        return d.finalizeHex()
    }

    /// Multihash of a SHA2-256 digest (code 0x12, length 0x20), as STAC's `file:checksum` wants.
    public static func multihashSHA256(hex: String) -> String { "1220" + hex }

    /// Written straight into the string's storage: every fetched object and published file
    /// gets a digest, and the arrays this used to build cost more than the digest of 20 KiB.
    package static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var i = 0
            for b in bytes {
                out[i] = hexDigit(b >> 4)
                out[i + 1] = hexDigit(b & 0xF)
                i += 2
            }
            return i
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }
}

/// A failed system call on a path, with errno's text.
public struct POSIXIOError: Error, CustomStringConvertible {
    public let op: String
    public let path: String
    public let code: Int32

    public init(op: String, path: String, code: Int32 = errno) {
        self.op = op
        self.path = path
        self.code = code
    }

    public var description: String { "\(op) \(path): \(String(cString: strerror(code)))" }
}

/// Reads a file in fixed 1 MiB blocks (memory flat in the file's size).
package enum FileChunks {
    /// Calls `body` with each block; returns the bytes read.
    @discardableResult
    package static func read(_ url: URL, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw POSIXIOError(op: "open", path: url.path) }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        return try read(fd: fd, buffer: buffer, path: url.path, body)
    }

    /// Reads an open file to its end through a caller's buffer (reused across many files).
    @discardableResult
    package static func read(
        fd: Int32,
        buffer: UnsafeMutableRawBufferPointer,
        path: @autoclosure () -> String,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int64 {
        var total: Int64 = 0
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXIOError(op: "read", path: path())
            }
            if n == 0 { return total }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
        }
    }
}
