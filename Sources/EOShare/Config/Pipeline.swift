import Foundation

/// A loaded and validated pipeline file (CONTRACT §3). Paths are already resolved against
/// the file's folder.
public struct Pipeline: Sendable {
    public var file: URL
    public var version: Int
    /// The SQLite state; the lock, ledger, quarantine and work folders live beside it.
    public var statePath: URL
    public var sharedRoot: URL
    public var members: [Member]
    public var collections: [CollectionConfig]
    public var sources: [SourceConfig]
    public var limits: Limits
    public var policy: EmbargoPolicy
    /// Where credentials named by `auth` are read; nil means the process environment.
    /// Tests give their own, so secrets never pass through `setenv`.
    var environment: [String: String]?

    public var stateFolder: URL { statePath.deletingLastPathComponent() }
    public var ledgerPath: URL { stateFolder.appendingPathComponent("ledger.jsonl") }
    public var lockPath: URL { stateFolder.appendingPathComponent(statePath.lastPathComponent + ".lock") }
    public var quarantineFolder: URL { stateFolder.appendingPathComponent("quarantine") }
    public var workFolder: URL { stateFolder.appendingPathComponent("work") }

    public func member(_ id: String) -> Member? { members.first { $0.id == id } }
    public func collection(_ id: String) -> CollectionConfig? { collections.first { $0.id == id } }
    public func source(_ id: String) -> SourceConfig? { sources.first { $0.id == id } }
}

public struct Member: Sendable, Hashable {
    public var id: String
    public var name: String
}

public struct CollectionConfig: Sendable, Hashable {
    public var id: String
    public var title: String
    public var license: String
    public var description: String?
}

public enum SourceFormat: String, Sendable, CaseIterable {
    case landsatMTL = "landsat-mtl"
    case sentinel2SAFE = "sentinel2-safe"
    case cmrUMMG = "cmr-umm-g"
    case ccsdsPackets = "ccsds-packets"
}

public enum ChecksumMode: String, Sendable {
    case none
    case sidecar
}

/// How a source authenticates. Only the names of environment variables are stored:
/// credentials are read at transfer time and never kept.
public enum SourceAuth: Sendable, Hashable {
    case bearerTokenEnv(String)
    case netrc
    case basicEnv(user: String, password: String)
}

public struct SourceConfig: Sendable {
    public var id: String
    public var owner: String
    public var collection: String
    public var format: SourceFormat
    /// The URL as written; a plain path has become a `file://` URL.
    public var url: URL
    public var match: [Glob]
    public var index: Bool
    public var checksum: ChecksumMode
    public var auth: SourceAuth?
    public var caFile: URL?
    public var packets: PacketTimeConfig?

    /// A URL ending in "/" names a listing; otherwise a single object (or an index file).
    public var isListing: Bool { !index && url.absoluteString.hasSuffix("/") }

    /// Whether a name from a listing is wanted (no `match` means everything).
    public func wants(_ name: String) -> Bool {
        match.isEmpty || match.contains { $0.matches(name) }
    }
}

public struct Limits: Sendable, Hashable {
    public var fetchWorkers: Int = 8
    public var maxObjectBytes: Int64 = 10 << 30
    public var maxExpansionRatio: Double = 200
    public var retries: Int = 5
    /// Retry pacing and transfer time limits: fixed defaults, shortened by tests.
    var backoff = Backoff()
    var timeouts = TransferTimeouts()
}
