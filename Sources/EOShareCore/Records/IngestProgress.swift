import Foundation
import Synchronization

/// Counters a run bumps as objects move through it, read by a timer that draws a progress
/// line or logs one: the workers only add (relaxed atomics), they never format or write.
public final class IngestProgress: Sendable {
    package let discoveredCount = Atomic<Int>(0)
    /// Objects the fetch stage settled: fetched, unchanged or refused.
    package let fetchedCount = Atomic<Int>(0)
    /// Objects the last stage finished with (published, unchanged or quarantined).
    package let doneCount = Atomic<Int>(0)
    package let bytesCount = Atomic<Int64>(0)
    package let runNumber = Atomic<Int64>(0)
    package let started: Date

    public init(started: Date = Date()) { self.started = started }

    public var discovered: Int { discoveredCount.load(ordering: .relaxed) }
    public var fetched: Int { fetchedCount.load(ordering: .relaxed) }
    public var done: Int { doneCount.load(ordering: .relaxed) }
    public var bytes: Int64 { bytesCount.load(ordering: .relaxed) }
    /// The run's number in the state, once it has one (0 before).
    public var run: Int64 { runNumber.load(ordering: .relaxed) }

    /// One line: objects discovered, fetched and done, MiB, rate and an ETA over the objects
    /// discovered so far (discovery streams, so the ETA grows while sources are listed).
    public func line(now: Date = Date()) -> String {
        let (discovered, fetched, done) = (self.discovered, self.fetched, self.done)
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(max(discovered - done, 0)) / rate : nil
        return "progress: \(discovered) discovered, \(fetched) fetched, \(done) done, "
            + String(format: "%.1f MiB, %.1f objects/s, ", Double(bytes) / 1_048_576, rate)
            + "ETA \(eta.map { Self.duration($0) } ?? "unknown"), elapsed \(Self.duration(elapsed))"
    }

    package static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600
            ? "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m"
            : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}
