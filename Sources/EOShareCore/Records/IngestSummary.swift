import Foundation

/// The run's counts (CONTRACT §2 summary line).
public struct IngestSummary: Sendable {
    public var discovered = 0
    public var fetched = 0
    public var unchanged = 0
    public var bytes: Int64 = 0
    public var records = 0
    public var published = 0
    public var released = 0
    public var retracted = 0
    public var quarantined = 0
    /// Publications and retractions that could not be finished (each logged; the run exits 74).
    public var failed = 0
    /// Changes refused because another worker took their object meanwhile (CONTRACT §7): none
    /// was applied; the worker that holds the object now does it.
    public var fenced = 0
    public var seconds = 0.0

    public var line: String {
        "discovered=\(discovered) fetched=\(fetched) unchanged=\(unchanged) bytes=\(bytes) records=\(records) "
            + "published=\(published) released=\(released) retracted=\(retracted) quarantined=\(quarantined) "
            + "failed=\(failed) " + (fenced > 0 ? "fenced=\(fenced) " : "")
            + "seconds=\(String(format: "%.2f", seconds))"
    }

    public var json: JSONValue {
        .object([
            "discovered": .int(Int64(discovered)), "fetched": .int(Int64(fetched)), "unchanged": .int(Int64(unchanged)),
            "bytes": .int(bytes), "records": .int(Int64(records)), "published": .int(Int64(published)),
            "released": .int(Int64(released)), "retracted": .int(Int64(retracted)),
            "quarantined": .int(Int64(quarantined)), "failed": .int(Int64(failed)), "fenced": .int(Int64(fenced)),
            "seconds": .number((seconds * 1000).rounded() / 1000),
        ])
    }

    public init(bytes: Int64 = 0) {
        self.bytes = bytes
    }
}
