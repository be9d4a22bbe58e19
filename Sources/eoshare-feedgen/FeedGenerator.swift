import ArgumentParser
import EOShareCore
import EOShareFeedGeneration
import Foundation

/// The feed generator's command line: see `LandsatFeedGenerator`.
@main
struct FeedGenerator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eoshare-feedgen",
        abstract: "Write a realistic Landsat MTL feed for tests and benchmarks."
    )

    @Option(help: "How many records.") var count = 100
    @Option(help: "Output folder (created).") var out: String
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Encoding: txt, json, xml or mixed.") var encoding = "txt"
    @Flag(help: "Compress each file with gzip (NAME.gz).") var gzip = false
    @Option(help: "First acquisition day (YYYY-MM-DD).") var start = "2026-01-01"
    @Option(help: "Acquisitions spread over this many days.") var days = 300
    @Flag(help: "Also write NAME.sha256 sidecars.") var sidecars = false
    @Option(help: "Products are generated 1 to this many days after acquisition.") var processedWithin = 16

    func run() throws {
        guard let startDate = Timestamp.parse(start + "T00:00:00Z") else {
            throw ValidationError("--start must be YYYY-MM-DD")
        }
        guard let enc = LandsatFeedGenerator.Encoding(rawValue: encoding) else {
            throw ValidationError("--encoding must be txt, json, xml or mixed")
        }
        var generator = LandsatFeedGenerator(start: startDate)
        generator.seed = seed
        generator.encoding = enc
        generator.gzip = gzip
        generator.days = days
        generator.processedWithin = processedWithin
        generator.sidecars = sidecars
        try generator.write(count: count, to: URL(fileURLWithPath: out))
    }
}
