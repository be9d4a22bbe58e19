import ArgumentParser
import EOShare
import Foundation

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write exactly the records a member may see at T, decided from the state and the policy."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "The member (or public) to export for.", completion: .custom(memberCompletions)) var member: String
    @Option(
        help: "Output path: a folder (stac), a file (geojson, csv; '-' for stdout) or a .tar.gz (--archive).",
        completion: .file()
    )
    var out: String
    @Option(help: "stac, geojson or csv.", completion: .list(ExportFormat.allCases.map(\.rawValue))) var format:
        String = "stac"
    @Option(help: "Only this collection (repeatable).") var collection: [String] = []
    // Taken whatever it starts with: a western or southern bbox starts with '-'.
    @Option(
        parsing: .unconditional,
        help: "Only records whose bbox intersects W,S,E,N (negative values as they are: --bbox -90,-20,-80,-10)."
    )
    var bbox: String?
    @Option(help: "Only records overlapping START/END (RFC 3339; '..' for an open end).") var datetime: String?
    @OptionGroup var instant: InstantOption
    @Flag(help: "Write a .tar.gz holding the export and MANIFEST.sha256 in one folder named after it.") var archive =
        false
    @Flag(help: "Replace --out if it exists.") var force = false

    func run() async throws {
        let at = try instant.instant()
        let pipeline = try common.load()
        guard let format = ExportFormat(rawValue: format) else {
            throw UsageError(
                description:
                    "--format must be stac, geojson or csv\(Suggestion.hint(for: self.format, in: ExportFormat.allCases.map(\.rawValue)))"
            )
        }
        try checkMember(member, of: pipeline)
        for c in collection where pipeline.collection(c) == nil {
            throw UsageError(
                description:
                    "--collection '\(c)' is not a collection of this pipeline\(Suggestion.hint(for: c, in: pipeline.collections.map(\.id)))"
            )
        }
        let toStdout = out == "-"
        if toStdout, format == .stac || archive {
            throw UsageError(
                description: "--out - (standard output) takes one file: --format geojson or csv, without --archive"
            )
        }
        var request = ExportRequest(
            member: Viewer(folder: member),
            out: URL(fileURLWithPath: toStdout ? "stdout" : out),
            format: format,
            at: at
        )
        request.collections = collection
        request.archive = archive
        request.replace = force
        request.toStandardOutput = toStdout
        if let bbox {
            let v = bbox.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard v.count == 4, v[1] <= v[3] else { throw UsageError(description: "--bbox must be W,S,E,N in degrees") }
            request.bbox = v
        }
        if let datetime {
            let parts = datetime.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            func end(_ s: String) throws -> Date? {
                if s.isEmpty || s == ".." { return nil }
                guard let d = Timestamp.parse(s) else {
                    throw UsageError(description: "--datetime: '\(s)' is not RFC 3339")
                }
                return d
            }
            guard parts.count == 2 || parts.count == 1 else {
                throw UsageError(description: "--datetime must be START/END")
            }
            request.interval =
                parts.count == 2 ? (try end(parts[0]), try end(parts[1])) : (try end(parts[0]), try end(parts[0]))
        }
        let bar = ProgressBar(enabled: isatty(STDERR_FILENO) == 1)
        let result = try await Exporter(pipeline: pipeline).run(request) { bar.show($0) }
        bar.done()
        var line =
            "exported \(result.records) record\(result.records == 1 ? "" : "s") (\(result.bytes) bytes written) for \(member) "
            + "as of \(Timestamp.format(at)) to \(toStdout ? "standard output" : out)"
        if format != .stac {
            line +=
                "; asset hrefs are relative to the root of \(member)'s tree (\(pipeline.sharedRoot.appendingPathComponent(member).path)/)"
        }
        // With the data on stdout, the summary goes to stderr.
        if toStdout { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { print(line) }
    }
}

/// Records and bytes, rate and ETA on one stderr line, redrawn at most ten times a second;
/// only on a terminal.
final class ProgressBar {
    let enabled: Bool
    let start = Date()
    var lastDraw = Date.distantPast

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ p: ExportProgress) {
        guard enabled, Date().timeIntervalSince(lastDraw) > 0.1 || p.records == p.totalRecords else { return }
        lastDraw = Date()
        let elapsed = max(Date().timeIntervalSince(start), 0.001)
        let rate = Double(p.records) / elapsed
        let fraction = p.totalRecords == 0 ? 1 : Double(p.records) / Double(p.totalRecords)
        let eta = rate > 0 ? Double(p.totalRecords - p.records) / rate : 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = String(
            format: "\r[%@] %d/%d records  %.1f/%.1f MiB  %.0f rec/s  ETA %.0fs ",
            bar,
            p.records,
            p.totalRecords,
            Double(p.bytes) / 1_048_576,
            Double(p.totalBytes) / 1_048_576,
            rate,
            eta
        )
        FileHandle.standardError.write(Data(line.utf8))
    }

    func done() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
