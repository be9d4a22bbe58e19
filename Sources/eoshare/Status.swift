import ArgumentParser
import EOShare
import Foundation

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Records per collection and member, quarantined objects, last runs, releases due in 30 days.")
    @OptionGroup var common: CommonOptions
    @Flag(help: "Print the status as JSON.") var json = false

    func run() async throws {
        let pipeline = try common.load()
        let state = try StateStore(path: pipeline.statePath)
        let report = try StatusReport.build(pipeline: pipeline, state: state, now: Date())
        print(json ? report.json.serializedString() : report.text, terminator: json ? "\n" : "")
    }
}
