import ArgumentParser
import EOShare
import Foundation

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the shared directories against the policy at T, from the trees themselves.")
    @OptionGroup var common: CommonOptions
    @OptionGroup var instant: InstantOption
    @Option(help: "Audit only this member's tree (or public).") var member: String?
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Read every asset's bytes and compare checksums.") var rehash = false
    @Option(help: "Also write the report as an HTML page, with a timeline of the releases due in the next 30 days.")
    var html: String?

    func run() async throws {
        let at = try instant.instant()
        let pipeline = try common.load()
        if let member, member != "public", pipeline.member(member) == nil {
            throw UsageError(description: "--member '\(member)' is not a member of this pipeline")
        }
        let report = try Auditor(pipeline: pipeline, rehash: rehash).audit(at: at, only: member)
        if let html { try AuditHTMLReport.write(report, pipeline: pipeline, to: URL(fileURLWithPath: html)) }
        if json {
            print(report.json.serializedString())
        } else {
            for f in report.findings {
                print("\(f.kind.rawValue) \(f.member ?? "-") \(f.record ?? "-"): \(f.detail)")
            }
            print(
                "\(report.compliant ? "compliant" : "NOT compliant"): \(report.members) trees, \(report.items) items, "
                    + "\(report.files) files, \(report.findings.count) findings at \(Timestamp.format(at))")
        }
        if !report.compliant { throw ExitCode(ExitStatus.findings) }
    }
}
