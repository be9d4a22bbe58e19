import ArgumentParser
import EOShare
import Foundation

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "For every member and public: visible or not at T, since/until when, and what decided it."
    )
    @OptionGroup var common: CommonOptions
    @Argument(help: "The record id (or a Landsat product id, with its processing date).") var recordId: String
    @OptionGroup var instant: InstantOption

    func run() async throws {
        let at = try instant.instant()
        let pipeline = try common.load()
        // Read-only: no state means nothing was ingested, not a state to create.
        guard let state = try await existingState(pipeline) else {
            try unknown(
                "no record '\(recordId)' is known: nothing has been ingested yet (no state at \(pipeline.statePath.path))"
            )
        }
        var matches = try await state.records(id: recordId)
        if matches.isEmpty {
            // A product id names its processing date too: LC08_L2SP_171146_20250610_20250620_02_T2
            // is the product of record LC08_L2SP_171146_20250610_02_T2.
            for candidate in Self.recordIds(ofProduct: recordId) {
                matches = try await state.records(id: candidate)
                if !matches.isEmpty {
                    print("\(recordId) is a product of record \(candidate)")
                    break
                }
            }
        }
        guard !matches.isEmpty else {
            var ids: [String] = []
            try await state.forEachSubject { ids.append($0.id) }
            try unknown("no record '\(recordId)' is known\(Suggestion.hint(for: recordId, in: ids))")
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
                print(
                    "  \(name) \(d.visible ? "visible" : "hidden ")\(when) — \(engine.explanation(s, for: viewer, at: at))"
                )
            }
        }
    }

    func unknown(_ message: String) throws -> Never {
        throw DataError(description: message)
    }

    /// The ids a product id may stand for: the id without one of its date fields (8 digits
    /// between underscores, after the first), as a processing date is.
    static func recordIds(ofProduct id: String) -> [String] {
        let parts = id.split(separator: "_", omittingEmptySubsequences: false)
        var out: [String] = []
        for (i, p) in parts.enumerated() where i > 0 && p.count == 8 && p.allSatisfy(\.isNumber) {
            // Only a second date: the first is the acquisition, part of the record id.
            guard parts[..<i].contains(where: { $0.count == 8 && $0.allSatisfy(\.isNumber) }) else { continue }
            var rest = parts
            rest.remove(at: i)
            out.append(rest.joined(separator: "_"))
        }
        return out
    }
}
