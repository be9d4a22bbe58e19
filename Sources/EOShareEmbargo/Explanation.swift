import EOShareCore
import Foundation

extension EmbargoEngine {
    /// What decided a viewer's access at `t`, in words that name the clock and its value
    /// where a rule decided: `acquired 2025-06-10T13:21:00Z + P30D → visible since
    /// 2025-07-10T13:21:00Z (rule #1, grant ESA)`; holds, releases and the owner as they are.
    public func explanation(_ r: EmbargoSubject, for viewer: Viewer, at t: Date) -> String {
        let decision = decide(r, for: viewer, at: t)
        guard case .rule(let index, let via, let opensAt) = decision.reason, let rule = firstRule(for: r),
            let value = clock(rule.clock, r)
        else { return decision.reason.description }
        // `via` is "period P90D", "grant ESA P30D" or "public P1Y": a name, then the duration.
        var words = via.split(separator: " ").map(String.init)
        let period = words.popLast() ?? ""
        let name = words.joined(separator: " ")
        let verdict = decision.visible ? "visible since" : "visible from"
        return "\(rule.clock) \(Timestamp.format(value)) + \(period) → \(verdict) \(Timestamp.format(opensAt)) "
            + "(rule #\(index + 1), \(name))"
    }
}
