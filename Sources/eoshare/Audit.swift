import ArgumentParser
import EOShare
import Foundation

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the shared directories against the policy at T, from the trees themselves."
    )
    @OptionGroup var common: CommonOptions
    @OptionGroup var instant: InstantOption
    @Option(help: "Audit only this member's tree (or public).", completion: .custom(memberCompletions)) var member:
        String?
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Read every asset's bytes and compare checksums.") var rehash = false
    @Option(
        help: ArgumentHelp(
            "Also write the report as an HTML page (evidence: pipeline and policy checked, per-member table, ledger, findings, release timeline; prints on A4).",
            valueName: "file"
        ),
        completion: .file(extensions: ["html"])
    )
    var html: String?

    func run() async throws {
        let at = try instant.instant()
        let pipeline = try common.load()
        if let member { try checkMember(member, of: pipeline) }
        var auditor = Auditor(pipeline: pipeline, rehash: rehash)
        let counters = AuditProgress()
        auditor.progress = counters
        let progress = ProgressReporter(logger: common.logger("eoshare.audit")) { counters.line() }
        let report: AuditReport
        do {
            defer { progress.stop() }
            report = try await auditor.audit(at: at, only: member)
        }
        if let html { try await AuditHTMLReport.write(report, pipeline: pipeline, to: URL(fileURLWithPath: html)) }
        if json {
            print(report.json.serializedString())
        } else {
            for f in report.findings {
                print("\(f.kind.rawValue) \(f.member ?? "-") \(f.record ?? "-"): \(f.detail)")
            }
            print(
                "\(report.compliant ? "compliant" : "NOT compliant"): \(report.members) trees, \(report.items) items, "
                    + "\(report.files) files, \(report.findings.count) findings at \(Timestamp.format(at))"
            )
        }
        if !report.compliant { throw ExitCode(ExitStatus.findings) }
    }
}

/// `--member` must name a member of the pipeline or `public`; a typo gets the nearest names.
func checkMember(_ member: String, of pipeline: Pipeline) throws {
    guard member != "public", pipeline.member(member) == nil else { return }
    let known = pipeline.members.map(\.id) + ["public"]
    throw UsageError(
        description: "--member '\(member)' is not a member of this pipeline\(Suggestion.hint(for: member, in: known)); "
            + "members: \(known.joined(separator: ", "))"
    )
}

/// Shell completion of `--member`: the members of the pipeline file already on the line
/// that start with what is typed.
@Sendable func memberCompletions(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
    var names = ["public"]
    for word in words.dropFirst() where word.hasSuffix(".yml") || word.hasSuffix(".yaml") {
        if let p = try? Pipeline.load(from: URL(fileURLWithPath: word)) {
            names = p.members.map(\.id) + ["public"]
            break
        }
    }
    return names.filter { $0.hasPrefix(prefix) }
}
