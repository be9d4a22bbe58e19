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
        // One byte more than the size, so the read that meets the end needs no growth.
        var bytes = [UInt8](repeating: 0, count: max(Int(st.st_size), 0) + 1)
        var length = 0
        while true {
            if length == bytes.count { bytes.append(contentsOf: repeatElement(0, count: max(4096, bytes.count))) }
            let want = bytes.count - length
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + length, want) }
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXIOError(op: "read", path: path)
            }
            if n == 0 { break }
            length += n
        }
        bytes.removeLast(bytes.count - length)
        return bytes
    }
}
