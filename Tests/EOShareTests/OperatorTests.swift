import Foundation
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOShareEmbargo
@testable import EOShareFeedGeneration
@testable import EOShareFetch
@testable import EOShareNormalize
@testable import EOShareOperations
@testable import EOSharePublish
@testable import EOShareState
@testable import EOShareUnpack

/// What a new operator and a compliance officer meet first (issue 19), through the built
/// `eoshare` as they run it: failures visible in status and metrics, read-only commands
/// that write nothing, messages that say what to do, searchable logs.
@Suite struct OperatorTests {
    typealias CLI = CommandLineTests
    static let at = CommandLineTests.at

    /// Runs the built `eoshare`; stderr is read beside stdout, so a long `-v` log cannot
    /// fill its pipe and stall the command.
    static func run(_ args: [String], environment: [String: String] = [:]) throws -> CLI.Result {
        let p = Process()
        p.executableURL = RepoPaths.executable("eoshare")
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let e = ErrorBytes()
        let reader = Thread { e.data = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while e.data == nil { usleep(1000) }
        return CLI.Result(
            status: p.terminationStatus,
            stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e.data!, as: UTF8.self)
        )
    }

    final class ErrorBytes: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Data?
        var data: Data? {
            get { lock.withLock { value } }
            set { lock.withLock { value = newValue } }
        }
    }

    static func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    /// Every path under a folder, for "nothing was created".
    static func listing(_ folder: URL) -> [String] {
        (FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? []).sorted()
    }

    @Test func aFailedRunIsFailedWithItsErrorAndMetricsSayItOnEveryExit() throws {
        let (folder, file) = try CLI.demoCopy()
        let metrics = folder.appendingPathComponent("demo.prom")
        let ok = try Self.run(["ingest", file.path, "--at", Self.at, "--metrics", metrics.path])
        #expect(ok.status == 0, "\(ok.stderr)")
        // The shared root cannot be made (a file is in its place): the run fails with 74.
        let shared = folder.appendingPathComponent("out/shared")
        try FileManager.default.moveItem(at: shared, to: folder.appendingPathComponent("shared-aside"))
        try Data("not a folder".utf8).write(to: shared)
        let failed = try Self.run(["ingest", file.path, "--at", Self.at, "--metrics", metrics.path])
        #expect(failed.status == 74, "\(failed.stderr)")
        let prom = try String(contentsOf: metrics, encoding: .utf8)
        #expect(prom.contains("eoshare_ingest_last_exit_code{pipeline=\"demo\"} 74"), "\(prom)")
        #expect(prom.contains("eoshare_ingest_failures_total{pipeline=\"demo\"} 1"))
        #expect(prom.contains("eoshare_ingest_runs_total{pipeline=\"demo\"} 2"))
        #expect(prom.contains("eoshare_ingest_last_failure_timestamp_seconds{pipeline=\"demo\"} "))
        #expect(prom.contains("eoshare_ingest_last_success_timestamp_seconds{pipeline=\"demo\"} "))

        let status = try Self.json(try Self.run(["status", file.path, "--json"]).stdout)
        let last = try #require(status["runs"]?.arrayValue?.first)
        #expect(last["status"]?.stringValue == "failed")
        #expect(last["finished"]?.stringValue != nil)
        #expect(last["error"]?.stringValue?.contains(shared.path) == true, "\(last)")
        let text = try Self.run(["status", file.path]).stdout
        #expect(text.contains(" failed: "), "\(text)")

        // Put right, the next run succeeds; the failed one stays failed, not running.
        try FileManager.default.removeItem(at: shared)
        try FileManager.default.moveItem(at: folder.appendingPathComponent("shared-aside"), to: shared)
        let again = try Self.run(["ingest", file.path, "--at", Self.at, "--metrics", metrics.path])
        #expect(again.status == 0, "\(again.stderr)")
        let runs = try #require(
            try Self.json(try Self.run(["status", file.path, "--json"]).stdout)["runs"]?.arrayValue
        )
        #expect(runs.map { $0["status"]?.stringValue ?? "" } == ["ok", "failed", "ok"])
        let after = try String(contentsOf: metrics, encoding: .utf8)
        #expect(after.contains("eoshare_ingest_last_exit_code{pipeline=\"demo\"} 0"))
        #expect(after.contains("eoshare_ingest_failures_total{pipeline=\"demo\"} 1"))

        // An invalid pipeline file is a failure too, and the metrics say so.
        let broken = folder.appendingPathComponent("demo-broken.yml")
        try Data("version: 1\nbogus: true\n".utf8).write(to: broken)
        let bad = try Self.run(["ingest", broken.path, "--metrics", metrics.path])
        #expect(bad.status == 78)
        let badProm = try String(contentsOf: metrics, encoding: .utf8)
        #expect(badProm.contains("eoshare_ingest_last_exit_code{pipeline=\"demo-broken\"} 78"))
        #expect(badProm.contains("eoshare_ingest_failures_total{pipeline=\"demo-broken\"} 2"))
    }

    @Test func aKilledRunShowsAsDiedOnceTheNextRunHoldsTheLock() throws {
        let (_, file) = try CLI.demoCopy()
        let killed = try Self.run(
            ["ingest", file.path, "--at", Self.at],
            environment: ["EOSHARE_CRASH_AT": "publish.after-intent"]
        )
        #expect(killed.status != 0)
        let before = try #require(
            try Self.json(try Self.run(["status", file.path, "--json"]).stdout)["runs"]?.arrayValue
        )
        #expect(before.first?["status"]?.stringValue == "running")
        let next = try Self.run(["ingest", file.path, "--at", Self.at])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("run #1 died without finishing"), "\(next.stderr)")
        let runs = try #require(
            try Self.json(try Self.run(["status", file.path, "--json"]).stdout)["runs"]?.arrayValue
        )
        #expect(runs.map { $0["status"]?.stringValue ?? "" } == ["ok", "died"])
        #expect(runs.last?["error"]?.stringValue?.contains("run #2 found its lock released") == true)
        #expect(runs.last?["finished"] == .null)
        #expect(try Self.run(["status", file.path]).stdout.contains("#1 "))
    }

    @Test func aMissingPipelineFileAndAStateThatIsAFolderAreNamedPlainly() throws {
        let folder = RepoPaths.temporaryFolder()
        let missing = folder.appendingPathComponent("nowhere.yml").path
        let r = try Self.run(["status", missing])
        #expect(r.status == 78)
        #expect(r.stderr == "eoshare: \(missing): cannot read the pipeline file: no such file\n", "\(r.stderr)")
        let j = try Self.run(["audit", missing, "--log-format", "json"])
        #expect(j.status == 78)
        let line = try Self.json(j.stderr.trimmingCharacters(in: .newlines))
        #expect(line["level"]?.stringValue == "critical" && line["event"]?.stringValue == "fatal")
        #expect(line["message"]?.stringValue?.contains("no such file") == true)
        #expect(line["exit_code"]?.doubleValue == 78)

        let (demo, file) = try CLI.demoCopy()
        let yaml = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(
            of: "out/state/demo.sqlite",
            with: "statedir"
        )
        try FileManager.default.createDirectory(
            at: demo.appendingPathComponent("statedir"),
            withIntermediateDirectories: true
        )
        let odd = demo.appendingPathComponent("odd.yml")
        try Data(yaml.utf8).write(to: odd)
        let state = try Self.run(["ingest", odd.path, "--at", Self.at])
        #expect(state.status == 74)
        #expect(
            state.stderr.contains("state \(demo.appendingPathComponent("statedir").path): is a directory"),
            "\(state.stderr)"
        )
        #expect(!state.stderr.contains("SQLite error"))
    }

    @Test func readOnlyCommandsCreateNothingAndAuditFindsTheAbsentSharedRoot() throws {
        let (folder, file) = try CLI.demoCopy()
        let before = Self.listing(folder)
        let status = try Self.run(["status", file.path])
        #expect(status.status == 0 && status.stdout.contains("(none yet)"), "\(status.stderr)")
        let audit = try Self.run(["audit", file.path, "--at", Self.at, "--json"])
        #expect(audit.status == 1)
        let report = try Self.json(audit.stdout)
        #expect(report["compliant"] == .bool(false))
        let details = report["findings"]?.arrayValue?.compactMap { $0["detail"]?.stringValue } ?? []
        #expect(details.contains { $0.contains("shared root") && $0.contains("does not exist") }, "\(details)")
        let explain = try Self.run(["explain", file.path, "LC08_L2SP_215128_20261116_02_T1", "--at", Self.at])
        #expect(explain.status == 65 && explain.stderr.contains("nothing has been ingested yet"), "\(explain.stderr)")
        let export = try Self.run([
            "export", file.path, "--member", "ESA", "--out", folder.appendingPathComponent("x.csv").path, "--format",
            "csv",
        ])
        #expect(export.status != 0 && export.stderr.contains("nothing has been ingested yet"), "\(export.stderr)")
        let ledger = try Self.run(["ledger", file.path, "--verify"])
        #expect(ledger.status == 0)
        #expect(Self.listing(folder) == before)
    }

    @Test func theSameHTMLPageServedAsDataIsQuarantinedOnce() throws {
        let (folder, file) = try CLI.demoCopy()
        let page = "<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>\n"
        try Data(page.utf8).write(
            to: folder.appendingPathComponent("feed/LC08_L2SP_001001_20260101_20260102_02_T1_MTL.txt")
        )
        let first = try Self.run(["ingest", file.path, "--at", Self.at])
        #expect(first.status == 1, "\(first.stderr)")
        #expect(
            first.stdout.contains("quarantined=1") && first.stderr.contains("an HTML page"),
            "\(first.stdout)\(first.stderr)"
        )
        for _ in 0..<2 {
            let again = try Self.run(["ingest", file.path, "--at", Self.at])
            #expect(again.status == 0, "\(again.stderr)")
            #expect(again.stdout.contains("unchanged=6") && again.stdout.contains("quarantined=0"), "\(again.stdout)")
        }
        // New bytes under the same name are judged again.
        try Data((page + "<!-- retry -->\n").utf8).write(
            to: folder.appendingPathComponent("feed/LC08_L2SP_001001_20260101_20260102_02_T1_MTL.txt")
        )
        let changed = try Self.run(["ingest", file.path, "--at", Self.at])
        #expect(changed.status == 1 && changed.stdout.contains("quarantined=1"), "\(changed.stdout)")
    }

    @Test func explainNamesTheClockAcceptsAProductIdAndSuggestsNearIds() throws {
        let (_, file) = try CLI.demoCopy()
        #expect(try Self.run(["ingest", file.path, "--at", Self.at]).status == 0)
        let july = try Self.run(["explain", file.path, "LC08_L2SP_017100_20260702_02_T1", "--at", Self.at])
        #expect(july.status == 0)
        #expect(
            july.stdout.contains("ESA        visible since 2026-08-01T")
                && july.stdout.contains("— acquired 2026-07-02T"),
            "\(july.stdout)"
        )
        #expect(july.stdout.contains("+ P30D → visible since 2026-08-01T"), "\(july.stdout)")
        #expect(july.stdout.contains("(rule #1, grant ESA)"), "\(july.stdout)")
        #expect(
            july.stdout.contains("+ P1Y → visible from 2027-07-02T") && july.stdout.contains("(rule #1, public)"),
            "\(july.stdout)"
        )

        let product = try Self.run(["explain", file.path, "LC08_L2SP_017100_20260702_20260703_02_T1", "--at", Self.at])
        #expect(product.status == 0, "\(product.stderr)")
        #expect(
            product.stdout.hasPrefix(
                "LC08_L2SP_017100_20260702_20260703_02_T1 is a product of record LC08_L2SP_017100_20260702_02_T1\n"
            )
        )

        let typo = try Self.run(["explain", file.path, "LC08_L2SP_017100_20260702_02_T2", "--at", Self.at])
        #expect(typo.status == 65)
        #expect(typo.stderr.contains("did you mean 'LC08_L2SP_017100_20260702_02_T1'"), "\(typo.stderr)")
        let member = try Self.run(["export", file.path, "--member", "ESAA", "--out", "-", "--format", "csv"])
        #expect(member.status == 64 && member.stderr.contains("did you mean 'ESA'"), "\(member.stderr)")
        let command = try Self.run(["injest", file.path])
        #expect(command.status == 64 && command.stderr.contains("did you mean 'ingest'"), "\(command.stderr)")
    }

    @Test func exportToStdoutForceOneArchiveFolderAndHrefsFromTheTreeRoot() throws {
        let (folder, file) = try CLI.demoCopy()
        #expect(try Self.run(["ingest", file.path, "--at", Self.at]).status == 0)
        // Negative values in the space form: the Americas.
        let csv = try Self.run([
            "export", file.path, "--member", "CSA", "--out", "-", "--format", "csv", "--bbox", "-180,-90,0,90", "--at",
            Self.at,
        ])
        #expect(csv.status == 0, "\(csv.stderr)")
        let rows = csv.stdout.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(rows.first == "id,collection,owner,datetime,bbox,cloud_cover,asset_hrefs")
        #expect(
            csv.stderr.contains(
                "exported \(rows.count - 1) record\(rows.count == 2 ? "" : "s") (\(csv.stdout.utf8.count) bytes written)"
            ),
            "\(csv.stderr)"
        )
        #expect(csv.stderr.contains("asset hrefs are relative to the root of CSA's tree"))
        #expect(!FileManager.default.fileExists(atPath: "-"))
        // Every href names a file in the member's tree.
        let shared = folder.appendingPathComponent("out/shared/CSA")
        let hrefs = rows.dropFirst().flatMap {
            $0.split(separator: ",").last.map { $0.split(separator: " ").map(String.init) } ?? []
        }
        #expect(!hrefs.isEmpty)
        for href in hrefs {
            #expect(FileManager.default.fileExists(atPath: shared.appendingPathComponent(href).path), "\(href)")
        }

        let one = folder.appendingPathComponent("one.geojson")
        let single = try Self.run([
            "export", file.path, "--member", "public", "--out", one.path, "--format", "geojson", "--at", Self.at,
        ])
        #expect(single.stdout.contains("exported 1 record ("), "\(single.stdout)")
        let size = try FileManager.default.attributesOfItem(atPath: one.path)[.size] as? Int
        #expect(single.stdout.contains("(\(size ?? -1) bytes written)"))
        let refused = try Self.run([
            "export", file.path, "--member", "public", "--out", one.path, "--format", "geojson", "--at", Self.at,
        ])
        #expect(refused.status == 64 && refused.stderr.contains("--force"), "\(refused.stderr)")
        let forced = try Self.run([
            "export", file.path, "--member", "ESA", "--out", one.path, "--format", "geojson", "--at", Self.at,
            "--force",
        ])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try Self.json(String(contentsOf: one, encoding: .utf8))["features"]?.arrayValue?.count == 3)

        let archive = folder.appendingPathComponent("esa-2026.tar.gz")
        #expect(
            try Self.run(["export", file.path, "--member", "ESA", "--out", archive.path, "--archive", "--at", Self.at])
                .status == 0
        )
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/bin/tar")
        tar.arguments = ["tzf", archive.path]
        let listing = Pipe()
        tar.standardOutput = listing
        try tar.run()
        let names = String(decoding: listing.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(
            separator: "\n"
        )
        tar.waitUntilExit()
        #expect(!names.isEmpty && names.allSatisfy { $0.hasPrefix("esa-2026/") }, "\(names)")
        #expect(names.contains("esa-2026/catalog.json") && names.contains("esa-2026/MANIFEST.sha256"))
    }

    @Test func completionCompletesPathsFormatsAndMembers() throws {
        let (_, file) = try CLI.demoCopy()
        let bash = try Self.run(["--generate-completion-script", "bash"])
        #expect(bash.status == 0)
        let script = bash.stdout
        func completes(_ option: String, with action: String) -> Bool {
            script.contains("    '\(option)')\n        __eoshare_add_completions \(action)")
        }
        #expect(completes("--format", with: "-W 'stac'$'\\n''geojson'$'\\n''csv'"), "formats")
        #expect(completes("--log-format", with: "-W 'text'$'\\n''json'"), "log formats")
        #expect(completes("--out", with: "-f"))
        #expect(completes("--html", with: "-o plusdirs -fX '!*.@(html)'"))
        #expect(completes("--metrics", with: "-o plusdirs -fX '!*.@(prom)'"))
        #expect(completes("--member", with: "-W \"$(__eoshare_custom_complete ---completion export -- --member"))
        #expect(script.contains("__eoshare_add_completions -o plusdirs -fX '!*.@(yml|yaml)'"), "the pipeline file")
        // What the shell runs for --member: the members of the pipeline file on the line,
        // filtered by what is typed (words: eoshare export FILE --member E, the cursor in word 4).
        let all = try Self.run([
            "---completion", "export", "--", "--member", "4", "0", "eoshare", "export", file.path, "--member", "",
        ])
        #expect(
            all.stdout.split(separator: "\n").map(String.init) == [
                "NASA", "ESA", "JAXA", "CSA", "ROSCOSMOS", "public",
            ],
            "\(all)"
        )
        let typed = try Self.run([
            "---completion", "export", "--", "--member", "4", "1", "eoshare", "export", file.path, "--member", "E",
        ])
        #expect(typed.stdout == "ESA\n")
    }

    @Test func cronGetsProgressAndTheSummaryInTheLogAndJSONLinesCarryFields() throws {
        let (folder, file) = try CLI.demoCopy()
        var g = LandsatFeedGenerator(start: Timestamp.parse("2026-01-01T00:00:00Z")!)
        g.gzip = true
        try g.write(count: 300, to: folder.appendingPathComponent("feed"))
        // Not a terminal: progress as log lines (every 10 s; here as often as the timer can).
        let r = try Self.run(
            ["ingest", file.path, "--at", Self.at, "--log-format", "json", "-v"],
            environment: ["EOSHARE_PROGRESS_SECONDS": "0.01"]
        )
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try r.stderr.split(separator: "\n").map { try Self.json(String($0)) }
        let finished = try #require(lines.last { $0["event"]?.stringValue == "finished" })
        #expect(finished["message"]?.stringValue?.hasPrefix("finished: discovered=305 ") == true, "\(finished)")
        #expect(finished["run"]?.stringValue == "1")
        #expect(
            lines.contains {
                $0["event"]?.stringValue == "progress"
                    && ($0["message"]?.stringValue?.contains(" discovered, ") ?? false)
            }
        )
        let publish = try #require(
            lines.first { $0["event"]?.stringValue == "publish" && $0["member"]?.stringValue == "ESA" }
        )
        #expect(publish["record"]?.stringValue != nil && publish["run"]?.stringValue == "1")
        #expect(publish["reason"]?.stringValue?.contains("(rule #1, grant ESA)") == true, "\(publish)")
        // A later run releases what became visible, each release logged with its member and rule.
        let later = try Self.run(["ingest", file.path, "--at", "2027-01-02T00:00:00Z", "--log-format", "json", "-v"])
        let releases = try later.stderr.split(separator: "\n").map { try Self.json(String($0)) }.filter {
            $0["event"]?.stringValue == "release"
        }
        #expect(
            releases.contains {
                $0["member"]?.stringValue == "JAXA" && $0["record"]?.stringValue == "LC08_L2SP_215128_20261116_02_T1"
            },
            "\(later.stderr.suffix(2000))"
        )
        #expect(releases.allSatisfy { $0["run"]?.stringValue == "2" && $0["reason"]?.stringValue != nil })
    }

    @Test func onATerminalIngestAndAuditDrawAProgressLine() throws {
        let (_, file) = try CLI.demoCopy()
        // script(1) gives the command a terminal; the last line is drawn when the work ends.
        func onTerminal(_ args: [String]) throws -> (Int32, String) {
            let command = ([RepoPaths.executable("eoshare").path] + args).map { "'\($0)'" }.joined(separator: " ")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            p.arguments = ["-qec", command, "/dev/null"]
            let out = Pipe()
            p.standardOutput = out
            p.standardInput = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        let (status, text) = try onTerminal(["ingest", file.path, "--at", Self.at])
        #expect(status == 0, "\(text)")
        #expect(text.contains("\r\u{1B}[Kprogress: 5 discovered, 5 fetched, 5 done, "), "\(text)")
        #expect(text.contains("objects/s, ETA"))
        let (auditStatus, audit) = try onTerminal(["audit", file.path, "--at", Self.at])
        #expect(auditStatus == 0, "\(audit)")
        #expect(audit.contains("\r\u{1B}[Kprogress: 17/17 items checked, "), "\(audit)")
    }

    /// Debian's chromium, headless, as root (no sandbox); `make deps` installs it.
    static func chromium(_ args: [String]) throws -> (status: Int32, stdout: String) {
        let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        let binary = try #require(path, "headless Chromium is needed: apt-get install chromium (make deps does)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                "--user-data-dir=\(RepoPaths.temporaryFolder("chromium").path)",
            ] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    /// The audit page as a compliance officer files it: rendered by a real browser, its text
    /// names what was checked, by what, when, per member, the ledger, the findings and the
    /// releases with their record ids; and it prints on A4.
    @Test func theAuditReportStandsAsEvidenceInARealBrowser() async throws {
        let (folder, file) = try CLI.demoCopy()
        #expect(try Self.run(["ingest", file.path, "--at", Self.at]).status == 0)
        let page = folder.appendingPathComponent("audit.html")
        let audit = try Self.run(["audit", file.path, "--at", Self.at, "--html", page.path])
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")

        let png = folder.appendingPathComponent("audit.png")
        // A4 at 96 dpi is 794 × 1123 pixels.
        let shot = try Self.chromium(["--screenshot=\(png.path)", "--window-size=794,1123", page.absoluteString])
        #expect(shot.status == 0)
        let bytes = try Data(contentsOf: png)
        #expect(bytes.count > 10_000 && bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))

        let dom = try Self.chromium(["--dump-dom", page.absoluteString])
        #expect(dom.status == 0)
        let text = dom.stdout
        let sha = Digest.sha256Hex(try FileBytes.read(file))
        let version = try Self.run(["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for expected in [
            "Embargo audit at 2026-11-21T12:00:00Z", "Compliant", file.path, sha, "eoshare \(version)",
            // Per member: items in its tree, releases due, holds active (NASA's held scene is held from the others).
            "<td>NASA</td><td class=\"n\">5</td><td class=\"n\">0</td><td class=\"n\">0</td>",
            "<td>ESA</td><td class=\"n\">3</td><td class=\"n\">1</td><td class=\"n\">1</td>",
            "<td>JAXA</td><td class=\"n\">4</td><td class=\"n\">0</td><td class=\"n\">1</td>",
            // The ledger, verified, and the one release due, on its calendar date with its id.
            "<dt>Verified</dt>", "yes: the chain holds", "LC09_L2SP_053109_20261119_02_T2",
            "ESA: 1 release on 2026-12-19",
        ] {
            #expect(text.contains(expected), "\(expected)")
        }
        let state = try SQLiteStateStore(path: try Pipeline.load(from: file).statePath)
        let head = try await state.ledgerAnchor().head
        #expect(text.contains(head))

        // Printed, it is A4 (595 × 842 points).
        let pdf = folder.appendingPathComponent("audit.pdf")
        #expect(
            try Self.chromium(["--print-to-pdf=\(pdf.path)", "--no-pdf-header-footer", page.absoluteString]).status == 0
        )
        let pdfText = String(decoding: try Data(contentsOf: pdf), as: UTF8.self)
        #expect(
            pdfText.range(of: #"/MediaBox \[0 0 59[45](\.[0-9]+)? 84[12](\.[0-9]+)?\]"#, options: .regularExpression)
                != nil
        )
    }
}
