import Foundation
import Yams

extension Pipeline {
    /// Loads and fully validates a pipeline file (CONTRACT §3 and §4). Every problem is a
    /// `ConfigError` naming file:line:column and the key. `formats` are the registered
    /// readers' (`FormatRegistry.formats`; `Pipeline.load(from:)` of EOShareNormalize passes
    /// them): this target knows no format by name.
    public static func load(from file: URL, formats: [SourceFormat]) throws(ConfigError) -> Pipeline {
        let name = file.path
        let text: String
        do {
            let data = try Data(contentsOf: file)
            guard let t = String(validating: data, as: UTF8.self) else {
                throw ConfigError(file: name, line: 1, column: 1, key: "(file)", message: "not valid UTF-8")
            }
            text = t
        } catch let e as ConfigError {
            throw e
        } catch {
            throw ConfigError(
                file: name,
                line: 0,
                column: 0,
                key: "(file)",
                message: "cannot read the pipeline file: \(Self.unreadable(file))"
            )
        }
        return try parse(text, file: file, formats: formats)
    }

    /// Why a file cannot be read, in the words of the system (not Foundation's error dump).
    package static func unreadable(_ file: URL) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory) else {
            return "no such file"
        }
        if isDirectory.boolValue { return "is a directory" }
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return String(cString: strerror(errno)).lowercased() }
        close(fd)
        return "read failed"
    }

    /// Parses pipeline YAML; `file` names it in errors and anchors relative paths.
    public static func parse(_ text: String, file: URL, formats: [SourceFormat]) throws(ConfigError) -> Pipeline {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file.path, line: 1, column: 1, key: "(top)", message: "the file is empty")
            }
            root = node
        } catch let e as ConfigError {
            throw e
        } catch let e as YamlError {
            throw yamlSyntaxError(e, file: file.path)
        } catch {
            throw ConfigError(file: file.path, line: 1, column: 1, key: "(top)", message: "\(error)")
        }
        var loader = PipelineLoader(
            file: file,
            root: YAMLNodeReader(file: file.path, node: root, path: ""),
            formats: formats
        )
        return try loader.load()
    }

    private static func yamlSyntaxError(_ e: YamlError, file: String) -> ConfigError {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, column: mark.column, key: "(syntax)", message: problem)
        case .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, column: mark.column, key: "(syntax)", message: problem)
        default:
            return ConfigError(file: file, line: 1, column: 1, key: "(syntax)", message: "\(e)")
        }
    }
}

/// The validating walk over the YAML tree.
private struct PipelineLoader {
    package let file: URL
    package let root: YAMLNodeReader
    /// The `format:` values there are readers for, with what each declares.
    package let formats: [SourceFormat]
    package var folder: URL { file.deletingLastPathComponent() }

    /// Whether `id` is one byte `first` accepts, then bytes `rest` accepts, `count` in all.
    /// Checked byte by byte to the real end of the string: a regular expression's `$` also
    /// matches before a final newline, and `NASA\n` would have passed as a member id.
    package static func isID(
        _ id: String,
        count: ClosedRange<Int>,
        first: (UInt8) -> Bool,
        rest: (UInt8) -> Bool
    ) -> Bool {
        let bytes = id.utf8
        guard count.contains(bytes.count), let head = bytes.first, first(head) else { return false }
        return bytes.dropFirst().allSatisfy(rest)
    }

    package static func isUpper(_ b: UInt8) -> Bool { b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") }
    package static func isLetter(_ b: UInt8) -> Bool {
        isUpper(b) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z"))
    }
    package static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// `[A-Z][A-Z0-9_-]{1,31}`.
    package static func isMemberID(_ id: String) -> Bool {
        isID(id, count: 2...32, first: isUpper) {
            isUpper($0) || isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    /// `[A-Za-z0-9][A-Za-z0-9._-]{0,127}` without `..`: safe as a folder name.
    package static func isPathSegmentID(_ id: String) -> Bool {
        isID(
            id,
            count: 1...128,
            first: { isLetter($0) || isDigit($0) },
            rest: {
                isLetter($0) || isDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_")
                    || $0 == UInt8(ascii: "-")
            }
        ) && !id.contains("..")
    }

    package mutating func load() throws(ConfigError) -> Pipeline {
        let top = try root.mapping(
            allowed: [
                "version", "state", "spool", "shared", "members", "collections", "sources", "limits", "embargo",
                "serve",
            ],
            required: ["version", "members", "collections", "sources"]
        )
        let versionNode = top.require("version")
        guard try versionNode.int(in: 0...Int.max) == 1 else { throw versionNode.error("only version 1 is known") }

        let defaultState = "state/" + file.deletingPathExtension().lastPathComponent + ".sqlite"
        var statePath = resolve(defaultState)
        var postgres: PostgresStateURL?
        if let stateNode = top["state"] {
            let value = try stateNode.nonEmptyString()
            if PostgresStateURL.isPostgres(value) {
                do { postgres = try PostgresStateURL.parse(value) } catch { throw stateNode.error(error.description) }
            } else {
                statePath = resolve(value)
            }
        }
        let spool = try top["spool"].map { r throws(ConfigError) in try path(r) }
        if postgres != nil {
            // CONTRACT §3: each host keeps its work files and evidence in a local folder of its own.
            guard let spool else {
                throw top.require("state").error(
                    "a postgresql state needs 'spool:' (a local folder per host for work files and quarantine evidence)"
                )
            }
            // Nothing opens this path: the SQLite-side files (lock, audit cache) land in the spool.
            statePath = spool.appendingPathComponent("postgresql-state")
        }
        let sharedRoot = try top["shared"].map { r throws(ConfigError) in try path(r) } ?? resolve("shared/")

        let members = try loadMembers(top.require("members"))
        let memberIds = Set(members.map(\.id))
        let collections = try loadCollections(top.require("collections"))
        let collectionIds = Set(collections.map(\.id))
        let sources = try loadSources(top.require("sources"), members: memberIds, collections: collectionIds)
        let limits = try top["limits"].map { r throws(ConfigError) in try loadLimits(r) } ?? Limits()
        let policy =
            try top["embargo"].map { r throws(ConfigError) in
                try loadPolicy(r, members: memberIds, collections: collectionIds)
            } ?? EmbargoPolicy()
        let serve = try top["serve"].map { r throws(ConfigError) in try loadServe(r) }
        return Pipeline(
            file: file,
            version: 1,
            statePath: statePath,
            postgres: postgres,
            spool: spool,
            sharedRoot: sharedRoot,
            members: members,
            collections: collections,
            sources: sources,
            limits: limits,
            policy: policy,
            serve: serve
        )
    }

    /// The STAC API's block: paths only (the token file is read, and its lines checked, by
    /// `serve`, which re-reads it while running).
    func loadServe(_ r: YAMLNodeReader) throws(ConfigError) -> ServeSettings {
        let m = try r.mapping(allowed: ["tokens", "certificate", "key"])
        let settings = ServeSettings(
            tokens: try m["tokens"].map { r throws(ConfigError) in try path(r) },
            certificate: try m["certificate"].map { r throws(ConfigError) in try path(r) },
            key: try m["key"].map { r throws(ConfigError) in try path(r) }
        )
        if (settings.certificate == nil) != (settings.key == nil) {
            throw r.error("TLS needs both certificate and key")
        }
        return settings
    }

    package func resolve(_ p: String) -> URL {
        let expanded = (p as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return URL(fileURLWithPath: expanded).standardizedFileURL }
        return URL(fileURLWithPath: expanded, relativeTo: folder).standardizedFileURL
    }

    package func path(_ r: YAMLNodeReader) throws(ConfigError) -> URL { resolve(try r.nonEmptyString()) }

    // MARK: Members and collections

    package func loadMembers(_ r: YAMLNodeReader) throws(ConfigError) -> [Member] {
        var seen = Set<String>()
        var members: [Member] = []
        let items = try r.list()
        guard !items.isEmpty else { throw r.error("at least one member is needed") }
        for item in items {
            let m = try item.mapping(allowed: ["id", "name"], required: ["id"])
            let idNode = m.require("id")
            let id = try idNode.string()
            guard Self.isMemberID(id) else {
                throw idNode.error("'\(id)' is not a member id (an uppercase letter, then 1 to 31 of A-Z 0-9 _ -)")
            }
            guard id.lowercased() != "public" else { throw idNode.error("'public' is reserved") }
            guard seen.insert(id).inserted else { throw idNode.error("duplicate member id '\(id)'") }
            let name = try m["name"]?.nonEmptyString() ?? id
            members.append(Member(id: id, name: name))
        }
        return members
    }

    /// Ids that become folder names: no separators, no dot-dot, no hidden names.
    package func checkPathSegment(_ id: String, _ node: YAMLNodeReader, what: String) throws(ConfigError) {
        guard Self.isPathSegmentID(id) else {
            throw node.error("'\(id)' is not a \(what) id (a letter or digit, then letters, digits, '.', '_' or '-')")
        }
    }

    package func loadCollections(_ r: YAMLNodeReader) throws(ConfigError) -> [CollectionConfig] {
        var seen = Set<String>()
        var out: [CollectionConfig] = []
        for item in try r.list() {
            let m = try item.mapping(allowed: ["id", "title", "license", "description"], required: ["id"])
            let idNode = m.require("id")
            let id = try idNode.string()
            try checkPathSegment(id, idNode, what: "collection")
            guard seen.insert(id).inserted else { throw idNode.error("duplicate collection id '\(id)'") }
            out.append(
                CollectionConfig(
                    id: id,
                    title: try m["title"]?.nonEmptyString() ?? id,
                    license: try m["license"]?.nonEmptyString() ?? "proprietary",
                    description: try m["description"]?.nonEmptyString()
                )
            )
        }
        return out
    }

    // MARK: Sources

    package func loadSources(
        _ r: YAMLNodeReader,
        members: Set<String>,
        collections: Set<String>
    ) throws(ConfigError)
        -> [SourceConfig]
    {
        var seen = Set<String>()
        var out: [SourceConfig] = []
        for item in try r.list() {
            let m = try item.mapping(
                allowed: [
                    "id", "owner", "collection", "format", "url", "match", "index", "checksum", "auth",
                    "credential_hosts", "ca_file", "packets",
                ],
                required: ["id", "owner", "collection", "format", "url"]
            )
            let idNode = m.require("id")
            let id = try idNode.string()
            try checkPathSegment(id, idNode, what: "source")
            guard seen.insert(id).inserted else { throw idNode.error("duplicate source id '\(id)'") }
            let ownerNode = m.require("owner")
            let owner = try ownerNode.string()
            guard members.contains(owner) else { throw ownerNode.error("'\(owner)' is not a declared member") }
            let collectionNode = m.require("collection")
            let collection = try collectionNode.string()
            guard collections.contains(collection) else {
                throw collectionNode.error("'\(collection)' is not a declared collection")
            }
            let formatNode = m.require("format")
            let formatText = try formatNode.string()
            guard let format = formats.first(where: { $0.name == formatText }) else {
                throw formatNode.error(
                    "unknown format '\(formatText)' (one of \(formats.map(\.name).joined(separator: ", ")))"
                )
            }
            let url = try sourceURL(m.require("url"))
            let match =
                try m["match"].map { r throws(ConfigError) in
                    try r.stringList().map { g throws(ConfigError) in try g.glob() }
                } ?? []
            let index = try m["index"]?.bool() ?? false
            var checksum = ChecksumMode.none
            if let c = m["checksum"] {
                let s = try c.string()
                guard let mode = ChecksumMode(rawValue: s) else { throw c.error("expected none or sidecar") }
                checksum = mode
            }
            let auth = try m["auth"].map { r throws(ConfigError) in try loadAuth(r) }
            var credentialHosts: [CredentialHost] = []
            if let c = m["credential_hosts"] {
                guard auth != nil || url.user != nil else {
                    throw c.error("credential_hosts has no credentials to send: give auth or a user in url")
                }
                credentialHosts = try c.stringList().map { r throws(ConfigError) in try credentialHost(r) }
            }
            let caFile = try m["ca_file"].map { r throws(ConfigError) in try path(r) }
            var packets: PacketTimeConfig?
            if let p = m["packets"] {
                guard format.settingsKey == "packets" else {
                    let users = formats.filter { $0.settingsKey == "packets" }.map(\.name)
                    throw p.error("packets settings apply only to \(users.joined(separator: ", ")) sources")
                }
                packets = try loadPackets(p)
            } else if format.settingsKey == "packets" {
                throw item.error(
                    "\(format.name) sources need 'packets' (time_code and epoch)",
                    key: "\(item.path).packets"
                )
            }
            out.append(
                SourceConfig(
                    id: id,
                    owner: owner,
                    collection: collection,
                    format: format,
                    url: url,
                    match: match,
                    index: index,
                    checksum: checksum,
                    auth: auth,
                    credentialHosts: credentialHosts,
                    caFile: caFile,
                    packets: packets
                )
            )
        }
        return out
    }

    package func sourceURL(_ r: YAMLNodeReader) throws(ConfigError) -> URL {
        let text = try r.nonEmptyString()
        if let scheme = text.range(of: "^[A-Za-z][A-Za-z0-9+.-]*://", options: .regularExpression) {
            let s = text[scheme].dropLast(3).lowercased()
            guard ["http", "https", "ftp", "ftps", "sftp", "file"].contains(s) else {
                throw r.error("unsupported URL scheme '\(s)' (http, https, ftp, ftps, sftp, file)")
            }
            guard let url = URL(string: text), url.host != nil || s == "file" else {
                throw r.error("'\(text)' is not a valid URL")
            }
            return url
        }
        // A plain path: a local folder (ending in "/") or file, fetched through file://.
        let resolved = resolve(text)
        let trailing = text.hasSuffix("/") ? "/" : ""
        guard
            let url = URL(
                string: "file://" + resolved.path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed)!
                    + trailing
            )
        else {
            throw r.error("'\(text)' is not a valid path")
        }
        return url
    }

    package func loadAuth(_ r: YAMLNodeReader) throws(ConfigError) -> SourceAuth {
        let m = try r.mapping(allowed: ["bearer_token_env", "netrc", "basic_env"])
        guard m.entries.count == 1 else { throw r.error("give exactly one of bearer_token_env, netrc, basic_env") }
        if let b = m["bearer_token_env"] { return .bearerTokenEnv(try envName(b)) }
        if let n = m["netrc"] {
            guard try n.bool() else { throw n.error("netrc: false means no auth; remove the auth key instead") }
            return .netrc
        }
        let b = m.require("basic_env")
        let names = try b.list()
        guard names.count == 2 else { throw b.error("expected [USER_VARIABLE, PASSWORD_VARIABLE]") }
        return .basicEnv(user: try envName(names[0]), password: try envName(names[1]))
    }

    /// `host`, `host:port` or `[v6-address]:port`: a host alone means the scheme's default port.
    package func credentialHost(_ r: YAMLNodeReader) throws(ConfigError) -> CredentialHost {
        let text = try r.nonEmptyString()
        let bad = "'\(text)' is not a host name or host:port (no scheme, user or path)"
        var host = Substring(text)
        var portText: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw r.error(bad) }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw r.error(bad) }
                portText = rest.dropFirst()
            }
        } else if let colon = host.firstIndex(of: ":") {
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".-_:"))
        guard !host.isEmpty, host.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
            throw r.error(bad)
        }
        var port: Int?
        if let portText {
            guard portText.allSatisfy(\.isASCII), let p = Int(portText), (1...65_535).contains(p) else {
                throw r.error("'\(text)': the port must be a number from 1 to 65535")
            }
            port = p
        }
        return CredentialHost(host: String(host), port: port)
    }

    package func envName(_ r: YAMLNodeReader) throws(ConfigError) -> String {
        let s = try r.string()
        let isNameStart = { (b: UInt8) in Self.isLetter(b) || b == UInt8(ascii: "_") }
        guard Self.isID(s, count: 1...Int.max, first: isNameStart, rest: { isNameStart($0) || Self.isDigit($0) }) else {
            throw r.error("'\(s)' is not an environment variable name")
        }
        return s
    }

    package func loadPackets(_ r: YAMLNodeReader) throws(ConfigError) -> PacketTimeConfig {
        let m = try r.mapping(
            allowed: [
                "time_code", "epoch", "apids", "offset", "coarse_bytes", "fine_bytes", "microseconds", "p_field",
            ],
            required: ["time_code", "epoch"]
        )
        let tcNode = m.require("time_code")
        guard let tc = PacketTimeConfig.TimeCode(rawValue: try tcNode.string()) else {
            throw tcNode.error("expected cds or cuc")
        }
        let apids = try m["apids"].map { r throws(ConfigError) in
            try r.list().map { a throws(ConfigError) in try a.int(in: 0...2047) }
        }
        let settings = PacketTimeConfig(
            timeCode: tc,
            epoch: try m.require("epoch").instant(),
            apids: apids,
            offset: try m["offset"]?.int(in: 0...65_536) ?? 0,
            coarseBytes: try m["coarse_bytes"]?.int(in: 1...4),
            fineBytes: try m["fine_bytes"]?.int(in: 0...3),
            microseconds: try m["microseconds"]?.bool() ?? false,
            pField: try m["p_field"]?.bool() ?? false
        )
        // CUC without a P-field must say how many coarse octets the time code has.
        if tc == .cuc, !settings.pField, settings.coarseBytes == nil {
            throw tcNode.error("cuc needs coarse_bytes (and fine_bytes) or p_field: true")
        }
        return settings
    }

    // MARK: Limits

    package func loadLimits(_ r: YAMLNodeReader) throws(ConfigError) -> Limits {
        let m = try r.mapping(allowed: ["fetch_workers", "max_object_bytes", "max_expansion_ratio", "retries"])
        var limits = Limits()
        if let n = m["fetch_workers"] { limits.fetchWorkers = try n.int(in: 1...256) }
        if let n = m["max_object_bytes"] { limits.maxObjectBytes = try n.byteSize() }
        if let n = m["max_expansion_ratio"] {
            let v = try n.double()
            guard v >= 1 else { throw n.error("must be at least 1") }
            limits.maxExpansionRatio = v
        }
        if let n = m["retries"] { limits.retries = try n.int(in: 0...100) }
        return limits
    }

    // MARK: Embargo policy

    package func loadPolicy(
        _ r: YAMLNodeReader,
        members: Set<String>,
        collections: Set<String>
    ) throws(ConfigError)
        -> EmbargoPolicy
    {
        let m = try r.mapping(allowed: ["rules", "releases", "holds"])
        var policy = EmbargoPolicy()
        if let rules = m["rules"] {
            for (i, item) in try rules.list().enumerated() {
                policy.rules.append(try loadRule(item, index: i, members: members, collections: collections))
            }
        }
        if let releases = m["releases"] {
            var seen = Set<String>()
            for item in try releases.list() {
                let release = try loadRelease(item, members: members)
                guard seen.insert(release.id).inserted else {
                    throw item.error("duplicate release id '\(release.id)'", key: "\(item.path).id")
                }
                policy.releases.append(release)
            }
        }
        if let holds = m["holds"] {
            var seen = Set<String>()
            for item in try holds.list() {
                let h = try item.mapping(allowed: ["id", "records", "until", "reason"], required: ["id", "records"])
                let idNode = h.require("id")
                let id = try idNode.nonEmptyString()
                try checkPathSegment(id, idNode, what: "hold")
                guard seen.insert(id).inserted else { throw idNode.error("duplicate hold id '\(id)'") }
                let records = try h.require("records").stringList().map { g throws(ConfigError) in try g.glob() }
                guard !records.isEmpty else { throw h.require("records").error("at least one record glob is needed") }
                policy.holds.append(
                    Hold(
                        id: id,
                        records: records,
                        until: try h["until"]?.instant(),
                        reason: try h["reason"]?.nonEmptyString() ?? ""
                    )
                )
            }
        }
        return policy
    }

    package func loadRule(
        _ r: YAMLNodeReader,
        index: Int,
        members: Set<String>,
        collections: Set<String>
    ) throws(ConfigError)
        -> EmbargoRule
    {
        let m = try r.mapping(allowed: ["match", "clock", "period", "grants", "public"], required: ["clock"])
        var owner: Glob?
        var collection: Glob?
        if let match = m["match"] {
            let mm = try match.mapping(allowed: ["owner", "collection"])
            if let o = mm["owner"] {
                let g = try o.glob()
                guard members.contains(where: g.matches) else { throw o.error("'\(g)' matches no declared member") }
                owner = g
            }
            if let c = mm["collection"] {
                let g = try c.glob()
                guard collections.contains(where: g.matches) else {
                    throw c.error("'\(g)' matches no declared collection")
                }
                collection = g
            }
        }
        var grants: [String: ISODuration] = [:]
        if let g = m["grants"] {
            let gm = try g.mapping(allowed: members.sorted())
            for (id, _) in gm.entries { grants[id] = try gm.require(id).duration() }
        }
        return EmbargoRule(
            index: index,
            owner: owner,
            collection: collection,
            clock: try clock(m.require("clock")),
            period: try m["period"]?.duration(),
            grants: grants,
            publicAfter: try m["public"]?.duration()
        )
    }

    package func clock(_ r: YAMLNodeReader) throws(ConfigError) -> EmbargoClock {
        if case .scalar = r.node {
            switch try r.string() {
            case "acquired": return .acquired
            case "processed": return .processed
            case "ingested": return .ingested
            case let other:
                throw r.error(
                    "unknown clock '\(other)' (acquired, processed, ingested, {earliest: [...]}, {latest: [...]})"
                )
            }
        }
        let m = try r.mapping(allowed: ["earliest", "latest"])
        guard m.entries.count == 1 else { throw r.error("give exactly one of earliest or latest") }
        let key = m.entries.keys.first!
        let list = try m.require(key).list()
        guard !list.isEmpty else { throw m.require(key).error("needs at least one clock") }
        let clocks = try list.map { c throws(ConfigError) in try clock(c) }
        return key == "earliest" ? .earliest(clocks) : .latest(clocks)
    }

    package func loadRelease(_ r: YAMLNodeReader, members: Set<String>) throws(ConfigError) -> EarlyRelease {
        let m = try r.mapping(
            allowed: ["id", "reason", "effective", "bbox", "acquired", "collections", "to"],
            required: ["id", "effective", "to"]
        )
        let idNode = m.require("id")
        try checkPathSegment(try idNode.nonEmptyString(), idNode, what: "release")
        var bbox: [Double]?
        if let b = m["bbox"] {
            let values = try b.list().map { v throws(ConfigError) in try v.double() }
            guard values.count == 4, values.allSatisfy(\.isFinite), values[1] <= values[3],
                (-90...90).contains(values[1]), (-90...90).contains(values[3]), (-180...180).contains(values[0]),
                (-180...180).contains(values[2])
            else { throw b.error("expected [west, south, east, north] in degrees") }
            // West > east crosses the antimeridian: the box runs east from west past ±180°. Read
            // so, [15, -80, 5, 80] would release 350° of longitude, almost the whole planet;
            // a box that wide is far more likely west and east swapped than meant.
            if values[0] > values[2], 360 - values[0] + values[2] >= 180 {
                throw b.error(
                    "west \(values[0]) > east \(values[2]) crosses the antimeridian and spans "
                        + "\(360 - values[0] + values[2])° of longitude; a crossing box must span less than 180° "
                        + "(are west and east swapped?)"
                )
            }
            bbox = values
        }
        var acquired: ClosedRange<Date>?
        if let a = m["acquired"] {
            let text = try a.string()
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let start = Timestamp.parse(String(parts[0])),
                let end = Timestamp.parse(String(parts[1]))
            else { throw a.error("'\(text)' is not an interval START/END of RFC 3339 instants") }
            guard start <= end else { throw a.error("the interval ends before it starts") }
            acquired = start...end
        }
        let collections =
            try m["collections"].map { r throws(ConfigError) in
                try r.stringList().map { g throws(ConfigError) in try g.glob() }
            } ?? []
        var audience: [Audience] = []
        let toNode = m.require("to")
        for t in try toNode.stringList() {
            let s = try t.string()
            switch s {
            case "all": audience.append(.allMembers)
            case "public": audience.append(.public)
            default:
                guard members.contains(s) else { throw t.error("'\(s)' is not all, public or a declared member") }
                audience.append(.member(s))
            }
        }
        guard !audience.isEmpty else { throw toNode.error("name at least one audience") }
        return EarlyRelease(
            id: try idNode.nonEmptyString(),
            reason: try m["reason"]?.nonEmptyString() ?? "",
            effective: try m.require("effective").instant(),
            bbox: bbox,
            acquired: acquired,
            collections: collections,
            to: audience
        )
    }
}
