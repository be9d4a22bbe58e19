import Foundation
import Synchronization

/// Named crash points, in the manner of FoundationDB's BUGGIFY and fail-rs: with
/// `EOSHARE_CRASH_AT=NAME` (or `NAME:N`, the N-th time it is reached) the process kills
/// itself with SIGKILL at that step, as a power cut or the OOM killer would. The crash
/// tests name every step of publish, release, retract, catalog writing and the ledger.
/// Unset, each point costs one comparison.
public enum CrashPoint {
    /// Every point the product has, for the tests to walk through.
    public static let all = [
        "publish.after-intent", "publish.after-assets", "publish.after-item", "publish.after-trees",
        "publish.after-confirm",
        "retract.after-intent", "retract.after-catalog", "retract.after-move", "retract.after-files",
        "retract.after-confirm",
        "catalogs.after-day", "catalogs.after-month", "catalogs.after-collection", "catalogs.after-root",
        "ledger.before-append", "ledger.torn-append", "ledger.after-append",
        "reconcile.after-retract", "run.after-identity",
    ]

    private static let armed: (name: String, count: Int)? = {
        guard let value = ProcessInfo.processInfo.environment["EOSHARE_CRASH_AT"], !value.isEmpty else { return nil }
        let parts = value.split(separator: ":", maxSplits: 1)
        return (String(parts[0]), parts.count > 1 ? Int(parts[1]) ?? 1 : 1)
    }()

    private static let reached = Mutex(0)

    package static func isArmed(_ name: String) -> Bool { armed?.name == name }

    /// Kills the process here when this point is armed (and reached its count).
    @inline(__always)
    package static func hit(_ name: String) {
        guard let armed, armed.name == name else { return }
        let n = reached.withLock { n -> Int in
            n += 1
            return n
        }
        if n >= armed.count { kill(getpid(), SIGKILL) }
    }
}
