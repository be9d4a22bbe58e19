import Foundation

/// Resident memory from /proc (Linux): current and peak (VmHWM, resettable via clear_refs).
public enum Memory {
    public static func field(_ name: String) -> Int64 {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let kb = line.split(separator: " ").dropFirst().first.flatMap { Int64($0) } ?? 0
            return kb * 1024
        }
        return 0
    }
    public static func currentRSS() -> Int64 { field("VmRSS") }
    public static func peakRSS() -> Int64 { field("VmHWM") }
    /// Writing 5 to clear_refs resets the peak to the current size.
    public static func resetPeak() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }
}
