import Foundation

/// Writes and digests transfer bytes on a thread of its own, so the transfer thread only
/// receives and copies while SHA-256 and the file writes run on the other core. Chunks of
/// one sink are applied in order; at most `limit` bytes wait at once (a full queue makes the
/// transfer thread wait), so memory stays flat however fast the network is.
///
/// `@unchecked Sendable` is sound: every stored property but the two constants is private
/// and touched only between `condition.lock()` and `unlock()`; the chunks' buffers are
/// owned by the queue from `enqueue` until the writer thread frees them after applying.
final class ChunkWriter: @unchecked Sendable {
    private struct Chunk {
        let sink: FileSink
        let buffer: UnsafeMutableRawBufferPointer
    }

    private let condition = NSCondition()
    private let limit: Int
    private var queue: [Chunk] = []
    private var head = 0
    private var queuedBytes = 0
    private var pending: [ObjectIdentifier: Int] = [:]
    private var failed: Set<ObjectIdentifier> = []
    private var stopping = false
    private var running = true

    init(limit: Int = 8 << 20) {
        self.limit = limit
        let thread = Thread { [self] in run() }
        thread.name = "eoshare.writer"
        thread.start()
    }

    /// Queues a copy of `bytes` for `sink`; false when an earlier chunk of it failed.
    func enqueue(_ sink: FileSink, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty else { return true }
        let id = ObjectIdentifier(sink)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        buffer.copyMemory(from: bytes)
        condition.lock()
        defer { condition.unlock() }
        while queuedBytes > 0, queuedBytes + bytes.count > limit, !failed.contains(id) { condition.wait() }
        guard !failed.contains(id) else {
            buffer.deallocate()
            return false
        }
        queue.append(Chunk(sink: sink, buffer: buffer))
        queuedBytes += bytes.count
        pending[id, default: 0] += 1
        condition.broadcast()
        return true
    }

    /// Waits until every chunk of `sink` is written and digested; false if one failed.
    /// Clears the failure, so a sink that starts over starts clean.
    func settle(_ sink: FileSink) -> Bool {
        let id = ObjectIdentifier(sink)
        condition.lock()
        defer { condition.unlock() }
        while pending[id, default: 0] > 0 { condition.wait() }
        pending[id] = nil
        return failed.remove(id) == nil
    }

    /// Applies what is queued, then ends the thread.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while head == queue.count, !stopping { condition.wait() }
            if head == queue.count {
                running = false
                condition.broadcast()
                condition.unlock()
                return
            }
            let chunk = queue[head]
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            }
            let id = ObjectIdentifier(chunk.sink)
            let skip = failed.contains(id)
            condition.unlock()

            let ok = skip || chunk.sink.apply(UnsafeRawBufferPointer(chunk.buffer))
            chunk.buffer.deallocate()

            condition.lock()
            queuedBytes -= chunk.buffer.count
            pending[id, default: 1] -= 1
            if !ok { failed.insert(id) }
            condition.broadcast()
            condition.unlock()
        }
    }
}
