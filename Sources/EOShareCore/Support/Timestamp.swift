import Foundation

/// RFC 3339 instants: parsing with `Z` or a numeric offset and optional fraction, and
/// formatting in UTC with `Z` (what STAC and the ledger carry).
public enum Timestamp {
    /// Parses `2026-09-02T00:00:00Z`, `2026-09-02T02:00:00+02:00`, `2026-09-02T00:00:00.25Z`.
    /// A lowercase `t`/`z` and a space between date and time are accepted (RFC 3339 §5.6 note).
    public static func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8(parse)
    }

    package static func parse(_ b: UnsafeBufferPointer<UInt8>) -> Date? {
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<from + count {
                let c = b[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard b.count >= 20,
            let y = num(0, 4), b[4] == 0x2D, let mo = num(5, 2), b[7] == 0x2D, let d = num(8, 2),
            b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20,
            let h = num(11, 2), b[13] == 0x3A, let mi = num(14, 2), b[16] == 0x3A, let s = num(17, 2)
        else { return nil }
        guard (1...12).contains(mo), d >= 1, d <= UTCCalendar.daysInMonth(y, mo), h < 24, mi < 60, s < 61 else {
            return nil
        }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        switch b[i] {
        case 0x5A, 0x7A:
            i += 1
        case 0x2B, 0x2D:
            guard let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == 0x3A, let om = num(i + 4, 2), oh < 24, om < 60
            else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == 0x2D ? -1 : 1)
            i += 6
        default:
            return nil
        }
        guard i == b.count else { return nil }
        let days = UTCCalendar.daysFromCivil(y, mo, d)
        let secs = Double(days * 86_400 + h * 3600 + mi * 60 + min(s, 59) - offset) + fraction
        return Date(timeIntervalSince1970: secs)
    }

    /// The instants RFC 3339 can write: years 0000 to 9999. A time computed from input (a
    /// packet's 7-byte counter of seconds) can lie far beyond; readers refuse those.
    public static let writable: ClosedRange<Date> =
        Date(timeIntervalSince1970: -62_167_219_200)...Date(timeIntervalSince1970: 253_402_300_799.999)

    /// `2026-09-02T00:00:00Z`, with milliseconds only when the instant has them.
    public static func format(_ date: Date) -> String { format(date, fractionDigits: 3) }

    /// As `format(_:)`; with `fractionDigits` 6, microseconds (CCSDS packet times).
    public static func format(_ date: Date, fractionDigits: Int) -> String {
        let t = date.timeIntervalSince1970
        let scale = fractionDigits == 6 ? 1_000_000 : 1000
        var whole = t.rounded(.down)
        var millis = Int(((t - whole) * Double(scale)).rounded())
        if millis == scale {
            whole += 1
            millis = 0
        }
        let secs = Int(whole)
        let dayIndex = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let rem = secs - dayIndex * 86_400
        let (y, m, d) = UTCCalendar.civilFromDays(dayIndex)
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        var out =
            "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2))"
        if millis != 0 { out += "." + pad(millis, scale == 1000 ? 3 : 6) }
        return out + "Z"
    }
}

/// Proleptic Gregorian arithmetic in UTC without Foundation's Calendar (fast, and exact
/// about month-end clamping): the one civil-date routine, used by timestamps, durations and
/// HTTP dates alike.
package enum UTCCalendar {
    /// Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm).
    package static func daysFromCivil(_ y: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    package static func civilFromDays(_ z: Int) -> (year: Int, month: Int, day: Int) {
        let z = z + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    package static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    package static func addingMonths(_ months: Int, to date: Date) -> Date {
        let t = date.timeIntervalSince1970
        let dayIndex = Int((t / 86_400).rounded(.down))
        let timeOfDay = t - Double(dayIndex) * 86_400
        let (y, m, d) = civilFromDays(dayIndex)
        let total = y * 12 + (m - 1) + months
        let ny = total >= 0 ? total / 12 : (total - 11) / 12
        let nm = total - ny * 12 + 1
        let nd = min(d, daysInMonth(ny, nm))
        return Date(timeIntervalSince1970: Double(daysFromCivil(ny, nm, nd)) * 86_400 + timeOfDay)
    }
}
