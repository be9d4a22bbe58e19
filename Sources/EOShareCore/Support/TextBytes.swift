/// Byte-level helpers the metadata readers share: blanks, lines, UTF-8 validation and
/// number parsing, all on `[UInt8]` so no reader pays for `String` until it keeps a value.
package enum TextBytes {
    package static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    package static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// ASCII letters, digits and `_`.
    package static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    /// 1-based line of a byte offset (counted only when an error is reported).
    package static func line(of offset: Int, in bytes: [UInt8]) -> Int {
        var line = 1
        for i in 0..<min(offset, bytes.count) where bytes[i] == 0x0A { line += 1 }
        return line
    }

    package static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Trims blanks from both ends of `bytes[from..<to]`.
    package static func trimmed(_ bytes: [UInt8], _ from: Int, _ to: Int) -> Range<Int> {
        var a = from
        var b = to
        while a < b, isSpace(bytes[a]) { a += 1 }
        while b > a, isSpace(bytes[b - 1]) { b -= 1 }
        return a..<b
    }

    /// `text` without blanks at either end.
    package static func trimmed(_ text: String) -> String {
        let utf8 = Array(text.utf8)
        let range = trimmed(utf8, 0, utf8.count)
        return range.count == utf8.count ? text : Self.text(utf8[range])
    }

    /// Offset of the first byte after a UTF-8 byte order mark, if any.
    package static func afterBOM(_ bytes: [UInt8]) -> Int {
        bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0
    }

    /// The first byte that is not valid UTF-8 text (bad sequence, overlong form, surrogate,
    /// or a NUL), or nil when all is well.
    package static func firstInvalidText(
        _ bytes: [UInt8],
        from start: Int,
        to end: Int? = nil
    ) -> (offset: Int, reason: String)? {
        bytes.withUnsafeBufferPointer { firstInvalidText($0, from: start, to: min(end ?? $0.count, $0.count)) }
    }

    private static func firstInvalidText(
        _ bytes: UnsafeBufferPointer<UInt8>,
        from start: Int,
        to n: Int
    ) -> (offset: Int, reason: String)? {
        guard start < n, let first = bytes.baseAddress else { return nil }
        var i = start
        let base = UnsafeRawPointer(first)
        while i < n {
            // Thirty-two, then eight ASCII bytes at a time, none of them NUL (the common case
            // by far): a word has a zero byte when (w - 0x01…) & ~w & 0x80… is not zero.
            while i + 32 <= n {
                let w0 = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let w1 = base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
                let w2 = base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)
                let w3 = base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)
                let ones: UInt64 = 0x0101_0101_0101_0101
                let zeros = (w0 &- ones) & ~w0 | (w1 &- ones) & ~w1 | (w2 &- ones) & ~w2 | (w3 &- ones) & ~w3
                guard (w0 | w1 | w2 | w3 | zeros) & 0x8080_8080_8080_8080 == 0 else { break }
                i += 32
            }
            if i == n { break }
            if i + 8 <= n {
                let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let hasZero = (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
                if word & 0x8080_8080_8080_8080 == 0, hasZero == 0 {
                    i += 8
                    continue
                }
            }
            let b = bytes[i]
            if b < 0x80 {
                if b == 0 { return (i, "NUL byte in text") }
                i += 1
                continue
            }
            var need = 0
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: need = 1
            case 0xE0:
                need = 2
                low = 0xA0
            case 0xE1...0xEC, 0xEE, 0xEF: need = 2
            case 0xED:
                need = 2
                high = 0x9F
            case 0xF0:
                need = 3
                low = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4:
                need = 3
                high = 0x8F
            default: return (i, "invalid UTF-8 byte 0x\(String(b, radix: 16, uppercase: true))")
            }
            guard i + need < n, bytes[i + 1] >= low, bytes[i + 1] <= high else {
                return (i, "invalid UTF-8 sequence")
            }
            var k = 2
            while k <= need {
                if bytes[i + k] & 0xC0 != 0x80 { return (i, "invalid UTF-8 sequence") }
                k += 1
            }
            i += need + 1
        }
        return nil
    }

    /// A decimal number as metadata files write them (`-0.2`, `2.75e-05`, `30.00`, `+5`):
    /// no NaN, no infinity, no hex, no blanks.
    package static func decimal(_ text: String) -> Double? {
        guard !text.isEmpty,
            text.utf8.allSatisfy({
                isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: ".")
                    || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E")
            }),
            let value = Double(text), value.isFinite
        else { return nil }
        return value
    }
}
