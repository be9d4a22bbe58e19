import Foundation

/// The ingest's numbers in Prometheus text format, for node_exporter's textfile collector:
/// written whole under a temporary name and renamed, so the collector never reads half.
public enum IngestMetrics {
    public static func text(_ s: IngestSummary, pipeline: String, runsFinished: Int, lastSuccess: Date?, finished: Date)
        -> String
    {
        let label = "pipeline=\"\(pipeline.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\""
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (extra, value) in samples {
                let labels = extra.isEmpty ? label : "\(label),\(extra)"
                out += "\(name){\(labels)} \(JSONValue.format(value))\n"
            }
        }
        metric("eoshare_ingest_runs_total", "counter", "Ingest runs that finished.", [("", Double(runsFinished))])
        metric(
            "eoshare_ingest_last_run_timestamp_seconds", "gauge", "When the last ingest run finished.",
            [("", finished.timeIntervalSince1970.rounded())])
        if let lastSuccess {
            metric(
                "eoshare_ingest_last_success_timestamp_seconds", "gauge",
                "When the last ingest run finished with nothing quarantined.", [("", lastSuccess.timeIntervalSince1970.rounded())])
        }
        metric("eoshare_ingest_duration_seconds", "gauge", "Duration of the last run.", [("", (s.seconds * 1000).rounded() / 1000)])
        metric(
            "eoshare_ingest_objects", "gauge", "Objects of the last run by outcome.",
            [("state=\"discovered\"", Double(s.discovered)), ("state=\"fetched\"", Double(s.fetched)),
             ("state=\"unchanged\"", Double(s.unchanged)), ("state=\"quarantined\"", Double(s.quarantined))])
        metric("eoshare_ingest_bytes", "gauge", "Bytes fetched by the last run.", [("", Double(s.bytes))])
        metric("eoshare_ingest_records", "gauge", "Records normalized by the last run.", [("", Double(s.records))])
        metric(
            "eoshare_ingest_items", "gauge", "Item publications of the last run by action.",
            [("action=\"published\"", Double(s.published)), ("action=\"released\"", Double(s.released)),
             ("action=\"retracted\"", Double(s.retracted))])
        metric("eoshare_ingest_quarantined", "gauge", "Objects quarantined by the last run.", [("", Double(s.quarantined))])
        metric(
            "eoshare_ingest_failed", "gauge", "Publications and retractions the last run could not finish.",
            [("", Double(s.failed))])
        return out
    }

    public static func write(_ s: IngestSummary, pipeline: Pipeline, to file: URL) throws {
        let state = try StateStore(path: pipeline.statePath)
        let (runs, lastSuccess) = try state.runTotals()
        let name = pipeline.file.deletingPathExtension().lastPathComponent
        let text = text(s, pipeline: name, runsFinished: runs, lastSuccess: lastSuccess, finished: Date())
        try AtomicFile.write(Array(text.utf8), to: file)
    }
}
