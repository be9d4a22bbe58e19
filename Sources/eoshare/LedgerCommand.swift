import ArgumentParser
import EOShare
import Foundation

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Print the ledger as JSON lines; with --verify, check its chain and the state's anchor."
    )
    @OptionGroup var common: CommonOptions
    @Flag(help: "Check the hash chain and that the file holds what the state anchored (exit 1 on a break).")
    var verify = false

    func run() async throws {
        let pipeline = try common.load()
        // Read-only: an absent state is no state, not one to create.
        let state = try await existingState(pipeline)
        if verify {
            let findings = try await LedgerSource.verify(pipeline, state: state)
            for f in findings { print("ledger \(f.record ?? "-"): \(f.detail)") }
            print(findings.isEmpty ? "ledger intact" : "ledger broken: \(findings.count) findings")
            if !findings.isEmpty { throw ExitCode(ExitStatus.findings) }
            return
        }
        if pipeline.postgres != nil {
            FileHandle.standardOutput.write(Data(try await LedgerSource.bytes(pipeline, state: state) ?? []))
            return
        }
        let data = FileManager.default.contents(atPath: pipeline.ledgerPath.path) ?? Data()
        FileHandle.standardOutput.write(data)
        // Lines committed with their changes but not yet appended to the file (a run killed
        // before it wrote them; the next run does).
        let inFile = Int64(data.count(where: { $0 == 0x0A }))
        for line in try await state?.pendingLedgerLines() ?? [] where line.seq > inFile {
            FileHandle.standardOutput.write(Data(line.line + [0x0A]))
        }
    }
}
