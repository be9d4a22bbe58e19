import EOShareCore
import EOShareEmbargo
import EOSharePublish
import EOShareState
import EOShareUnpack
import Foundation

/// The audit as one self-contained HTML page that stands as evidence for a compliance
/// officer: what was checked (the pipeline file's path and SHA-256, which holds the
/// policy), by which eoshare and when, the verdict, a table per member (items, releases
/// due, holds active), the ledger's state, every finding, and the releases due in the next
/// 30 days with their record ids written out. No script and no external resource, so the
/// page can be archived with the audit; laid out for A4.
public enum AuditHTMLReport {
    /// What the page says besides the audit itself.
    public struct Evidence: Sendable {
        public var pipelinePath: String
        public var pipelineSHA256: String
        public var version: String
        public var generated: Date
        /// Releases due in the horizon, from the state (records a member may not see yet are,
        /// by design, in no tree the audit read).
        public var releases: [StatusReport.Release] = []
        /// Records held from each member (or public) at the audit's instant.
        public var holdsActive: [String: Int] = [:]
        /// Every viewer, in the pipeline's order.
        public var viewers: [String] = []
        public var ledger: LedgerState

        public init(pipelinePath: String, pipelineSHA256: String, version: String, generated: Date, ledger: LedgerState)
        {
            self.pipelinePath = pipelinePath
            self.pipelineSHA256 = pipelineSHA256
            self.version = version
            self.generated = generated
            self.ledger = ledger
        }
    }

    public struct LedgerState: Sendable {
        public var path: String
        /// Lines the ledger holds (the state's count when there is a state, else the file's).
        public var lines: Int64
        /// SHA-256 of its last line.
        public var head: String
        /// The chain holds and the file is what the state anchored.
        public var verified: Bool
        public var problems: Int

        public init(path: String, lines: Int64, head: String, verified: Bool, problems: Int) {
            self.path = path
            self.lines = lines
            self.head = head
            self.verified = verified
            self.problems = problems
        }
    }

    /// Gathers the evidence (reading the state only if there is one) and writes the page atomically.
    public static func write(_ report: AuditReport, pipeline: Pipeline, to url: URL) async throws {
        let evidence = try await evidence(for: report, pipeline: pipeline)
        try AtomicFile.write(Array(render(report, evidence: evidence).utf8), to: url)
    }

    public static func evidence(
        for report: AuditReport,
        pipeline: Pipeline,
        generated: Date = Date()
    ) async throws -> Evidence {
        let engine = EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id))
        let state = try await existingState(pipeline)
        let fileBytes = (try? FileBytes.read(pipeline.file)) ?? []
        let problems = try await LedgerSource.verify(pipeline, state: state)
        var lines: Int64 = 0
        var head = Ledger.genesis
        if let state {
            let a = try await state.ledgerAnchor()
            (lines, head) = (a.lines, a.head)
        } else if let bytes = try? FileBytes.read(pipeline.ledgerPath) {
            let all = bytes.split(separator: 0x0A)
            lines = Int64(all.count)
            head = all.last.map { Digest.sha256Hex(Array($0)) } ?? Ledger.genesis
        }
        var e = Evidence(
            pipelinePath: pipeline.file.path,
            pipelineSHA256: Digest.sha256Hex(fileBytes),
            version: EOShareVersion.current,
            generated: generated,
            ledger: LedgerState(
                path: LedgerSource.name(pipeline),
                lines: lines,
                head: head,
                verified: problems.isEmpty,
                problems: problems.count
            )
        )
        e.viewers = engine.viewers.map(\.folder)
        if let state {
            e.releases = try await StatusReport.build(pipeline: pipeline, state: state, now: report.at).releases
            try await state.forEachSubject { s in
                for viewer in engine.viewers {
                    if case .hold = engine.decide(s, for: viewer, at: report.at).reason {
                        e.holdsActive[viewer.folder, default: 0] += 1
                    }
                }
            }
        }
        return e
    }

    public static func render(_ report: AuditReport, evidence e: Evidence, horizonDays: Int = 30) -> String {
        let at = Timestamp.format(report.at)
        let due = e.releases.filter {
            $0.at > report.at && $0.at <= report.at.addingTimeInterval(Double(horizonDays) * 86_400)
        }
        var duePerViewer: [String: Int] = [:]
        for r in due { for v in r.viewers { duePerViewer[v, default: 0] += 1 } }
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>eoshare embargo audit at \(at)</title>
            <style>
            @page{size:A4;margin:15mm}
            body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:0 auto;max-width:180mm;padding:8mm 0;color:#222;font-size:10pt;line-height:1.35}
            h1{font-size:16pt;margin:0 0 2mm}h2{font-size:12pt;margin:6mm 0 2mm;border-bottom:1px solid #bbb;padding-bottom:1mm}
            .ok{color:#17652b}.bad{color:#a31515}.verdict{font-size:12pt;margin:2mm 0 4mm}
            table{border-collapse:collapse;width:100%;margin-top:1mm}td,th{border:1px solid #ccc;padding:1mm 2mm;text-align:left;vertical-align:top}
            th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}
            dl{display:grid;grid-template-columns:42mm 1fr;gap:1mm 3mm;margin:0}dt{font-weight:bold}dd{margin:0}
            code,.id{font-family:"DejaVu Sans Mono",monospace;font-size:8.5pt;word-break:break-all}
            svg{width:100%;height:auto}svg text{font-size:10px;fill:#444;font-family:"DejaVu Sans",sans-serif}
            tr,svg{page-break-inside:avoid}
            </style></head><body>
            <h1>Embargo audit at \(at)</h1>
            <p class="verdict \(report.compliant ? "ok" : "bad")"><strong>\(report.compliant ? "Compliant" : "NOT compliant")</strong>:
            \(report.members) trees, \(report.items) items, \(report.files) files, \(report.findings.count) findings.</p>
            <h2>What was checked</h2>
            <dl>
            <dt>Pipeline and policy</dt><dd><code>\(escape(e.pipelinePath))</code></dd>
            <dt>SHA-256 of the file</dt><dd><code>\(e.pipelineSHA256)</code></dd>
            <dt>Policy evaluated at</dt><dd>\(at)</dd>
            <dt>Generated</dt><dd>\(Timestamp.format(e.generated)) by eoshare \(escape(e.version))</dd>
            </dl>

            """
        html +=
            "<h2>Members</h2>\n<table><tr><th>member</th><th>items in tree</th><th>releases due in \(horizonDays) days</th><th>holds active</th></tr>\n"
        let rows = e.viewers.isEmpty ? report.itemsPerMember.keys.sorted() : e.viewers
        for v in rows where report.itemsPerMember[v] != nil || e.viewers.contains(v) {
            let items = report.itemsPerMember[v].map(String.init) ?? "not audited"
            html += "<tr><td>\(escape(v))</td><td class=\"n\">\(items)</td><td class=\"n\">\(duePerViewer[v] ?? 0)</td>"
            html += "<td class=\"n\">\(e.holdsActive[v] ?? 0)</td></tr>\n"
        }
        html += "</table>\n"
        html += """
            <h2>Ledger</h2>
            <dl>
            <dt>File</dt><dd><code>\(escape(e.ledger.path))</code></dd>
            <dt>Lines</dt><dd>\(e.ledger.lines)</dd>
            <dt>Head (SHA-256)</dt><dd><code>\(e.ledger.head)</code></dd>
            <dt>Verified</dt><dd class="\(e.ledger.verified ? "ok" : "bad")">\(e.ledger.verified ? "yes: the chain holds and matches the state's anchor" : "NO: \(e.ledger.problems) problems, listed among the findings")</dd>
            </dl>

            """
        html += "<h2>Findings</h2>\n"
        if report.findings.isEmpty {
            html += "<p>None.</p>\n"
        } else {
            html += "<table><tr><th>kind</th><th>member</th><th>record</th><th>detail</th></tr>\n"
            for f in report.findings {
                html +=
                    "<tr><td>\(f.kind.rawValue)</td><td>\(escape(f.member ?? "–"))</td><td class=\"id\">\(escape(f.record ?? "–"))</td>"
                html += "<td>\(escape(f.detail))</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "<h2>Releases due in the next \(horizonDays) days</h2>\n"
        html += timeline(due, from: report.at, days: horizonDays)
        if !due.isEmpty {
            html += "<table><tr><th>date (UTC)</th><th>record</th><th>collection</th><th>opens to</th></tr>\n"
            for r in due {
                html +=
                    "<tr><td>\(Timestamp.format(r.at))</td><td class=\"id\">\(escape(r.record))</td><td>\(escape(r.collection))</td>"
                html += "<td>\(escape(r.viewers.joined(separator: ", ")))</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "</body></html>\n"
        return html
    }

    /// The UTC calendar day of an instant, as days since 1970-01-01.
    package static func calendarDay(_ d: Date) -> Int { Int((d.timeIntervalSince1970 / 86_400).rounded(.down)) }

    /// One row per member, one dot per calendar day (UTC) with releases; its area grows with
    /// the count, and the count is written beside it (a printed page has no hover).
    package static func timeline(_ releases: [StatusReport.Release], from start: Date, days: Int) -> String {
        let first = calendarDay(start)
        var perDay: [String: [Int: Int]] = [:]  // member → day index → releases
        for r in releases {
            let day = calendarDay(r.at) - first
            guard day >= 0, day <= days else { continue }
            for viewer in r.viewers { perDay[viewer, default: [:]][day, default: 0] += 1 }
        }
        guard !perDay.isEmpty else { return "<p>None.</p>\n" }
        let members = perDay.keys.sorted()
        let (left, width, row) = (100.0, 560.0, 26.0)
        let height = Double(members.count) * row + 40
        let dayWidth = width / Double(days + 1)
        func date(_ day: Int) -> String {
            String(Timestamp.format(Date(timeIntervalSince1970: Double(first + day) * 86_400)).prefix(10))
        }
        let total = Int(left + width + 20)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(total) \(Int(height))\" role=\"img\" aria-label=\"releases per member and calendar day\">\n"
        for tick in stride(from: 0, through: days, by: 5) {
            let x = left + (Double(tick) + 0.5) * dayWidth
            svg += "<line x1=\"\(x)\" y1=\"10\" x2=\"\(x)\" y2=\"\(height - 20)\" stroke=\"#e3e3e3\"/>"
            svg += "<text x=\"\(x)\" y=\"\(height - 5)\" text-anchor=\"middle\">\(date(tick))</text>\n"
        }
        for (i, member) in members.enumerated() {
            let y = 22 + Double(i) * row
            svg += "<text x=\"\(left - 8)\" y=\"\(y + 4)\" text-anchor=\"end\">\(escape(member))</text>"
            svg += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + width)\" y2=\"\(y)\" stroke=\"#bbb\"/>\n"
            for (day, count) in perDay[member]!.sorted(by: { $0.key < $1.key }) {
                let x = left + (Double(day) + 0.5) * dayWidth
                let r = min(row / 2 - 3, 3 + 1.5 * Double(count).squareRoot())
                svg += "<circle cx=\"\(x)\" cy=\"\(y)\" r=\"\(r)\" fill=\"#2f6db5\" fill-opacity=\"0.7\">"
                svg +=
                    "<title>\(escape(member)): \(count) release\(count == 1 ? "" : "s") on \(date(day))</title></circle>"
                svg += "<text x=\"\(x)\" y=\"\(y - r - 2)\" text-anchor=\"middle\">\(count)</text>\n"
            }
        }
        return svg + "</svg>\n"
    }

    /// Text for HTML content and attribute values.
    package static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
