import Dispatch
import EOShareCore
import EOShareFetch
import Foundation
import Synchronization

/// One output file. Created exclusively (`O_EXCL`, `O_NOFOLLOW`) by the reading thread, so
/// it never follows or replaces anything already there; mode 0644 whatever the archive says.
/// Its bytes then go to disk with `write(2)` and through SHA-256 on the writer's queue, so the
/// size and digest come without a second read.
package final class OutputFile: @unchecked Sendable {
    // @unchecked: after `init`, `fd`, `digest` and `written` are used only by jobs on the
    // FileWriter's serial queue, one at a time; `submitted` only by the thread that reads the
    // archive and hands chunks over. No field is touched from both sides.
    package let path: String
    package let name: String
    /// Bytes handed to the writer so far (the reading thread's count; the disk may lag).
    fileprivate(set) var submitted: Int64 = 0
    fileprivate var fd: Int32
    fileprivate let digest = StreamingDigest(.sha256)
    fileprivate var written: Int64 = 0

    fileprivate init(creating path: String, name: String) throws(UnpackError.Cause) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot create \(name): \(String(cString: strerror(errno)))") }
        self.path = path
        self.name = name
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    fileprivate func append(_ bytes: UnsafeRawBufferPointer) throws(UnpackError.Cause) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        digest.update(bytes)
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, base + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("cannot write \(name): \(String(cString: strerror(errno)))")
            }
            done += n
        }
        written += Int64(bytes.count)
    }

    /// Closes the file (a failed close can be a failed write) and describes it.
    fileprivate func close() throws(UnpackError.Cause) -> UnpackedFile {
        let rc = Glibc.close(fd)
        fd = -1
        guard rc == 0 else { throw .io("cannot write \(name): \(String(cString: strerror(errno)))") }
        return UnpackedFile(name: name, url: URL(fileURLWithPath: path), size: written, sha256: digest.finalizeHex())
    }
}

/// Writes the output files of one unpack on a serial queue of its own: SHA-256 and
/// `write(2)` of one chunk run while zlib inflates the next, on two cores, as `tar xzf` runs
/// gzip beside tar. The reading thread hands over copies of its chunks in four 256 KiB slots:
/// memory stays flat, and a disk slower than zlib holds the reader back (it waits for a
/// free slot). A failed write stops the unpack at the reader's next hand-over.
package final class FileWriter: @unchecked Sendable {
    // @unchecked: `slots` is shared, but each slot belongs to one side at a time: the reader
    // fills slot i only after taking a permit from `free`, then hands it to a queue job, which
    // returns the permit once written (slots are used round robin, so permits and slots pair
    // up). `nextSlot` is the reader's alone, `results` the queue's alone (read by the reader
    // only after `queue.sync`), and `state` sits behind a Mutex.
    package static let slotCount = 4
    package static let slotSize = 256 << 10

    private struct State {
        package var failure: UnpackError.Cause?
        package var abandoned = false
    }

    private let queue = DispatchQueue(label: "eoshare.unpack.writer")
    private let free = DispatchSemaphore(value: FileWriter.slotCount)
    private let slots: UnsafeMutableRawBufferPointer
    private var nextSlot = 0
    private var results: [UnpackedFile] = []
    private let state = Mutex(State())

    package init() {
        slots = .allocate(byteCount: Self.slotCount * Self.slotSize, alignment: 64)
    }

    deinit {
        // Jobs hold `self`: none can be pending here.
        slots.deallocate()
    }

    /// Creates a file, here and now (so a name that cannot be created fails at its entry).
    package func create(_ path: String, name: String) throws(UnpackError.Cause) -> OutputFile {
        try throwIfFailed()
        return try OutputFile(creating: path, name: name)
    }

    /// Hands `chunk` over to be digested and written; it may be reused once this returns.
    package func write(_ chunk: UnsafeRawBufferPointer, to file: OutputFile) throws(UnpackError.Cause) {
        var offset = 0
        while offset < chunk.count {
            try throwIfFailed()
            free.wait()
            let slot = nextSlot
            nextSlot = (nextSlot + 1) % Self.slotCount
            let count = min(Self.slotSize, chunk.count - offset)
            (slots.baseAddress! + slot * Self.slotSize).copyMemory(from: chunk.baseAddress! + offset, byteCount: count)
            file.submitted += Int64(count)
            offset += count
            queue.async {
                self.run { () throws(UnpackError.Cause) in
                    try file.append(
                        UnsafeRawBufferPointer(start: self.slots.baseAddress! + slot * Self.slotSize, count: count)
                    )
                }
                self.free.signal()
            }
        }
    }

    /// Closes `file` once its bytes are written; it joins the results in this order.
    package func close(_ file: OutputFile) throws(UnpackError.Cause) {
        try throwIfFailed()
        queue.async {
            self.run { () throws(UnpackError.Cause) in self.results.append(try file.close()) }
        }
    }

    /// Waits for every write, then returns the closed files, or the first failure.
    package func finish() throws(UnpackError.Cause) -> [UnpackedFile] {
        queue.sync {}
        try throwIfFailed()
        return results
    }

    /// Stops writing (the unpack failed): pending jobs are skipped, then this returns, so no
    /// write lands after the caller removes the output.
    package func abandon() {
        state.withLock { $0.abandoned = true }
        queue.sync {}
    }

    /// Runs a job on the queue unless the writer failed or was abandoned; keeps the first failure.
    private func run(_ job: () throws(UnpackError.Cause) -> Void) {
        guard state.withLock({ $0.failure == nil && !$0.abandoned }) else { return }
        do {
            try job()
        } catch {
            state.withLock { $0.failure = $0.failure ?? error }
        }
    }

    private func throwIfFailed() throws(UnpackError.Cause) {
        if let failure = state.withLock({ $0.failure }) { throw failure }
    }
}
