import Foundation

/// The audit as one self-contained HTML page for a compliance officer: the verdict, every
/// finding, and a timeline of the releases due in the next 30 days per member (an inline
/// SVG, no script, no external resource), so the page can be archived with the audit.
public enum AuditHTMLReport {
    /// Writes the page atomically; the releases come from the state (records a member may
    /// not see yet are, by design, in no tree the audit read).
    public static func write(_ report: AuditReport, pipeline: Pipeline, to url: URL) throws {
        var releases: [StatusReport.Release] = []
        if FileManager.default.fileExists(atPath: pipeline.statePath.path) {
            releases = try StatusReport.build(pipeline: pipeline, state: StateStore(path: pipeline.statePath), now: report.at)
                .releases
        }
        try AtomicFile.write(Array(render(report, releases: releases).utf8), to: url)
    }

    public static func render(_ report: AuditReport, releases: [StatusReport.Release], horizonDays: Int = 30) -> String {
        let at = Timestamp.format(report.at)
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>eoshare audit at \(at)</title>
            <style>
            body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
            .ok{color:#17652b}.bad{color:#a31515}
            table{border-collapse:collapse;margin-top:1rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem}
            th{background:#f3f3f3}svg text{font-size:11px;fill:#444}
            </style></head><body>
            <h1>Embargo audit at \(at)</h1>
            <p class="\(report.compliant ? "ok" : "bad")"><strong>\(report.compliant ? "Compliant" : "NOT compliant")</strong>:
            \(report.members) trees, \(report.items) items, \(report.files) files, \(report.findings.count) findings.</p>

            """
        html += "<h2>Findings</h2>\n"
        if report.findings.isEmpty {
            html += "<p>None.</p>\n"
        } else {
            html += "<table><tr><th>kind</th><th>member</th><th>record</th><th>detail</th></tr>\n"
            for f in report.findings {
                html += "<tr><td>\(f.kind.rawValue)</td><td>\(escape(f.member ?? "–"))</td><td>\(escape(f.record ?? "–"))</td>"
                html += "<td>\(escape(f.detail))</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "<h2>Releases due in the next \(horizonDays) days</h2>\n"
        html += timeline(releases, from: report.at, days: horizonDays)
        html += "</body></html>\n"
        return html
    }

    /// One row per member, one dot per day with releases (its area grows with the count;
    /// hovering shows the count and the day).
    static func timeline(_ releases: [StatusReport.Release], from start: Date, days: Int) -> String {
        var perDay: [String: [Int: Int]] = [:]  // member → day index → releases
        for r in releases {
            let day = Int(r.at.timeIntervalSince(start) / 86_400)
            guard day >= 0, day < days else { continue }
            for viewer in r.viewers { perDay[viewer, default: [:]][day, default: 0] += 1 }
        }
        guard !perDay.isEmpty else { return "<p>None.</p>\n" }
        let members = perDay.keys.sorted()
        let (left, width, row) = (130.0, 720.0, 30.0)
        let height = Double(members.count) * row + 40
        let dayWidth = width / Double(days)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(left + width + 50))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"releases per member and day\">\n"
        for tick in stride(from: 0, through: days, by: 5) {
            let x = left + Double(tick) * dayWidth
            let label = String(Timestamp.format(start.addingTimeInterval(Double(tick) * 86_400)).prefix(10))
            svg += "<line x1=\"\(x)\" y1=\"10\" x2=\"\(x)\" y2=\"\(height - 20)\" stroke=\"#e3e3e3\"/>"
            svg += "<text x=\"\(x)\" y=\"\(height - 5)\" text-anchor=\"middle\">\(label)</text>\n"
        }
        for (i, member) in members.enumerated() {
            let y = 25 + Double(i) * row
            svg += "<text x=\"\(left - 10)\" y=\"\(y + 4)\" text-anchor=\"end\">\(escape(member))</text>"
            svg += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + width)\" y2=\"\(y)\" stroke=\"#bbb\"/>\n"
            for (day, count) in perDay[member]!.sorted(by: { $0.key < $1.key }) {
                let x = left + (Double(day) + 0.5) * dayWidth
                let r = min(row / 2 - 2, 3 + 2 * Double(count).squareRoot())
                let date = String(Timestamp.format(start.addingTimeInterval(Double(day) * 86_400)).prefix(10))
                svg += "<circle cx=\"\(x)\" cy=\"\(y)\" r=\"\(r)\" fill=\"#2f6db5\" fill-opacity=\"0.7\">"
                svg += "<title>\(escape(member)): \(count) release\(count == 1 ? "" : "s") on \(date)</title></circle>\n"
            }
        }
        return svg + "</svg>\n"
    }

    /// Text for HTML content and attribute values.
    static func escape(_ text: String) -> String {
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
