import EOShareCore
import EOShareState
import Foundation

/// Digests work files on a thread of its own, right behind the transfer thread's writes.
/// SHA-256 costs about as much CPU as receiving and writing together, so the transfer
/// thread does only what `curl -o` does (receive, write straight from libcurl's buffer) and
/// tells this thread how far each file is written; this thread reads the new bytes back
/// while they are still in the page cache and digests them on the other core.
///
/// At most `limit` bytes wait to be digested at once (a transfer thread announcing more
/// waits), so the bytes read back are ones just written, whatever the network's speed.
/// Each sink's bytes are digested in order, one sink at a time.
///
/// `@unchecked Sendable` is sound: every stored property but the constants is private and
/// touched only between `condition.lock()` and `unlock()`; the read buffer is used by this
/// thread alone.
package final class Digester: @unchecked Sendable {
    /// The unit of reading back, and the size of the buffers lent to sinks that keep a small
    /// body whole (`takeBuffer`).
    package static let bufferSize = 256 << 10

    private struct Work {
        package let sink: FileSink
        /// Bytes of the file announced as written.
        package var target: Int64
        /// Bytes of the file digested.
        package var done: Int64
        package var queued: Bool
        package var failed: Bool
    }

    private let condition = NSCondition()
    private let limit: Int64
    private var work: [ObjectIdentifier: Work] = [:]
    /// Sinks with announced bytes not yet digested, in order of announcement.
    private var queue: [ObjectIdentifier] = []
    /// Announced bytes not yet digested, over every sink.
    private var backlog: Int64 = 0
    private var stopping = false
    private var running = true
    private var pool: [UnsafeMutableRawBufferPointer] = []

    /// The default keeps the bytes read back among the last few megabytes written.
    package init(limit: Int64 = 8 << 20) {
        self.limit = limit
        let thread = Thread { [self] in run() }
        thread.name = "eoshare.digest"
        thread.start()
    }

    /// A buffer of `bufferSize` bytes, for a sink keeping a small body until it completes.
    package func takeBuffer() -> UnsafeMutableRawBufferPointer {
        condition.lock()
        defer { condition.unlock() }
        return pool.popLast() ?? .allocate(byteCount: Self.bufferSize, alignment: 64)
    }

    package func giveBack(_ buffer: UnsafeMutableRawBufferPointer) {
        condition.lock()
        defer { condition.unlock() }
        if running { pool.append(buffer) } else { buffer.deallocate() }
    }

    /// `sink`'s file is written up to `end`; `start` is where the last announcement ended
    /// (after `settle`: what is digested). Waits while too much waits to be digested. False
    /// once a read back failed or after `stop`.
    package func announce(_ sink: FileSink, from start: Int64, to end: Int64) -> Bool {
        let id = ObjectIdentifier(sink)
        condition.lock()
        defer { condition.unlock() }
        var item = work[id] ?? Work(sink: sink, target: start, done: start, queued: false, failed: false)
        guard !item.failed, !stopping else { return false }
        backlog += end - item.target
        item.target = end
        if !item.queued, item.done < end {
            item.queued = true
            queue.append(id)
            if queue.count == 1 { condition.broadcast() }
        }
        work[id] = item
        while backlog > limit, !stopping, work[id]?.failed == false { condition.wait() }
        return true
    }

    /// Waits until everything announced for `sink` is digested and forgets the sink; false
    /// if a read back failed (the sink's digest then covers a prefix only).
    package func settle(_ sink: FileSink) -> Bool {
        let id = ObjectIdentifier(sink)
        condition.lock()
        defer { condition.unlock() }
        while let item = work[id], item.queued || item.done < item.target, !item.failed, running {
            condition.wait()
        }
        guard let item = work.removeValue(forKey: id) else { return true }
        backlog -= item.target - item.done
        return !item.failed && item.done == item.target
    }

    /// Digests what was announced, then ends the thread.
    package func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        for buffer in pool { buffer.deallocate() }
        pool = []
        condition.unlock()
    }

    private func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 64)
        defer { buffer.deallocate() }
        condition.lock()
        while true {
            while queue.isEmpty, !stopping { condition.wait() }
            guard !queue.isEmpty else { break }
            let id = queue.removeFirst()
            guard var item = work[id] else { continue }
            let (from, to) = (item.done, item.target)
            condition.unlock()

            let ok = item.sink.digestWritten(upTo: to, buffer: buffer)

            condition.lock()
            item = work[id] ?? item
            backlog -= to - from
            item.done = to
            if !ok {
                // Nothing more of this sink is read: what waits for it is waited for no more.
                item.failed = true
                backlog -= item.target - to
                item.target = to
            }
            item.queued = item.target > item.done
            if item.queued { queue.append(id) }
            work[id] = item
            condition.broadcast()
        }
        running = false
        condition.broadcast()
        condition.unlock()
    }
}
