import Foundation

/// An ISO 8601 duration such as `P1Y2M10DT2H` or `P2W`.
///
/// Years and months are calendar steps in UTC clamped to the month's last day; weeks, days
/// and time are fixed lengths added afterwards (CONTRACT §4.6).
public struct ISODuration: Sendable, Hashable, CustomStringConvertible {
    public var years: Int = 0
    public var months: Int = 0
    public var weeks: Int = 0
    public var days: Int = 0
    public var hours: Int = 0
    public var minutes: Int = 0
    public var seconds: Double = 0
    public let description: String

    public init(parsing text: String) throws(ParseError) {
        description = text
        var chars = Substring(text)
        guard chars.first == "P", chars.count > 1 else { throw ParseError(text) }
        chars = chars.dropFirst()
        var inTime = false
        var sawAny = false
        var sawTimeComponent = false
        // Designators must appear in this order; each at most once.
        var order = 0
        while let c = chars.first {
            if c == "T" {
                guard !inTime else { throw ParseError(text) }
                inTime = true
                chars = chars.dropFirst()
                continue
            }
            let number = chars.prefix { $0.isASCII && ($0.isNumber || $0 == "." || $0 == ",") }
            guard !number.isEmpty else { throw ParseError(text) }
            chars = chars.dropFirst(number.count)
            guard let designator = chars.first else { throw ParseError(text) }
            chars = chars.dropFirst()
            let rank: Int
            switch (inTime, designator) {
            case (false, "Y"): rank = 1
            case (false, "M"): rank = 2
            case (false, "W"): rank = 3
            case (false, "D"): rank = 4
            case (true, "H"): rank = 5
            case (true, "M"): rank = 6
            case (true, "S"): rank = 7
            default: throw ParseError(text)
            }
            guard rank > order else { throw ParseError(text) }
            order = rank
            let isFraction = number.contains(".") || number.contains(",")
            if rank == 7 {
                // As the other components, bounded (a thousand years and more): 400 digits of
                // seconds would be infinite and every date plus it too.
                guard let v = Double(number.replacingOccurrences(of: ",", with: ".")), v.isFinite, v <= 1e11 else {
                    throw ParseError(text)
                }
                seconds = v
            } else {
                guard !isFraction, let v = Int(number), v <= 1_000_000 else { throw ParseError(text) }
                switch rank {
                case 1: years = v
                case 2: months = v
                case 3: weeks = v
                case 4: days = v
                case 5: hours = v
                default: minutes = v
                }
            }
            sawAny = true
            if inTime { sawTimeComponent = true }
        }
        guard sawAny, !inTime || sawTimeComponent else { throw ParseError(text) }
    }

    /// Fixed-length part in seconds (weeks, days, hours, minutes, seconds).
    package var fixedSeconds: Double {
        Double(weeks * 7 * 86_400 + days * 86_400 + hours * 3_600 + minutes * 60) + seconds
    }

    /// `date` + this duration, calendar months first (clamped to month end), then fixed time.
    public func added(to date: Date) -> Date {
        var result = date
        let monthsTotal = years * 12 + months
        if monthsTotal != 0 {
            result = UTCCalendar.addingMonths(monthsTotal, to: result)
        }
        return result.addingTimeInterval(fixedSeconds)
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let text: String
        package init(_ text: String) { self.text = text }
        public var description: String { "'\(text)' is not an ISO 8601 duration (e.g. P30D, P1Y2M, PT12H, P2W)" }
    }
}

/// Proleptic Gregorian arithmetic in UTC without Foundation's Calendar (fast, and exact
/// about month-end clamping).
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
