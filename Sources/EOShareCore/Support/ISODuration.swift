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
