import EOShare
import Foundation

/// The members' bearer tokens as the file `serve: {tokens: …}` names keeps them: one line per
/// token, `MEMBER <SHA-256 of the token, 64 hex digits>`. Blank lines and `#` comments are
/// allowed. Only hashes are stored, so the file (or a backup of it) gives no one access.
public struct TokenFile: Sendable {
    /// Each member's token hashes (32 bytes each).
    public var hashes: [String: [[UInt8]]]

    public init(hashes: [String: [[UInt8]]] = [:]) {
        self.hashes = hashes
    }

    /// A bad line of the token file, named by file and line.
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads and checks the file; `members` are the pipeline's (a token for an unknown member,
    /// or for `public`, which needs none, is an error rather than a silent extra key).
    public static func load(_ url: URL, members: Set<String>) throws -> TokenFile {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Error(description: "tokens file \(url.path): cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Error(description: "tokens file \(url.path): not valid UTF-8")
        }
        return try parse(text, name: url.path, members: members)
    }

    public static func parse(_ text: String, name: String, members: Set<String>) throws -> TokenFile {
        var file = TokenFile()
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            let place = "tokens file \(name):\(n + 1)"
            guard fields.count == 2 else {
                throw Error(
                    description: "\(place): expected 'MEMBER <sha256 hex of the token>', found \(fields.count) fields"
                )
            }
            let member = String(fields[0])
            guard members.contains(member) else {
                throw Error(
                    description: member == "public"
                        ? "\(place): public needs no token" : "\(place): '\(member)' is not a member of the pipeline"
                )
            }
            guard let hash = hexBytes(fields[1]), hash.count == 32 else {
                throw Error(description: "\(place): the hash of \(member)'s token is not 64 hex digits (SHA-256)")
            }
            file.hashes[member, default: []].append(hash)
        }
        return file
    }

    static func hexBytes(_ s: Substring) -> [UInt8]? {
        let digits = Array(s.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var i = 0
        while i < digits.count {
            guard let hi = value(digits[i]), let lo = value(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// Whether `token` is one of the member's. The token is hashed first (so its length
    /// does not matter), and every stored hash of the member is compared in full.
    public func admits(_ token: String, as member: String) -> Bool {
        let presented = Self.hexBytes(Substring(Digest.sha256Hex(Array(token.utf8)))) ?? []
        var found = false
        for hash in hashes[member] ?? [] {
            // No early exit: a found match does not shorten the work for the others.
            found = Self.constantTimeEqual(presented, hash) || found
        }
        return found
    }

    /// Compares every byte whatever differs, so the time taken tells nothing of where two
    /// inputs part. Unequal lengths are unequal (for hashes they never differ).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt(bitPattern: a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= UInt(x ^ y)
        }
        return difference == 0
    }
}
