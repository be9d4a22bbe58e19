import Foundation

/// "Did you mean": the known names nearest to a mistyped one, by edit distance (case
/// folded), close enough to be a typo of it.
public enum Suggestion {
    /// Up to `limit` candidates within a third of the name's length in edits (at least 2),
    /// nearest first; a candidate that contains the name, or that the name contains, counts too.
    public static func nearest(to name: String, in candidates: [String], limit: Int = 3) -> [String] {
        let wanted = name.lowercased()
        let allowed = max(2, wanted.count / 3)
        var scored: [(Int, String)] = []
        for c in Set(candidates) {
            let lower = c.lowercased()
            var d = distance(Array(wanted.utf8), Array(lower.utf8), limit: allowed)
            if d > allowed, wanted.count >= 4, lower.contains(wanted) || wanted.contains(lower) { d = allowed }
            if d <= allowed { scored.append((d, c)) }
        }
        return scored.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.prefix(limit).map(\.1)
    }

    /// " (did you mean 'a' or 'b'?)", or "" when nothing is near.
    public static func hint(for name: String, in candidates: [String]) -> String {
        let near = nearest(to: name, in: candidates)
        guard !near.isEmpty else { return "" }
        return " (did you mean " + near.map { "'\($0)'" }.joined(separator: " or ") + "?)"
    }

    /// Levenshtein distance, given up (returning limit + 1) once every path exceeds `limit`.
    package static func distance(_ a: [UInt8], _ b: [UInt8], limit: Int) -> Int {
        if abs(a.count - b.count) > limit { return limit + 1 }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            current[0] = i
            var best = current[0]
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                best = min(best, current[j])
            }
            if best > limit { return limit + 1 }
            swap(&previous, &current)
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
