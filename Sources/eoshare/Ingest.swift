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

    @Option(help: "Write Prometheus metrics to this file (node_exporter textfile collector), atomically.")
    var metrics: String?

    func run() async throws {
        let at = try instant.instant()
        let pipeline = try common.load()
        let logger = common.logger("eoshare.ingest")
        let lock = try PipelineLock(pipeline: pipeline, wait: wait)
        defer { lock.release() }
        let summary = try await IngestRun(pipeline: pipeline, at: at, logger: logger).run()
        if let metrics { try IngestMetrics.write(summary, pipeline: pipeline, to: URL(fileURLWithPath: metrics)) }
        print(json ? summary.json.serializedString() : summary.line)
        if summary.quarantined > 0 { throw ExitCode(ExitStatus.findings) }
    }
}
