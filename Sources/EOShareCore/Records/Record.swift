import Foundation

/// One satellite data record, normalized from its agency format. Every reader fills this
/// model; one writer (`STACItemWriter`) turns it into a STAC 1.1.0 Item.
public struct Record: Sendable, Hashable {
    /// The product's own identifier (Landsat product id, S2 product name, GranuleUR, …).
    public var id: String
    public var collection: String
    /// The member whose record this is (the source's `owner`).
    public var owner: String
    /// The pipeline source it came from.
    public var source: String

    /// Nominal acquisition instant (STAC `datetime`); nil when only a range is known.
    public var datetime: Date?
    public var startDatetime: Date?
    public var endDatetime: Date?
    /// The product's processing/generation time, when the product states it.
    public var processed: Date?

    /// GeoJSON geometry (a Polygon or MultiPolygon), or nil for records without a footprint.
    public var geometry: JSONValue?
    /// [west, south, east, north] in degrees, or nil.
    public var bbox: [Double]?

    /// Format-specific STAC properties in the order they should appear
    /// (platform, instruments, eo:cloud_cover, view:*, proj:*, landsat:*, …).
    public var properties: JSONObject
    /// Schema URLs of the STAC extensions those properties use.
    public var stacExtensions: [String]
    public var assets: [Asset]

    public init(
        id: String,
        collection: String,
        owner: String,
        source: String,
        datetime: Date? = nil,
        startDatetime: Date? = nil,
        endDatetime: Date? = nil,
        processed: Date? = nil,
        geometry: JSONValue? = nil,
        bbox: [Double]? = nil,
        properties: JSONObject = [:],
        stacExtensions: [String] = [],
        assets: [Asset] = []
    ) {
        self.id = id
        self.collection = collection
        self.owner = owner
        self.source = source
        self.datetime = datetime
        self.startDatetime = startDatetime
        self.endDatetime = endDatetime
        self.processed = processed
        self.geometry = geometry
        self.bbox = bbox
        self.properties = properties
        self.stacExtensions = stacExtensions
        self.assets = assets
    }

    /// The `acquired` clock of CONTRACT §4.6: end of acquisition, or the single datetime.
    public var acquired: Date? { endDatetime ?? datetime }
}

/// One file of a record. A local asset is a payload file the pipeline holds (published
/// into the member trees); a remote one is only referenced by URL.
public struct Asset: Sendable, Hashable {
    public var key: String
    /// For a local asset: the file name inside the item folder. For a remote one: an absolute URL.
    public var href: String
    public var title: String?
    public var mediaType: String?
    public var roles: [String]
    /// More asset fields (eo:bands, raster:bands, …), in order.
    public var extra: JSONObject
    /// Where the bytes are now (work folder or store), for local assets.
    public var localFile: URL?
    public var size: Int64?
    /// Lowercase hex SHA-256 of the bytes.
    public var sha256: String?

    public init(
        key: String,
        href: String,
        title: String? = nil,
        mediaType: String? = nil,
        roles: [String] = [],
        extra: JSONObject = [:],
        localFile: URL? = nil,
        size: Int64? = nil,
        sha256: String? = nil
    ) {
        self.key = key
        self.href = href
        self.title = title
        self.mediaType = mediaType
        self.roles = roles
        self.extra = extra
        self.localFile = localFile
        self.size = size
        self.sha256 = sha256
    }

    public var isLocal: Bool { localFile != nil }
}
