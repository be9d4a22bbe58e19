import Foundation

/// A loaded and validated pipeline file (CONTRACT §3). Paths are already resolved against
/// the file's folder.
public struct Pipeline: Sendable {
    public var file: URL
    public var version: Int
    /// The SQLite state; the lock and ledger live beside it (and the quarantine and work
    /// folders, unless `spool` is given).
    public var statePath: URL
    /// A PostgreSQL state (CONTRACT §7), when `state:` names one; nil: SQLite at `statePath`.
    public var postgres: PostgresStateURL? = nil
    /// `spool:`, where work files and quarantine evidence go (required with PostgreSQL).
    public var spool: URL? = nil
    public var sharedRoot: URL
    public var members: [Member]
    public var collections: [CollectionConfig]
    public var sources: [SourceConfig]
    public var limits: Limits
    public var policy: EmbargoPolicy
    /// The STAC API's settings (CONTRACT §8); nil when the file has no `serve:` block.
    public var serve: ServeSettings? = nil
    /// Where credentials named by `auth` are read; nil means the process environment.
    /// Tests give their own, so secrets never pass through `setenv`.
    package var environment: [String: String]?

    public var stateFolder: URL { statePath.deletingLastPathComponent() }
    public var ledgerPath: URL { stateFolder.appendingPathComponent("ledger.jsonl") }
    public var lockPath: URL { stateFolder.appendingPathComponent(statePath.lastPathComponent + ".lock") }
    /// The spool: `spool:`, by default the state's folder.
    public var spoolFolder: URL { spool ?? stateFolder }
    public var quarantineFolder: URL { spoolFolder.appendingPathComponent("quarantine") }
    public var workFolder: URL { spoolFolder.appendingPathComponent("work") }

    public func member(_ id: String) -> Member? { members.first { $0.id == id } }
    public func collection(_ id: String) -> CollectionConfig? { collections.first { $0.id == id } }
    public func source(_ id: String) -> SourceConfig? { sources.first { $0.id == id } }
}

/// `serve: {tokens: FILE, certificate: PEM, key: PEM}`: where the members' hashed bearer
/// tokens are kept, and the TLS certificate chain and private key when the API speaks TLS.
public struct ServeSettings: Sendable, Hashable {
    public var tokens: URL?
    public var certificate: URL?
    public var key: URL?

    public init(tokens: URL? = nil, certificate: URL? = nil, key: URL? = nil) {
        self.tokens = tokens
        self.certificate = certificate
        self.key = key
    }
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

/// A source's `format:`: the name of a registered reader (`FormatRegistry`) and what the
/// reader declares for the stages before normalize, which know no format by name.
public struct SourceFormat: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    /// The media type the format's objects have whatever their names (`FormatReader`).
    public var objectMediaType: String?
    /// The source settings block the format needs (`packets`), or nil.
    public var settingsKey: String?

    public init(name: String, objectMediaType: String? = nil, settingsKey: String? = nil) {
        self.name = name
        self.objectMediaType = objectMediaType
        self.settingsKey = settingsKey
    }

    /// Whether the format's objects are JSON even where their names do not say so.
    public var servesJSON: Bool { objectMediaType?.hasSuffix("json") == true }

    public var description: String { name }
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
    /// Other hosts an index may point at that get the source's credentials too (CONTRACT §3
    /// `credential_hosts`); by default only the url's own scheme, host and port do.
    public var credentialHosts: [CredentialHost] = []
    public var caFile: URL?
    public var packets: PacketTimeConfig?

    /// A URL ending in "/" names a listing; otherwise a single object (or an index file).
    public var isListing: Bool { !index && url.absoluteString.hasSuffix("/") }

    /// Whether a name from a listing is wanted (no `match` means everything).
    public func wants(_ name: String) -> Bool {
        match.isEmpty || match.contains { $0.matches(name) }
    }

    /// Whether this source's credentials may be sent to `url`: the url's own origin (scheme,
    /// host and port), or a `credential_hosts` entry on the same scheme. An index may list
    /// objects anywhere; a token for one service must not reach every host it names.
    public func sendsCredentials(to url: URL) -> Bool {
        guard let target = Origin(url), let own = Origin(self.url) else { return false }
        if target == own { return true }
        return target.scheme == own.scheme && credentialHosts.contains { $0.admits(target) }
    }

    public init(
        id: String,
        owner: String,
        collection: String,
        format: SourceFormat,
        url: URL,
        match: [Glob],
        index: Bool,
        checksum: ChecksumMode,
        auth: SourceAuth? = nil,
        credentialHosts: [CredentialHost] = [],
        caFile: URL? = nil,
        packets: PacketTimeConfig? = nil
    ) {

        self.id = id

        self.owner = owner

        self.collection = collection

        self.format = format

        self.url = url

        self.match = match

        self.index = index

        self.checksum = checksum

        self.auth = auth

        self.credentialHosts = credentialHosts

        self.caFile = caFile

        self.packets = packets

    }

}

/// Scheme, host and port: what credentials belong to (RFC 6454's origin). The port is the
/// scheme's default when the URL names none, so `http://h/` and `http://h:80/` are one origin.
public struct Origin: Sendable, Hashable {
    public var scheme: String
    public var host: String
    public var port: Int

    public init?(_ url: URL) {
        guard let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased(), !host.isEmpty,
            let port = url.port ?? Origin.defaultPort(scheme)
        else { return nil }
        (self.scheme, self.host, self.port) = (scheme, host, port)
    }

    package static func defaultPort(_ scheme: String) -> Int? {
        ["http": 80, "https": 443, "ftp": 21, "ftps": 990, "sftp": 22][scheme]
    }
}

/// A `credential_hosts` entry: a host name, with a port or else the scheme's default port.
public struct CredentialHost: Sendable, Hashable {
    /// Lowercase; an IPv6 address without its brackets.
    public var host: String
    public var port: Int?

    public init(host: String, port: Int? = nil) {
        self.host = host.lowercased()
        self.port = port
    }

    package func admits(_ origin: Origin) -> Bool {
        host == origin.host && (port ?? Origin.defaultPort(origin.scheme)) == origin.port
    }
}

public struct Limits: Sendable, Hashable {
    public var fetchWorkers: Int = 8
    public var maxObjectBytes: Int64 = 10 << 30
    public var maxExpansionRatio: Double = 200
    public var retries: Int = 5
    /// Retry pacing and transfer time limits: fixed defaults, shortened by tests.
    package var backoff = Backoff()
    package var timeouts = TransferTimeouts()

    public init(
        fetchWorkers: Int = 8,
        maxObjectBytes: Int64 = 10 << 30,
        maxExpansionRatio: Double = 200,
        retries: Int = 5
    ) {

        self.fetchWorkers = fetchWorkers

        self.maxObjectBytes = maxObjectBytes

        self.maxExpansionRatio = maxExpansionRatio

        self.retries = retries

    }

}
