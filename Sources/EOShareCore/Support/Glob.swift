/// A shell-style glob (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`) compiled once and matched
/// against whole names. Used for source `match`, policy owner/collection and hold record ids.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    package enum Token: Sendable, Hashable {
        case literal(UInt8)
        case any
        case star
        case set(negated: Bool, ranges: [ClosedRange<UInt8>])
    }

    public let description: String
    package let tokens: [Token]

    public init(_ pattern: String) throws(GlobError) {
        description = pattern
        guard !pattern.isEmpty else { throw GlobError(pattern: pattern, reason: "empty pattern") }
        var tokens: [Token] = []
        let b = Array(pattern.utf8)
        var i = 0
        while i < b.count {
            switch b[i] {
            case UInt8(ascii: "*"):
                if tokens.last != .star { tokens.append(.star) }
                i += 1
            case UInt8(ascii: "?"):
                tokens.append(.any)
                i += 1
            case UInt8(ascii: "["):
                var j = i + 1
                var negated = false
                if j < b.count, b[j] == UInt8(ascii: "!") || b[j] == UInt8(ascii: "^") {
                    negated = true
                    j += 1
                }
                var ranges: [ClosedRange<UInt8>] = []
                var first = true
                while j < b.count, b[j] != UInt8(ascii: "]") || first {
                    first = false
                    let lo = b[j]
                    if j + 2 < b.count, b[j + 1] == UInt8(ascii: "-"), b[j + 2] != UInt8(ascii: "]") {
                        let hi = b[j + 2]
                        guard lo <= hi else {
                            throw GlobError(pattern: pattern, reason: "reversed range in brackets")
                        }
                        ranges.append(lo...hi)
                        j += 3
                    } else {
                        ranges.append(lo...lo)
                        j += 1
                    }
                }
                guard j < b.count else { throw GlobError(pattern: pattern, reason: "unclosed '['") }
                tokens.append(.set(negated: negated, ranges: ranges))
                i = j + 1
            case UInt8(ascii: "\\"):
                guard i + 1 < b.count else { throw GlobError(pattern: pattern, reason: "trailing backslash") }
                tokens.append(.literal(b[i + 1]))
                i += 2
            case UInt8(ascii: "]"):
                throw GlobError(pattern: pattern, reason: "unmatched ']'")
            default:
                tokens.append(.literal(b[i]))
                i += 1
            }
        }
        self.tokens = tokens
    }

    public func matches(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { matches(bytes: $0) }
    }

    /// Iterative matcher with single-star backtracking: linear in practice, no recursion.
    package func matches(bytes s: UnsafeBufferPointer<UInt8>) -> Bool {
        var p = 0
        var n = 0
        var starP = -1
        var starN = 0
        while n < s.count {
            if p < tokens.count {
                switch tokens[p] {
                case .star:
                    starP = p
                    starN = n
                    p += 1
                    continue
                case .any:
                    p += 1
                    n += 1
                    continue
                case .literal(let c) where c == s[n]:
                    p += 1
                    n += 1
                    continue
                case .set(let negated, let ranges) where ranges.contains { $0.contains(s[n]) } != negated:
                    p += 1
                    n += 1
                    continue
                default:
                    break
                }
            }
            guard starP >= 0 else { return false }
            p = starP + 1
            starN += 1
            n = starN
        }
        while p < tokens.count, tokens[p] == .star { p += 1 }
        return p == tokens.count
    }

    /// Matches any name: what an omitted glob means.
    public static let any: Glob = try! Glob("*")
}

public struct GlobError: Error, CustomStringConvertible {
    public let pattern: String
    public let reason: String
    public var description: String { "bad glob '\(pattern)': \(reason)" }
}
