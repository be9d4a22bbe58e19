import ArgumentParser
import EOShare
import Foundation

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "For every member and public: visible or not at T, since/until when, and what decided it.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The record id.") var recordId: String
    @OptionGroup var instant: InstantOption

    func run() async throws {
        let at = try instant.instant()
        let pipeline = try common.load()
        let state = try StateStore(path: pipeline.statePath)
        let matches = try state.records(id: recordId)
        guard !matches.isEmpty else {
            FileHandle.standardError.write(Data("eoshare: no record '\(recordId)' is known\n".utf8))
            throw ExitCode(ExitStatus.dataError)
        }
        let engine = EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id))
        for record in matches {
            let s = record.subject
            print("\(s.id) (collection \(s.collection), owner \(s.owner)) at \(Timestamp.format(at))")
            for viewer in engine.viewers {
                let d = engine.decide(s, for: viewer, at: at)
                let w = engine.window(s, for: viewer, at: at)
                var when = ""
                if let since = w.since { when += " since \(Timestamp.format(since))" }
                if let until = w.until { when += " until \(Timestamp.format(until))" }
                let name = viewer.folder.padding(toLength: 10, withPad: " ", startingAt: 0)
                print("  \(name) \(d.visible ? "visible" : "hidden ")\(when) — \(d.reason)")
            }
        }
    }
}
