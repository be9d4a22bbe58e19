import Foundation

/// Comparisons of a string with bytes, done on its UTF-8 without making strings: readers
/// match names in their input this way, and `String.contains` goes through NSString on Linux.
extension String {
    /// Whether the string's UTF-8 is exactly `bytes`.
    package func utf8Equals(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard utf8.count == bytes.count else { return false }
        guard !bytes.isEmpty else { return true }
        var copy = self
        return copy.withUTF8 { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
    }

    /// Whether `part` occurs in the string, compared as bytes.
    package func containsUTF8(_ part: String) -> Bool {
        var text = self
        var part = part
        return text.withUTF8 { t in
            part.withUTF8 { p in
                guard !p.isEmpty else { return true }
                guard t.count >= p.count else { return false }
                for i in 0...(t.count - p.count) where t[i] == p[0] {
                    if memcmp(t.baseAddress! + i, p.baseAddress!, p.count) == 0 { return true }
                }
                return false
            }
        }
    }
}
