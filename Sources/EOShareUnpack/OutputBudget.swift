import EOShareCore
import EOShareFetch

/// The limits one object is unpacked under (from the pipeline's `limits`).
public struct UnpackLimits: Sendable {
    /// `max_object_bytes`: decompressed bytes one object may produce.
    public var maxObjectBytes: Int64
    /// `max_expansion_ratio`: decompressed bytes per byte of the object as fetched.
    public var maxExpansionRatio: Double
    /// Entries (files and folders) one archive may hold. Not a pipeline setting: a record
    /// is a product bundle, and no product holds this many files; the cap keeps a hostile
    /// archive from creating inodes without end with empty entries.
    public var maxEntries: Int

    public init(maxObjectBytes: Int64, maxExpansionRatio: Double, maxEntries: Int = 100_000) {
        self.maxObjectBytes = maxObjectBytes
        self.maxExpansionRatio = maxExpansionRatio
        self.maxEntries = maxEntries
    }

}

/// How many bytes decompression may still produce for one object: the smaller of
/// `max_object_bytes` and `max_expansion_ratio` × the object's size. Charged where bytes
/// expand (zlib's output), before they go anywhere, so a gzip or zip bomb stops after at
/// most the limit plus one byte. Stored data (plain tar, stored zip entries) needs no charge:
/// each of its bytes is a byte of the object, used once, and the object is within the limits.
package final class OutputBudget {
    package let limits: UnpackLimits
    /// The binding limit in bytes.
    package let limit: Int64
    /// True when the ratio, not `max_object_bytes`, sets `limit` (it names the refusal).
    package let ratioBinds: Bool
    private(set) var used: Int64 = 0

    package init(limits: UnpackLimits, inputSize: Int64) {
        self.limits = limits
        let byRatio = Double(max(inputSize, 1)) * limits.maxExpansionRatio
        let ratioLimit = byRatio >= 9.0e18 ? Int64.max : Int64(max(byRatio, 0))
        ratioBinds = ratioLimit < limits.maxObjectBytes
        limit = min(ratioLimit, limits.maxObjectBytes)
    }

    package var remaining: Int64 { limit - used }

    /// Charges `count` produced bytes; refuses once the total passes the limit.
    package func charge(_ count: Int, inputOffset: Int64) throws(UnpackError.Cause) {
        used += Int64(count)
        guard used > limit else { return }
        if ratioBinds { throw .expansionRatio(limit: limits.maxExpansionRatio, inputOffset: inputOffset) }
        throw .outputLimit(limit: limits.maxObjectBytes, inputOffset: inputOffset)
    }
}
