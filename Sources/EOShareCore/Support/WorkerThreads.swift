import Foundation

/// Threads of our own for work that blocks a thread for long: unpacking and normalizing
/// (CPU and file I/O), the audit's hashing. Tasks run here through Swift's task executor
/// preference (`group.addTask(executorPreference: threads)`), so the cooperative pool,
/// which has one thread per core and must never block, stays free for the stage chain's
/// channels, the publish stage and libcurl's completions.
public final class WorkerThreads: TaskExecutor {
    /// Jobs waiting for a thread, and whether the pool is shutting down. NSCondition, not a
    /// Mutex: idle threads must sleep until a job arrives, which a Mutex cannot do.
    private let condition = NSCondition()
    /// Guarded by `condition`.
    nonisolated(unsafe) private var jobs: [UnownedJob] = []
    nonisolated(unsafe) private var head = 0
    nonisolated(unsafe) private var stopping = false

    /// `count` threads (by default one per core), named for `ps -L` and `perf`.
    public init(count: Int = ProcessInfo.processInfo.activeProcessorCount, name: String) {
        for i in 0..<max(1, count) {
            let thread = Thread { [self] in loop() }
            thread.name = "\(name)-\(i)"
            thread.start()
        }
    }

    public func enqueue(_ job: UnownedJob) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets the threads end once the queued jobs ran.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            if head == jobs.count {
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
