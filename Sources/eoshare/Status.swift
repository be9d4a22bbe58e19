import ArgumentParser
import EOShare
import Foundation

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Records per collection and member, quarantined objects, last runs, releases due in 30 days."
    )
    @OptionGroup var common: CommonOptions
    @OptionGroup var instant: InstantOption
    @Flag(help: "Print the status as JSON.") var json = false

    func run() async throws {
        let now = try instant.instant()
        let pipeline = try common.load()
        // Read-only: a pipeline never ingested has no state, and gets none from here.
        var report = StatusReport(now: now)
        if let state = try await existingState(pipeline) {
            report = try await StatusReport.build(pipeline: pipeline, state: state, now: now)
        }
        print(json ? report.json.serializedString() : report.text, terminator: json ? "\n" : "")
    }
}
