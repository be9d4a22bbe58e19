import EOShareCore
import EOShareEmbargo
import EOShareFetch
import EOShareNormalize
import EOShareOperations
import EOSharePublish
import EOShareState
import EOShareUnpack
import Foundation

/// The ingest's numbers in Prometheus text format, for node_exporter's textfile collector:
/// written whole under a temporary name and renamed, so the collector never reads half.
/// Written on every exit, a failed run's too, so an alert sees it; the counters carry on
/// from the previous file (the state may be what failed).
public enum IngestMetrics {
    /// The run-spanning values, read back from the previous file.
    public struct Counters: Sendable, Equatable {
        public var runs = 0
        public var failures = 0
        public var lastSuccess: Date?
        public var lastFailure: Date?

        public init(runs: Int = 0, failures: Int = 0, lastSuccess: Date? = nil, lastFailure: Date? = nil) {
            self.runs = runs
            self.failures = failures
            self.lastSuccess = lastSuccess
            self.lastFailure = lastFailure
        }

        /// The counters a previous file holds (all zero without one).
        public init(previous text: String?) {
            for line in (text ?? "").split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let value = Double(parts[1]) else { continue }
                let name = parts[0].prefix { $0 != "{" }
                switch name {
                case "eoshare_ingest_runs_total": runs = Int(value)
                case "eoshare_ingest_failures_total": failures = Int(value)
                case "eoshare_ingest_last_success_timestamp_seconds": lastSuccess = Date(timeIntervalSince1970: value)
                case "eoshare_ingest_last_failure_timestamp_seconds": lastFailure = Date(timeIntervalSince1970: value)
                default: break
                }
            }
        }

        /// After a run that exited with `exitCode` at `finished`: 0 is a success, 1 (objects
        /// quarantined, the run finished) neither, anything else a failure.
        public func after(exitCode: Int32, finished: Date) -> Counters {
            var next = self
            next.runs += 1
            if exitCode == 0 { next.lastSuccess = finished }
            if exitCode != 0 && exitCode != 1 {
                next.failures += 1
                next.lastFailure = finished
            }
            return next
        }
    }

    /// `summary` is nil for a run that failed before it could count anything.
    public static func text(
        _ s: IngestSummary?,
        pipeline: String,
        exitCode: Int32,
        counters: Counters,
        finished: Date,
        worker: String? = nil
    )
        -> String
    {
        func quoted(_ v: String) -> String {
            "\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        // With a PostgreSQL state each worker host writes its own numbers: `worker` says whose.
        let label = "pipeline=\(quoted(pipeline))" + (worker.map { ",worker=\(quoted($0))" } ?? "")
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (extra, value) in samples {
                let labels = extra.isEmpty ? label : "\(label),\(extra)"
                out += "\(name){\(labels)} \(JSONValue.format(value))\n"
            }
        }
        func seconds(_ d: Date) -> Double { d.timeIntervalSince1970.rounded() }
        metric(
            "eoshare_ingest_runs_total",
            "counter",
            "Ingest runs that ended, whatever their exit code.",
            [("", Double(counters.runs))]
        )
        metric(
            "eoshare_ingest_failures_total",
            "counter",
            "Ingest runs that failed (exit code other than 0 and 1).",
            [("", Double(counters.failures))]
        )
        metric(
            "eoshare_ingest_last_exit_code",
            "gauge",
            "Exit code of the last run: 0 ok, 1 objects quarantined, 74 I/O failure, 78 invalid pipeline file.",
            [("", Double(exitCode))]
        )
        metric(
            "eoshare_ingest_last_run_timestamp_seconds",
            "gauge",
            "When the last ingest run ended.",
            [("", seconds(finished))]
        )
        if let lastSuccess = counters.lastSuccess {
            metric(
                "eoshare_ingest_last_success_timestamp_seconds",
                "gauge",
                "When the last run that exited 0 ended.",
                [("", seconds(lastSuccess))]
            )
        }
        if let lastFailure = counters.lastFailure {
            metric(
                "eoshare_ingest_last_failure_timestamp_seconds",
                "gauge",
                "When the last failed run ended.",
                [("", seconds(lastFailure))]
            )
        }
        guard let s else { return out }
        metric(
            "eoshare_ingest_last_run_duration_seconds",
            "gauge",
            "Duration of the last run.",
            [("", (s.seconds * 1000).rounded() / 1000)]
        )
        metric(
            "eoshare_ingest_last_run_objects",
            "gauge",
            "Objects of the last run by outcome.",
            [
                ("state=\"discovered\"", Double(s.discovered)), ("state=\"fetched\"", Double(s.fetched)),
                ("state=\"unchanged\"", Double(s.unchanged)), ("state=\"quarantined\"", Double(s.quarantined)),
            ] + (worker == nil ? [] : [("state=\"fenced\"", Double(s.fenced))])
        )
        metric("eoshare_ingest_last_run_bytes", "gauge", "Bytes fetched by the last run.", [("", Double(s.bytes))])
        metric(
            "eoshare_ingest_last_run_records",
            "gauge",
            "Records normalized by the last run.",
            [("", Double(s.records))]
        )
        metric(
            "eoshare_ingest_last_run_items",
            "gauge",
            "Item publications of the last run by action.",
            [
                ("action=\"published\"", Double(s.published)), ("action=\"released\"", Double(s.released)),
                ("action=\"retracted\"", Double(s.retracted)),
            ]
        )
        metric(
            "eoshare_ingest_last_run_failed",
            "gauge",
            "Publications and retractions the last run could not finish.",
            [("", Double(s.failed))]
        )
        return out
    }

    /// Writes the file for a run that ended with `exitCode`; `pipeline` is the pipeline
    /// file's name without its extension (the `pipeline` label).
    public static func write(
        _ s: IngestSummary?,
        exitCode: Int32,
        pipeline: String,
        worker: String? = nil,
        to file: URL,
        finished: Date = Date()
    ) throws {
        let previous = try? String(contentsOf: file, encoding: .utf8)
        let counters = Counters(previous: previous).after(exitCode: exitCode, finished: finished)
        let text = text(
            s,
            pipeline: pipeline,
            exitCode: exitCode,
            counters: counters,
            finished: finished,
            worker: worker
        )
        try AtomicFile.write(Array(text.utf8), to: file)
    }

    /// The `pipeline` label of a pipeline file.
    public static func label(_ pipelineFile: URL) -> String { pipelineFile.deletingPathExtension().lastPathComponent }
}
