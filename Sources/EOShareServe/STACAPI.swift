import EOShare
import Foundation

/// One answer of the API, independent of the HTTP server that sends it.
public struct APIResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)] = []
    public var body: [UInt8] = []
    /// A file to send instead of `body` (an asset), with the byte range asked for.
    public var file: (path: String, range: ClosedRange<Int64>?, size: Int64)?

    static func json(_ value: JSONValue, status: Int = 200, type: String = "application/json") -> APIResponse {
        APIResponse(status: status, headers: [("Content-Type", type)], body: value.serialized(pretty: false))
    }

    static func error(_ status: Int, _ code: String, _ description: String) -> APIResponse {
        json(.object(["code": .string(code), "description": .string(description)]), status: status)
    }
}

/// What the API needs of a request.
public struct APIRequest: Sendable {
    public var method: String
    /// The path, percent-decoded per segment.
    public var segments: [String]
    public var query: [(String, String)]
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// `scheme://host[:port][prefix]` the links are built on.
    public var base: String

    public init(
        method: String,
        segments: [String],
        query: [(String, String)],
        headers: [(String, String)],
        body: [UInt8],
        base: String
    ) {
        self.method = method
        self.segments = segments
        self.query = query
        self.headers = headers
        self.body = body
        self.base = base
    }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// The STAC API of CONTRACT §8: one per viewer under `/<member>/` and `/public/`, every answer
/// decided from the state and the policy at the request's instant by the engine ingest uses.
public final class STACAPI: Sendable {
    let served: ServedPipeline
    /// The instant a request is decided at: `--at`'s, or the request's own.
    let clock: @Sendable () -> Date
    let states = StateHandle()
    let extentCache = ExtentCache()

    public convenience init(served: ServedPipeline, at: Date? = nil) {
        self.init(served: served, clock: { at ?? Date() })
    }

    init(served: ServedPipeline, clock: @escaping @Sendable () -> Date) {
        self.served = served
        self.clock = clock
    }

    static let stacVersion = "1.1.0"
    static let conformance: [String] = [
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/collections",
        "https://api.stacspec.org/v1.0.0/ogcapi-features",
        "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0/item-search#sort",
        "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
        "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
        "https://api.stacspec.org/v1.0.0-rc.2/ogcapi-features#filter",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
        "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-operators",
    ]

    /// Answers a request; `member` is the viewer whose prefix the path names, already
    /// authenticated by the caller.
    public func respond(_ request: APIRequest, snapshot: ServedPipeline.Snapshot, viewer: Viewer) async -> APIResponse {
        let at = clock()
        let root = "\(request.base)/\(viewer.folder)"
        let rest = Array(request.segments.dropFirst())
        let context = Context(
            snapshot: snapshot,
            viewer: viewer,
            at: at,
            root: root,
            state: await states.open(snapshot.pipeline)
        )
        do {
            switch (request.method, rest.count) {
            case ("GET", 0): return .json(landing(context))
            case ("GET", 1) where rest[0] == "conformance":
                return .json(.object(["conformsTo": .array(Self.conformance.map(JSONValue.string))]))
            case ("GET", 1) where rest[0] == "api":
                return .json(OpenAPI.document(root: root), type: "application/vnd.oai.openapi+json;version=3.0")
            case ("GET", 1) where rest[0] == "queryables":
                return .json(Queryables.schema(id: "\(root)/queryables"), type: "application/schema+json")
            case ("GET", 1) where rest[0] == "collections": return .json(try await collections(context))
            case ("GET", 1) where rest[0] == "search":
                return try await search(
                    context,
                    SearchParameters(query: request.query),
                    url: "\(root)/search",
                    method: "GET"
                )
            case ("POST", 1) where rest[0] == "search":
                guard let body = try? JSONValue.parse(request.body) else {
                    throw BadRequest(description: "the search body is not JSON")
                }
                return try await search(context, SearchParameters(body: body), url: "\(root)/search", method: "POST")
            case (_, 1) where rest[0] == "search":
                return .error(405, "MethodNotAllowed", "search takes GET or POST")
            case ("GET", _) where rest[0] == "collections":
                return try await collectionRoute(context, Array(rest.dropFirst()), request)
            case ("GET", _): return .error(404, "NotFound", "no such resource")
            default: return .error(405, "MethodNotAllowed", "this API is read-only")
            }
        } catch let e as BadRequest {
            return .error(400, "BadRequest", e.description)
        } catch {
            return .error(500, "ServerError", "\(error)")
        }
    }

    struct Context {
        var snapshot: ServedPipeline.Snapshot
        var viewer: Viewer
        var at: Date
        var root: String
        var state: (any StateStore)?
        var pipeline: Pipeline { snapshot.pipeline }

        func visible(_ subject: EmbargoSubject) -> Bool {
            snapshot.engine.decide(subject, for: viewer, at: at).visible
        }
    }

    // MARK: Landing page and collections

    func landing(_ c: Context) -> JSONValue {
        let name = c.viewer == .public ? "the public" : c.pipeline.member(c.viewer.folder)?.name ?? c.viewer.folder
        var links: [JSONValue] = [
            link("self", "\(c.root)/", "application/json"),
            link("root", "\(c.root)/", "application/json"),
            link("conformance", "\(c.root)/conformance", "application/json"),
            link("data", "\(c.root)/collections", "application/json"),
            link("search", "\(c.root)/search", "application/geo+json", method: "GET"),
            link("search", "\(c.root)/search", "application/geo+json", method: "POST"),
            link("service-desc", "\(c.root)/api", "application/vnd.oai.openapi+json;version=3.0"),
            link(
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "\(c.root)/queryables",
                "application/schema+json"
            ),
        ]
        for collection in c.pipeline.collections {
            links.append(
                link(
                    "child",
                    "\(c.root)/collections/\(Self.escape(collection.id))",
                    "application/json",
                    title: collection.title
                )
            )
        }
        return .object([
            "type": "Catalog", "stac_version": .string(Self.stacVersion), "id": .string("eoshare-\(c.viewer.folder)"),
            "title": .string("Records \(name) may see"),
            "description": .string("The consortium's records as \(name) may see them at the instant of each request."),
            "conformsTo": .array(Self.conformance.map(JSONValue.string)), "links": .array(links),
        ])
    }

    func collections(_ c: Context) async throws -> JSONValue {
        let extents = try await self.extents(c)
        return .object([
            "collections": .array(c.pipeline.collections.map { collection($0, c, extent: extents[$0.id]) }),
            "links": .array([
                link("self", "\(c.root)/collections", "application/json"),
                link("root", "\(c.root)/", "application/json"),
                link("parent", "\(c.root)/", "application/json"),
            ]),
        ])
    }

    func collection(_ config: CollectionConfig, _ c: Context, extent: ViewerExtent?) -> JSONValue {
        let url = "\(c.root)/collections/\(Self.escape(config.id))"
        let bbox: JSONValue =
            extent?.bbox.map { .array([.array($0.map(JSONValue.number))]) }
            ?? .array([.array([-180, -90, 180, 90].map(JSONValue.number))])
        let interval: JSONValue = .array([
            .array([
                extent?.start.map { .string(Timestamp.format($0)) } ?? .null,
                extent?.end.map { .string(Timestamp.format($0)) } ?? .null,
            ])
        ])
        var o: JSONObject = [
            "type": "Collection", "stac_version": .string(Self.stacVersion), "id": .string(config.id),
            "title": .string(config.title),
            "description": .string(config.description ?? config.title), "license": .string(config.license),
            "extent": .object(["spatial": .object(["bbox": bbox]), "temporal": .object(["interval": interval])]),
        ]
        o["links"] = .array([
            link("self", url, "application/json"),
            link("parent", "\(c.root)/", "application/json"),
            link("root", "\(c.root)/", "application/json"),
            link("items", "\(url)/items", "application/geo+json"),
            link("http://www.opengis.net/def/rel/ogc/1.0/queryables", "\(url)/queryables", "application/schema+json"),
        ])
        return .object(o)
    }

    /// The extent of what the viewer sees now in each collection (kept between requests while
    /// it cannot have changed: `ExtentCache`).
    func extents(_ c: Context) async throws -> [String: ViewerExtent] {
        try await extentCache.extents(c)
    }

    func collectionRoute(_ c: Context, _ rest: [String], _ request: APIRequest) async throws -> APIResponse {
        guard let config = c.pipeline.collection(rest[0]) else {
            return .error(404, "NotFound", "no collection '\(rest[0])'")
        }
        let url = "\(c.root)/collections/\(Self.escape(config.id))"
        switch rest.count {
        case 1:
            let extent = try await extents(c)[config.id]
            return .json(collection(config, c, extent: extent))
        case 2 where rest[1] == "queryables":
            return .json(Queryables.schema(id: "\(url)/queryables"), type: "application/schema+json")
        case 2 where rest[1] == "items":
            var parameters = try SearchParameters(query: request.query)
            if let asked = parameters.collections, asked != [config.id] {
                throw BadRequest(description: "collections cannot be given here: the path names \(config.id)")
            }
            parameters.collections = [config.id]
            return try await search(c, parameters, url: "\(url)/items", method: "GET", collectionPath: true)
        case 3 where rest[1] == "items":
            guard let item = try await visibleRecord(c, collection: config.id, id: rest[2]) else {
                return .error(404, "NotFound", "no item '\(rest[2])' in \(config.id)")
            }
            return .json(self.item(item, c), type: "application/geo+json")
        case 5 where rest[1] == "items" && rest[3] == "assets":
            guard let record = try await visibleRecord(c, collection: config.id, id: rest[2]),
                let asset = record.assets.first(where: { $0.file == rest[4] })
            else { return .error(404, "NotFound", "no asset '\(rest[4])' of item '\(rest[2])'") }
            return try Assets.response(
                for: asset,
                store: Publisher(root: c.pipeline.sharedRoot, collections: []).storePath(sha256: asset.sha256),
                range: request.header("Range"),
                head: request.method == "HEAD"
            )
        default:
            return .error(404, "NotFound", "no such resource")
        }
    }

    /// The record, when it exists and the viewer may see it now; nil otherwise, so an id the
    /// viewer may not see reads exactly like one that does not exist.
    func visibleRecord(_ c: Context, collection: String, id: String) async throws -> SearchCandidate? {
        guard let state = c.state else { return nil }
        var q = RecordSearch()
        q.collections = [collection]
        q.ids = [id]
        q.limit = 1
        guard let record = try await state.searchRecords(q).first, c.visible(record.subject) else { return nil }
        return record
    }

    // MARK: Search

    func search(
        _ c: Context,
        _ p: SearchParameters,
        url: String,
        method: String,
        collectionPath: Bool = false
    ) async throws -> APIResponse {
        if let asked = p.collections {
            for id in asked where c.pipeline.collection(id) == nil && collectionPath {
                throw BadRequest(description: "no collection '\(id)'")
            }
        }
        let page = try await Paging.page(c, p)
        var links: [JSONValue] = [
            link("self", selfURL(url, p, method: method), "application/geo+json"),
            link("root", "\(c.root)/", "application/json"),
        ]
        if collectionPath, let id = p.collections?.first {
            links.append(link("parent", "\(c.root)/collections/\(Self.escape(id))", "application/json"))
            links.append(link("collection", "\(c.root)/collections/\(Self.escape(id))", "application/json"))
        }
        if let next = page.next { links.append(pageLink("next", next, url: url, p, method: method)) }
        if let prev = page.prev { links.append(pageLink("prev", prev, url: url, p, method: method)) }
        let features = page.items.map { item($0.candidate, c, parsed: $0.item) }
        let body: JSONValue = .object([
            "type": "FeatureCollection", "features": .array(features), "links": .array(links),
            "numberReturned": .int(Int64(features.count)),
        ])
        return .json(body, type: "application/geo+json")
    }

    func selfURL(_ url: String, _ p: SearchParameters, method: String) -> String {
        url
    }

    func pageLink(_ rel: String, _ token: PageToken, url: String, _ p: SearchParameters, method: String) -> JSONValue {
        if method == "POST" {
            var body = p.body ?? JSONObject()
            body["token"] = .string(token.text)
            return .object([
                "rel": .string(rel), "href": .string(url), "type": "application/geo+json", "method": "POST",
                "body": .object(body),
            ])
        }
        return link(rel, url + "?" + queryString(p, token: token), "application/geo+json", method: "GET")
    }

    /// The GET parameters of a search, with another page's token.
    func queryString(_ p: SearchParameters, token: PageToken) -> String {
        var items: [(String, String)] = []
        if let c = p.collections { items.append(("collections", c.joined(separator: ","))) }
        if let ids = p.ids { items.append(("ids", ids.joined(separator: ","))) }
        if let b = p.bbox {
            items.append(("bbox", b.map { JSONValue.number($0).serializedString() }.joined(separator: ",")))
        }
        if let raw = p.rawQuery {
            for (k, v) in raw
            where ["intersects", "datetime", "sortby", "filter", "filter-lang", "filter-crs"].contains(k) {
                items.append((k, v))
            }
        }
        items.append(("limit", String(p.limit)))
        items.append(("token", token.text))
        return items.map { "\(Self.queryEscape($0.0))=\(Self.queryEscape($0.1))" }.joined(separator: "&")
    }

    // MARK: Items

    /// The item as served: its links, and asset hrefs the API serves with the same check.
    func item(_ r: SearchCandidate, _ c: Context, parsed: JSONValue? = nil) -> JSONValue {
        guard case .object(var o) = parsed ?? (try? JSONValue.parse(r.item)) ?? .null else { return .null }
        let collectionURL = "\(c.root)/collections/\(Self.escape(r.subject.collection))"
        let itemURL = "\(collectionURL)/items/\(Self.escape(r.subject.id))"
        o["collection"] = .string(r.subject.collection)
        o["links"] = .array([
            link("self", itemURL, "application/geo+json"),
            link("parent", collectionURL, "application/json"),
            link("collection", collectionURL, "application/json"),
            link("root", "\(c.root)/", "application/json"),
        ])
        if case .object(var assets)? = o["assets"] {
            for (key, value) in assets.entries {
                guard case .object(var asset) = value, let href = asset["href"]?.stringValue,
                    r.assets.contains(where: { $0.file == href })
                else { continue }
                asset["href"] = .string("\(itemURL)/assets/\(Self.escape(href))")
                assets[key] = .object(asset)
            }
            o["assets"] = .object(assets)
        }
        return .object(o)
    }

    func link(_ rel: String, _ href: String, _ type: String, method: String? = nil, title: String? = nil) -> JSONValue {
        var o: JSONObject = ["rel": .string(rel), "href": .string(href), "type": .string(type)]
        if let method { o["method"] = .string(method) }
        if let title { o["title"] = .string(title) }
        return .object(o)
    }

    static func escape(_ segment: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return segment.addingPercentEncoding(withAllowedCharacters: allowed) ?? segment
    }

    static func queryEscape(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~,:")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}

/// The state, opened once it exists (a server may start before the first ingest).
final class StateHandle: @unchecked Sendable {
    private let lock = NSLock()
    private var opened: (path: URL, store: any StateStore)?

    func open(_ pipeline: Pipeline) async -> (any StateStore)? {
        let cached: (any StateStore)? = lock.withLock {
            if let opened, opened.path == pipeline.statePath { return opened.store }
            return nil
        }
        if let cached { return cached }
        guard let store = try? await existingState(pipeline) else { return nil }
        lock.withLock { opened = (pipeline.statePath, store) }
        return store
    }
}
