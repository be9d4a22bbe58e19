import Foundation
import Yams

/// Typed, position-aware access to a composed YAML tree. Every failure becomes a
/// `ConfigError` that points at the node (file:line:column) and names its key path.
package struct YAMLNodeReader {
    package let file: String
    package let node: Node
    package let path: String

    package func error(_ message: String, at node: Node? = nil, key: String? = nil) -> ConfigError {
        let mark = (node ?? self.node).mark
        return ConfigError(
            file: file,
            line: mark?.line ?? 1,
            column: mark?.column ?? 1,
            key: key ?? (path.isEmpty ? "(top)" : path),
            message: message
        )
    }

    package func child(_ node: Node, _ key: String) -> YAMLNodeReader {
        YAMLNodeReader(file: file, node: node, path: path.isEmpty ? key : "\(path).\(key)")
    }

    // MARK: Mappings

    /// The mapping's entries after checking that every key is allowed and none repeats.
    package func mapping(allowed: [String], required: [String] = []) throws(ConfigError) -> Mapping {
        guard case .mapping(let m) = node else { throw error("expected a mapping, found \(kind)") }
        var entries: [String: (key: Node, value: Node)] = [:]
        for (k, v) in m {
            guard case .scalar(let s) = k else { throw error("keys must be plain strings", at: k) }
            let name = s.string
            let keyPath = path.isEmpty ? name : "\(path).\(name)"
            guard allowed.contains(name) else {
                throw error("unknown key (allowed: \(allowed.joined(separator: ", ")))", at: k, key: keyPath)
            }
            guard entries[name] == nil else { throw error("duplicate key", at: k, key: keyPath) }
            entries[name] = (k, v)
        }
        for name in required where entries[name] == nil {
            throw error("missing required key '\(name)'", key: path.isEmpty ? name : "\(path).\(name)")
        }
        return Mapping(reader: self, entries: entries)
    }

    package struct Mapping {
        package let reader: YAMLNodeReader
        package let entries: [String: (key: Node, value: Node)]

        package subscript(key: String) -> YAMLNodeReader? {
            entries[key].map { reader.child($0.value, key) }
        }

        package func require(_ key: String) -> YAMLNodeReader {
            reader.child(entries[key]!.value, key)
        }
    }

    // MARK: Scalars

    package var kind: String {
        switch node {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    package func string() throws(ConfigError) -> String {
        guard case .scalar(let s) = node else { throw error("expected a string, found \(kind)") }
        if s.style == .plain, s.string == "~" || s.string == "null" || s.string.isEmpty {
            throw error("expected a string, found null")
        }
        return s.string
    }

    package func nonEmptyString() throws(ConfigError) -> String {
        let s = try string()
        guard !s.trimmingCharacters(in: .whitespaces).isEmpty else { throw error("must not be empty") }
        return s
    }

    package func int(in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard case .scalar(let s) = node, s.style == .plain, let v = Int(s.string) else {
            throw error("expected a whole number, found \(describeValue)")
        }
        guard range.contains(v) else { throw error("must be between \(range.lowerBound) and \(range.upperBound)") }
        return v
    }

    package func double() throws(ConfigError) -> Double {
        guard case .scalar(let s) = node, s.style == .plain, let v = Double(s.string), v.isFinite else {
            throw error("expected a number, found \(describeValue)")
        }
        return v
    }

    package func bool() throws(ConfigError) -> Bool {
        guard case .scalar(let s) = node, s.style == .plain else { throw error("expected true or false") }
        switch s.string {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw error("expected true or false, found '\(s.string)'")
        }
    }

    package var describeValue: String {
        if case .scalar(let s) = node { return "'\(s.string)'" }
        return kind
    }

    // MARK: Lists

    package func list() throws(ConfigError) -> [YAMLNodeReader] {
        guard case .sequence(let seq) = node else { throw error("expected a list, found \(kind)") }
        return seq.enumerated().map { YAMLNodeReader(file: file, node: $1, path: "\(path)[\($0)]") }
    }

    /// A list of strings, also accepting a single string for convenience.
    package func stringList() throws(ConfigError) -> [YAMLNodeReader] {
        if case .scalar = node { return [self] }
        return try list()
    }

    // MARK: Domain values

    package func duration() throws(ConfigError) -> ISODuration {
        let s = try string()
        do { return try ISODuration(parsing: s) } catch { throw self.error(error.description) }
    }

    package func instant() throws(ConfigError) -> Date {
        let s = try string()
        guard let d = Timestamp.parse(s) else {
            throw error("'\(s)' is not an RFC 3339 instant (e.g. 2026-09-02T00:00:00Z or with an offset +02:00)")
        }
        return d
    }

    package func glob() throws(ConfigError) -> Glob {
        let s = try string()
        do { return try Glob(s) } catch { throw self.error(error.description) }
    }

    /// A byte size: a whole number of bytes or with a unit (KB, MB, GB, TB, KiB, MiB, GiB, TiB).
    package func byteSize() throws(ConfigError) -> Int64 {
        guard case .scalar(let s) = node else { throw error("expected a size such as 10GiB, found \(kind)") }
        let text = s.string.trimmingCharacters(in: .whitespaces)
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let unit = text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        let scale: Int64? =
            switch unit {
            case "", "B": 1
            case "KB": 1_000
            case "MB": 1_000_000
            case "GB": 1_000_000_000
            case "TB": 1_000_000_000_000
            case "KiB": 1 << 10
            case "MiB": 1 << 20
            case "GiB": 1 << 30
            case "TiB": 1 << 40
            default: nil
            }
        guard let scale, let n = Int64(digits), n > 0, n <= Int64.max / scale else {
            throw error("'\(text)' is not a size (e.g. 500MiB, 10GiB, or a number of bytes)")
        }
        return n * scale
    }
}
