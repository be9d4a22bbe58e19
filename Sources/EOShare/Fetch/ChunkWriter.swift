import Foundation

/// Writes and digests transfer bytes on a thread of its own, so the transfer thread only
/// receives and copies while SHA-256 and the file writes run on the other core. A sink
/// fills a pooled buffer and submits it when full (one hand-over per 256 KiB, however small
/// libcurl's pieces); chunks of one sink are applied in order; at most `limit` bytes wait
/// at once (a full queue makes the transfer thread wait), so memory stays flat however
/// fast the network is.
///
/// `@unchecked Sendable` is sound: every stored property but the constants is private and
/// touched only between `condition.lock()` and `unlock()`; a buffer belongs to the sink
/// that took it until `submit`, then to the queue until the writer thread has applied it
/// and put it back in the pool.
final class ChunkWriter: @unchecked Sendable {
    private struct Chunk {
        let sink: FileSink
        /// A pooled buffer of `bufferSize` bytes, of which the first `count` are the chunk.
        let buffer: UnsafeMutableRawBufferPointer
        let count: Int
    }

    /// Buffers are reused: a fresh 256 KiB allocation each time would be an mmap and page
    /// faults per chunk.
    static let bufferSize = 256 << 10

    private let condition = NSCondition()
    private let limit: Int
    private var queue: [Chunk] = []
    private var head = 0
    private var queuedBytes = 0
    private var pending: [ObjectIdentifier: Int] = [:]
    private var failed: Set<ObjectIdentifier> = []
    private var stopping = false
    private var running = true
    private var pool: [UnsafeMutableRawBufferPointer] = []

    /// The default keeps what waits small enough to be digested while still in the cache.
    init(limit: Int = 2 << 20) {
        self.limit = limit
        let thread = Thread { [self] in run() }
        thread.name = "eoshare.writer"
        thread.start()
    }

    /// An empty buffer of `bufferSize` bytes for a sink to fill.
    func takeBuffer() -> UnsafeMutableRawBufferPointer {
        condition.lock()
        defer { condition.unlock() }
        return pool.popLast() ?? .allocate(byteCount: Self.bufferSize, alignment: 64)
    }

    /// Returns a buffer that was taken but not submitted.
    func giveBack(_ buffer: UnsafeMutableRawBufferPointer) {
        condition.lock()
        defer { condition.unlock() }
        if running { pool.append(buffer) } else { buffer.deallocate() }
    }

    /// Queues the first `count` bytes of `buffer` (taken with `takeBuffer`) for `sink`; the
    /// buffer is the writer's from here on. False when an earlier chunk of the sink failed.
    func submit(_ sink: FileSink, _ buffer: UnsafeMutableRawBufferPointer, count: Int) -> Bool {
        let id = ObjectIdentifier(sink)
        condition.lock()
        defer { condition.unlock() }
        while queuedBytes > 0, queuedBytes + count > limit, !failed.contains(id), !stopping { condition.wait() }
        // After `stop` nothing would apply the chunk: refuse it rather than wait forever.
        guard !failed.contains(id), !stopping else {
            if running { pool.append(buffer) } else { buffer.deallocate() }
            return false
        }
        queue.append(Chunk(sink: sink, buffer: buffer, count: count))
        queuedBytes += count
        pending[id, default: 0] += 1
        if queue.count - head == 1 { condition.broadcast() }
        return true
    }

    /// Waits until every chunk of `sink` is written and digested; false if one failed.
    /// Clears the failure, so a sink that starts over starts clean.
    func settle(_ sink: FileSink) -> Bool {
        let id = ObjectIdentifier(sink)
        condition.lock()
        defer { condition.unlock() }
        while pending[id, default: 0] > 0, running { condition.wait() }
        let unapplied = pending.removeValue(forKey: id) ?? 0
        return failed.remove(id) == nil && unapplied == 0
    }

    /// Applies what is queued, then ends the thread.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        for buffer in pool { buffer.deallocate() }
        pool = []
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

            let ok = skip || chunk.sink.apply(UnsafeRawBufferPointer(rebasing: chunk.buffer[..<chunk.count]))

            condition.lock()
            pool.append(chunk.buffer)
            queuedBytes -= chunk.count
            pending[id, default: 1] -= 1
            if !ok { failed.insert(id) }
            condition.broadcast()
            condition.unlock()
        }
    }
}
