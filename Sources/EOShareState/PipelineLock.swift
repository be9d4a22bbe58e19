import EOShareCore
import EOShareEmbargo
import Foundation

/// Another ingest holds the pipeline's lock (exit 75).
public struct LockBusy: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "another ingest holds the lock \(path) (use --wait to wait for it)" }
}

/// One ingest per pipeline: an `flock` on a file beside the state. The kernel drops it
/// when the process dies, so a killed run never leaves a stale lock.
public final class PipelineLock: Sendable {
    package let fd: Int32

    public init(pipeline: Pipeline, wait: Bool) throws {
        let path = pipeline.lockPath
        do {
            try FileManager.default.createDirectory(
                at: path.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
        } catch {
            throw POSIXIOError(op: "create", path: path.deletingLastPathComponent().path, code: EACCES)
        }
        fd = open(path.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXIOError(op: "open", path: path.path) }
        while flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            if errno == EINTR { continue }
            close(fd)
            if errno == EWOULDBLOCK { throw LockBusy(path: path.path) }
            throw POSIXIOError(op: "flock", path: path.path)
        }
    }

    public func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
