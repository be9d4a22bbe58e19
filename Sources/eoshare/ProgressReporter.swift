import Dispatch
import EOShare
import Foundation
import Logging
import Synchronization

/// Shows a long command's progress off its hot path: a timer reads the counters and, on a
/// terminal, redraws one stderr line; otherwise (cron, a log file) logs the line every 10
/// seconds (`EOSHARE_PROGRESS_SECONDS` changes the interval).
final class ProgressReporter: Sendable {
    let terminal: Bool
    let line: @Sendable () -> String
    let logger: Logger
    /// `nonisolated(unsafe)`: a Dispatch source is thread-safe, though not marked Sendable.
    nonisolated(unsafe) let timer: DispatchSourceTimer
    /// Whether `stop` ran; held while a line is drawn, so no tick draws after the last line.
    let stopped = Mutex(false)

    init(logger: Logger, line: @escaping @Sendable () -> String) {
        self.terminal = isatty(STDERR_FILENO) == 1
        self.line = line
        self.logger = logger
        let interval = ProcessInfo.processInfo.environment["EOSHARE_PROGRESS_SECONDS"].flatMap(Double.init) ?? 10
        timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        let period = terminal ? 0.5 : max(interval, 0.01)
        timer.schedule(deadline: .now() + period, repeating: period)
        timer.setEventHandler { [weak self] in self?.tick() }
        timer.resume()
    }

    func tick() {
        stopped.withLock { stopped in
            guard !stopped else { return }
            if terminal {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(line())".utf8))
            } else {
                logger.notice("\(line())", metadata: ["event": "progress"])
            }
        }
    }

    /// Stops the timer; on a terminal the line is drawn a last time and ended.
    func stop() {
        timer.cancel()
        stopped.withLock { stopped in
            guard !stopped else { return }
            stopped = true
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K\(line())\n".utf8)) }
        }
    }
}
