import ArgumentParser
import EOShare
import Foundation

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One full run: discover, fetch, unpack, normalize, apply the embargo, publish; then release and retract.")
    @OptionGroup var common: CommonOptions
    @OptionGroup var instant: InstantOption

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @Flag(help: "Wait for another ingest of this pipeline to finish instead of exiting 75.")
    var wait = false

    @Flag(help: "Also read every tree, as audit does, and mend what the state does not explain.")
    var reconcile = false

    @Option(help: "Write Prometheus metrics to this file (node_exporter textfile collector), atomically.")
    var metrics: String?

    func run() async throws {
        let at = try instant.instant()
        let pipeline = try common.load()
        let logger = common.logger("eoshare.ingest")
        let lock = try PipelineLock(pipeline: pipeline, wait: wait)
        defer { lock.release() }
        let summary = try await IngestRun(pipeline: pipeline, at: at, reconcile: reconcile, logger: logger).run()
        if let metrics { try IngestMetrics.write(summary, pipeline: pipeline, to: URL(fileURLWithPath: metrics)) }
        print(json ? summary.json.serializedString() : summary.line)
        // Changes that could not be finished (a full disk, a folder that cannot be written)
        // are an I/O failure, after everything else was done.
        if summary.failed > 0 { throw ExitCode(ExitStatus.ioError) }
        if summary.quarantined > 0 { throw ExitCode(ExitStatus.findings) }
    }
}
