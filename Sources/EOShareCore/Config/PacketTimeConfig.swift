import Foundation

/// CCSDS packet time settings for `ccsds-packets` sources.
public struct PacketTimeConfig: Sendable, Hashable {
    public enum TimeCode: String, Sendable { case cds, cuc }
    public var timeCode: TimeCode
    public var epoch: Date
    public var apids: [Int]?
    /// Bytes between the primary header and the time code.
    public var offset: Int
    /// CUC: coarse and fine byte counts when there is no P-field.
    public var coarseBytes: Int?
    public var fineBytes: Int?
    /// CDS: whether the time code carries the 2-byte microsecond field.
    public var microseconds: Bool
    /// Whether a P-field (CCSDS 301.0 §3.2.2, §3.3.2) precedes the time code and describes it:
    /// CUC coarse/fine octets, CDS day-segment length and sub-millisecond field. Without it,
    /// CUC needs `coarseBytes` (and `fineBytes`) and CDS takes 16-bit days.
    public var pField: Bool

    public init(
        timeCode: TimeCode,
        epoch: Date,
        apids: [Int]? = nil,
        offset: Int = 0,
        coarseBytes: Int? = nil,
        fineBytes: Int? = nil,
        microseconds: Bool = false,
        pField: Bool = false
    ) {
        self.timeCode = timeCode
        self.epoch = epoch
        self.apids = apids
        self.offset = offset
        self.coarseBytes = coarseBytes
        self.fineBytes = fineBytes
        self.microseconds = microseconds
        self.pField = pField
    }
}
