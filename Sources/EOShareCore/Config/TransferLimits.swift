import Foundation

/// Exponential back-off with full jitter: attempt n waits a random time in
/// [0, min(cap, base·2ⁿ)], or what the server's `Retry-After` asks if that is longer
/// (up to `retryAfterCap`). Tests shrink `base` so faults cost milliseconds.
package struct Backoff: Sendable, Hashable {
    package var base: Double = 0.5
    package var cap: Double = 30
    package var retryAfterCap: Double = 300

    package init(base: Double = 0.5, cap: Double = 30, retryAfterCap: Double = 300) {
        self.base = base
        self.cap = cap
        self.retryAfterCap = retryAfterCap
    }

    package func delay(attempt: Int, retryAfter: Double?) -> Double {
        let ceiling = min(cap, base * pow(2, Double(attempt)))
        let jitter = Double.random(in: 0...max(0, ceiling))
        return max(jitter, min(retryAfter ?? 0, retryAfterCap))
    }
}

/// Time limits of one transfer. Stalls (less than `stallBytesPerSecond` for `stallSeconds`)
/// end a transfer as a timeout, which is retried like a reset.
package struct TransferTimeouts: Sendable, Hashable {
    package var connect: Int = 30
    /// The whole transfer, headers and body.
    package var total: Int = 6 * 3600
    package var stallSeconds: Int = 60
    package var stallBytesPerSecond: Int = 1

    package init(connect: Int = 30, total: Int = 6 * 3600, stallSeconds: Int = 60, stallBytesPerSecond: Int = 1) {
        self.connect = connect
        self.total = total
        self.stallSeconds = stallSeconds
        self.stallBytesPerSecond = stallBytesPerSecond
    }
}
