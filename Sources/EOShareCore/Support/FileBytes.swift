import Foundation

/// A whole file's bytes in one allocation and one copy: `[UInt8](Data(contentsOf:))`
/// copies twice and resolves the URL each time, which showed in the normalize stage.
public enum FileBytes {
    public static func read(_ url: URL) throws -> [UInt8] {
        let path = url.path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw POSIXIOError(op: "open", path: path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw POSIXIOError(op: "stat", path: path) }
        // Read straight into uninitialized storage (no zero fill), one byte more than the
        // size so the read that meets the end needs no growth.
        let capacity = max(Int(st.st_size), 0) + 1
        var bytes = try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            count = try readAll(fd, into: UnsafeMutableRawBufferPointer(buffer), path: path)
        }
        // The file grew since fstat: read on until its end.
        var full = bytes.count == capacity
        while full {
            let chunk = try [UInt8](unsafeUninitializedCapacity: 65_536) { buffer, count in
                count = try readAll(fd, into: UnsafeMutableRawBufferPointer(buffer), path: path)
            }
            bytes += chunk
            full = chunk.count == 65_536
        }
        return bytes
    }

    /// Fills `buffer` from `fd` until it is full or the file ends; the count read.
    private static func readAll(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        var length = 0
        while length < buffer.count {
            let n = Glibc.read(fd, buffer.baseAddress! + length, buffer.count - length)
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXIOError(op: "read", path: path)
            }
            if n == 0 { break }
            length += n
        }
        return length
    }
}
