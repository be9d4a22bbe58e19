import ArgumentParser
import EOShare
import Foundation

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "One full run: discover, fetch, unpack, normalize, apply the embargo, publish; then release and retract."
    )
    @OptionGroup var common: CommonOptions
    @OptionGroup var instant: InstantOption

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @Flag(help: "Wait for another ingest of this pipeline to finish instead of exiting 75.")
    var wait = false

    @Flag(help: "Also read every tree, as audit does, and mend what the state does not explain.")
    var reconcile = false

    @Option(
        help: ArgumentHelp(
            "Write Prometheus metrics to this file (node_exporter textfile collector), atomically, on every exit but 75.",
            valueName: "file"
        ),
        completion: .file(extensions: ["prom"])
    )
    var metrics: String?

    func run() async throws {
        var logger = common.logger("eoshare.ingest")
        var summary: IngestSummary?
        do {
            let at = try instant.instant()
            let pipeline = try common.load()
            let lock = try await IngestLock.acquire(pipeline, wait: wait)
            defer { lock.release() }
            let ingest = IngestRun(pipeline: pipeline, at: at, reconcile: reconcile, logger: logger)
            let progress = ProgressReporter(logger: logger) { [progress = ingest.progress] in progress.line() }
            defer { progress.stop() }
            summary = try await ingest.run()
            logger[metadataKey: "run"] = "\(ingest.progress.run)"
        } catch {
            // A run another one holds the lock of leaves the file to that run.
            let status = ExitStatus.of(error) ?? ExitStatus.usage
            if status != ExitStatus.locked { writeMetrics(summary, exitCode: status) }
            throw error
        }
        let s = summary!
        // Changes that could not be finished (a full disk, a folder that cannot be written)
        // are an I/O failure, after everything else was done.
        let status = s.failed > 0 ? ExitStatus.ioError : s.quarantined > 0 ? ExitStatus.findings : 0
        writeMetrics(s, exitCode: status)
        // The summary is in the log too: cron sends stdout to /dev/null.
        logger.notice("finished: \(s.line) exit=\(status)", metadata: ["event": "finished", "exit_code": "\(status)"])
        print(json ? s.json.serializedString() : s.line)
        if status != 0 { throw ExitCode(status) }
    }

    /// Metrics are written on every exit; failing to write them is logged, never the run's verdict.
    func writeMetrics(_ summary: IngestSummary?, exitCode: Int32) {
        guard let metrics else { return }
        do {
            try IngestMetrics.write(
                summary,
                exitCode: exitCode,
                pipeline: IngestMetrics.label(URL(fileURLWithPath: common.pipeline)),
                worker: (try? common.load())?.postgres == nil ? nil : ProcessInfo.processInfo.hostName,
                to: URL(fileURLWithPath: metrics)
            )
        } catch {
            common.logger("eoshare.ingest").error("metrics \(metrics): \(error)", metadata: ["event": "metrics-failed"])
        }
    }
}
