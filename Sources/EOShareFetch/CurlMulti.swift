import CEOShareCurl
import CEOShareSystem
import EOShareCore
import EOShareState
import Foundation
import Synchronization

/// Runs libcurl transfers through one multi handle on a thread of its own, never on the
/// Swift concurrency pool: async callers submit a transfer and await its result while the
/// thread drives every transfer with `curl_multi_poll`/`perform`/`info_read`. At most
/// `maxTransfers` run at once (the rest wait in order); connections are reused across
/// transfers and HTTP/2 streams are multiplexed where the server offers them.
///
/// `close()` ends the thread after cancelling what is left; every easy handle and the multi
/// handle are cleaned up on the thread before it exits.
package final class CurlMulti: Sendable {
    private let shared: Shared
    /// Digests file bodies beside the transfer thread.
    package let digester = Digester()

    /// `idleSleep`: how long the thread sleeps in one poll when no transfer runs; only a
    /// wake-up (a submission, a cancellation, `close`) ends it earlier.
    package init(maxTransfers: Int, idleSleep: Duration = .seconds(10)) {
        precondition(CurlGlobal.initialised, "curl_global_init failed")
        let multi = MultiHandle(curl_multi_init()!)
        eoshare_curl_multi_setopt_long(multi.pointer, CURLMOPT_MAXCONNECTS, max(4, maxTransfers * 2))
        // At most `fetch_workers` connections to one member's host: a transfer that starts
        // while a finished one's connection is still being handed back waits for it (libcurl
        // queues it) instead of opening one more.
        eoshare_curl_multi_setopt_long(multi.pointer, CURLMOPT_MAX_HOST_CONNECTIONS, max(1, maxTransfers))
        let milliseconds =
            idleSleep.components.seconds * 1000 + idleSleep.components.attoseconds / 1_000_000_000_000_000
        shared = Shared(
            multi: multi,
            maxTransfers: max(1, maxTransfers),
            idleMilliseconds: Int32(clamping: max(1, milliseconds))
        )
        let thread = Thread { [shared] in
            var driver = Driver(shared)
            driver.run()
        }
        thread.name = "eoshare.curl"
        thread.start()
    }

    deinit {
        shared.stop()
        digester.stop()
    }

    /// Runs one transfer; `sink` gets the body of a successful response only, so an error
    /// page never lands in a data file. Cancelling the calling task aborts the transfer.
    package func perform(_ request: TransferRequest, sink: any TransferSink) async -> TransferResult {
        guard !Task.isCancelled else {
            var result = TransferResult()
            result.failure = .cancelled
            return result
        }
        let id = shared.nextID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                shared.submit(Submission(id: id, request: request, sink: sink, continuation: continuation))
            }
        } onCancel: {
            shared.cancel(id)
        }
    }

    /// How the thread's idle sleeps ended so far: the wake-ups submitters wrote while it
    /// polled, and the idle polls that slept their whole time.
    package var activity: Activity { shared.inbox.withLock { $0.activity } }

    /// Whether the thread is idle in (or about to enter) its poll, with nobody having woken it:
    /// a submission now must wake it.
    package var isSleepingIdle: Bool { shared.inbox.withLock { $0.polling && $0.pollingIdle } }

    package struct Activity: Sendable, Equatable {
        package var wakeUps = 0
        package var idleTimeouts = 0
    }

    /// Cancels what is left and waits until the thread has cleaned up every handle.
    package func close() async {
        shared.stop()
        await withCheckedContinuation { continuation in shared.onExit(continuation) }
        digester.stop()
    }

    /// A transfer handed to the thread.
    fileprivate struct Submission: Sendable {
        package var id: Int
        package var request: TransferRequest
        package var sink: any TransferSink
        package var continuation: CheckedContinuation<TransferResult, Never>
    }

    /// The multi handle's address. `@unchecked Sendable` is sound: only the driver thread
    /// calls libcurl with it, and the thread alone cleans it up.
    fileprivate struct MultiHandle: @unchecked Sendable {
        package let pointer: UnsafeMutableRawPointer
        package init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
    }

    /// What callers and the thread share, behind one lock.
    fileprivate final class Shared: Sendable {
        package struct Inbox {
            package var nextID = 0
            package var submissions: [Submission] = []
            package var cancelled: Set<Int> = []
            package var stopping = false
            package var cleanedUp = false
            package var exitWaiters: [CheckedContinuation<Void, Never>] = []
            /// The thread is in (or about to enter) `curl_multi_poll` and nobody has woken
            /// it yet: only then does news need a wake-up. A busy thread reads the inbox
            /// before it polls again.
            ///
            /// No wake-up is lost: the thread sets this under the lock only after finding the
            /// inbox empty, and a submitter appends and reads it under the same lock. So either
            /// the thread sees the submission before it sleeps, or the submitter sees the flag
            /// and writes the eventfd, which stays readable until the thread drains it after
            /// its poll: written before the poll starts, it still ends the poll at once.
            package var polling = false
            /// Whether that poll is an idle one (no transfer running).
            package var pollingIdle = false
            package var activity = Activity()

            /// Whether a submitter must wake the thread; the first one does, for everyone.
            package mutating func takeWake() -> Bool {
                defer { polling = false }
                if polling { activity.wakeUps += 1 }
                return polling
            }
        }

        package let multi: MultiHandle
        package let maxTransfers: Int
        package let idleMilliseconds: Int32
        package let inbox = Mutex(Inbox())
        /// An eventfd the thread polls beside libcurl's sockets. Written outside the lock
        /// (a write wakes a sleeping thread, which takes a while on a virtual machine) and
        /// open for as long as anyone can reach it.
        package let wakeFD: Int32

        package init(multi: MultiHandle, maxTransfers: Int, idleMilliseconds: Int32) {
            self.multi = multi
            self.maxTransfers = maxTransfers
            self.idleMilliseconds = idleMilliseconds
            wakeFD = eoshare_eventfd()
            precondition(wakeFD >= 0, "eventfd failed")
        }

        deinit { Glibc.close(wakeFD) }

        package func nextID() -> Int {
            inbox.withLock { box in
                box.nextID += 1
                return box.nextID
            }
        }

        package func submit(_ submission: Submission) {
            let (accepted, wake) = inbox.withLock { box -> (Bool, Bool) in
                guard !box.stopping else { return (false, false) }
                box.submissions.append(submission)
                return (true, box.takeWake())
            }
            if wake { eoshare_eventfd_signal(wakeFD) }
            if !accepted {
                var result = TransferResult()
                result.failure = .cancelled
                submission.continuation.resume(returning: result)
            }
        }

        package func cancel(_ id: Int) {
            inbox.withLock { _ = $0.cancelled.insert(id) }
            eoshare_eventfd_signal(wakeFD)
        }

        package func stop() {
            inbox.withLock { $0.stopping = true }
            eoshare_eventfd_signal(wakeFD)
        }

        package func onExit(_ continuation: CheckedContinuation<Void, Never>) {
            let done = inbox.withLock { box -> Bool in
                if box.cleanedUp { return true }
                box.exitWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }

        /// Called by the thread as its last step, once every handle is cleaned up.
        package func finished() {
            let waiters = inbox.withLock { box -> [CheckedContinuation<Void, Never>] in
                box.cleanedUp = true
                defer { box.exitWaiters = [] }
                return box.exitWaiters
            }
            for waiter in waiters { waiter.resume() }
        }

        /// The thread, before it polls: false when news arrived since it last read the inbox
        /// (then it must not sleep); else from here on submitters wake it.
        package func mayPoll(idle: Bool) -> Bool {
            inbox.withLock { box in
                guard box.submissions.isEmpty, box.cancelled.isEmpty, !box.stopping else { return false }
                box.polling = true
                box.pollingIdle = idle
                return true
            }
        }

        /// The thread, after polling: reads the wake-up if there was one. `timedOut`: nothing
        /// ended the poll but its time.
        package func polled(woken: Bool, timedOut: Bool) {
            inbox.withLock { box in
                box.polling = false
                if timedOut, box.pollingIdle { box.activity.idleTimeouts += 1 }
            }
            if woken { eoshare_eventfd_drain(wakeFD) }
        }
    }

    /// The thread's own state: transfers waiting for a slot and those running.
    private struct Driver {
        package let shared: Shared
        package var multi: UnsafeMutableRawPointer { shared.multi.pointer }
        package var waiting: [Submission] = []
        package var running: [UnsafeMutableRawPointer: (Submission, TransferContext)] = [:]
        package var idle: [CurlEasy] = []

        package init(_ shared: Shared) { self.shared = shared }

        package mutating func run() {
            while true {
                let (new, cancelled, stopping) = shared.inbox.withLock { box in
                    defer {
                        box.submissions = []
                        box.cancelled = []
                    }
                    return (box.submissions, box.cancelled, box.stopping)
                }
                waiting += new
                for id in cancelled { cancel(id) }
                if stopping {
                    for id in waiting.map(\.id) + running.values.map(\.0.id) { cancel(id) }
                    break
                }
                while running.count < shared.maxTransfers, !waiting.isEmpty { start(waiting.removeFirst()) }
                var active: Int32 = 0
                curl_multi_perform(multi, &active)
                collectFinished()
                if running.count < shared.maxTransfers, !waiting.isEmpty { continue }
                guard shared.mayPoll(idle: running.isEmpty) else { continue }
                var wake = curl_waitfd(fd: shared.wakeFD, events: Int16(CURL_WAIT_POLLIN), revents: 0)
                // Idle, only a wake-up can bring work: sleep long (libcurl shortens the wait
                // to its own timers while transfers run).
                var ready: Int32 = 0
                curl_multi_poll(multi, &wake, 1, running.isEmpty ? shared.idleMilliseconds : 1000, &ready)
                shared.polled(woken: wake.revents != 0, timedOut: ready == 0)
            }
            idle.removeAll()  // curl_easy_cleanup of each, before the multi handle goes
            curl_multi_cleanup(multi)
            shared.finished()
        }

        private mutating func start(_ submission: Submission) {
            let easy = idle.popLast() ?? CurlEasy()
            let context = TransferContext(request: submission.request, sink: submission.sink, easy: easy)
            // The context lives in `running` until the transfer is removed, so the pointer
            // handed to the callbacks stays valid for as long as libcurl may use it.
            context.headerList = easy.configure(
                submission.request,
                context: Unmanaged.passUnretained(context).toOpaque()
            )
            running[easy.handle] = (submission, context)
            curl_multi_add_handle(multi, easy.handle)
        }

        private mutating func collectFinished() {
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard eoshare_curl_msg_is_done(message) != 0, let handle = message.pointee.easy_handle else {
                    continue
                }
                finish(handle, with: eoshare_curl_msg_result(message))
            }
        }

        private mutating func finish(_ handle: UnsafeMutableRawPointer, with code: CURLcode) {
            guard let (submission, context) = running.removeValue(forKey: handle) else { return }
            curl_multi_remove_handle(multi, handle)
            if !context.sink.settle(), context.failure == nil {
                context.failure = .sinkFailed("the bytes could not be written to the work file")
            }
            let result = context.finish(code)
            if idle.count < shared.maxTransfers { idle.append(context.easy) }
            submission.continuation.resume(returning: result)
        }

        private mutating func cancel(_ id: Int) {
            if let index = waiting.firstIndex(where: { $0.id == id }) {
                var result = TransferResult()
                result.failure = .cancelled
                waiting.remove(at: index).continuation.resume(returning: result)
            } else if let (handle, entry) = running.first(where: { $0.value.0.id == id }) {
                entry.1.failure = .cancelled
                finish(handle, with: CURLE_ABORTED_BY_CALLBACK)
            }
        }
    }
}
