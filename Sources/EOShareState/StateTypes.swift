import EOShareCore
import EOShareEmbargo
import Foundation

/// What the state keeps, as every `StateStore` implementation reads and writes it.

public struct StoredObject: Sendable, Equatable {
    public var url: String
    public var source: String
    public var etag: String?
    public var lastModified: String?
    public var size: Int64?
    public var sha256: String?
    /// `record`; `quarantined` (arrived whole, its content refused: the same bytes stay
    /// refused); `refused` (refused while fetching, by a verdict that may rest on more than
    /// the bytes: a sidecar, an index's digest, a listing's size; the same bytes are judged
    /// again).
    public var outcome: ObjectOutcome
    public var reason: String?
    public var recordCollection: String?
    public var recordId: String?
    /// The index-page entry that proves the object unchanged while it stays the same.
    public var listed: String? = nil

    public init(
        url: String,
        source: String,
        etag: String? = nil,
        lastModified: String? = nil,
        size: Int64? = nil,
        sha256: String? = nil,
        outcome: ObjectOutcome,
        reason: String? = nil,
        recordCollection: String? = nil,
        recordId: String? = nil,
        listed: String? = nil
    ) {

        self.url = url

        self.source = source

        self.etag = etag

        self.lastModified = lastModified

        self.size = size

        self.sha256 = sha256

        self.outcome = outcome

        self.reason = reason

        self.recordCollection = recordCollection

        self.recordId = recordId

        self.listed = listed

    }

}

/// A record as the state keeps it: the policy's facts plus the item to publish.
public struct StoredRecord: Sendable {
    public var subject: EmbargoSubject
    public var source: String
    public var objectURL: String
    public var startTime: Date?
    public var endTime: Date?
    /// Compact JSON of the STAC item without links.
    public var item: [UInt8]
    public var assets: [StoredAsset]
    public var nextChange: Date?
    /// Where the record's item lives in a tree (its day folder and folder name).
    public var place: ItemPlace

    public init(
        subject: EmbargoSubject,
        source: String,
        objectURL: String,
        startTime: Date? = nil,
        endTime: Date? = nil,
        item: [UInt8],
        assets: [StoredAsset],
        nextChange: Date? = nil,
        place: ItemPlace
    ) {
        self.subject = subject
        self.source = source
        self.objectURL = objectURL
        self.startTime = startTime
        self.endTime = endTime
        self.item = item
        self.assets = assets
        self.nextChange = nextChange
        self.place = place
    }
}

public struct StoredAsset: Sendable, Hashable {
    public var file: String
    public var sha256: String
    public var size: Int64

    public init(file: String, sha256: String, size: Int64) {

        self.file = file

        self.sha256 = sha256

        self.size = size

    }

}

public enum PublicationStatus: String, Sendable {
    /// An intent: files may be appearing in the viewer's tree.
    case publishing
    /// The viewer's tree holds the item.
    case published
    /// An intent: the item is leaving the viewer's tree (catalogs no longer name it).
    case retracting
}

/// A record's copy in one viewer's tree, where it is (which may differ from the record's
/// place while the record moves to another day).
public struct Publication: Sendable, Hashable {
    public var viewer: String
    public var place: ItemPlace
    public var status: PublicationStatus
    /// How often finishing this intent failed in a row.
    public var failures: Int
}

/// An intent: a record as it will be published, the viewers about to receive it at its
/// place ('publishing') and the copies about to go ('retracting', wherever they are).
public struct Intent: Sendable {
    public var record: StoredRecord
    public var publishing: [String]
    public var retracting: [Publication]

    public init(record: StoredRecord, publishing: [String], retracting: [Publication]) {
        self.record = record
        self.publishing = publishing
        self.retracting = retracting
    }
}

/// What the files now show, for one record.
public struct Confirmation: Sendable {
    public var collection: String
    public var id: String
    public var day: String
    public var published: [String]
    public var retracted: [String]
    public var object: StoredObject?
    public var ledger: [LedgerEvent]

    public init(
        collection: String,
        id: String,
        day: String,
        published: [String],
        retracted: [String],
        object: StoredObject? = nil,
        ledger: [LedgerEvent]
    ) {
        self.collection = collection
        self.id = id
        self.day = day
        self.published = published
        self.retracted = retracted
        self.object = object
        self.ledger = ledger
    }
}

/// A collection's extent as the viewer sees it: the union of its published items'
/// boxes and time spans, as an aggregate the database computes.
public struct Extent: Sendable, Equatable {
    public var bbox: [Double]?
    public var start: Date?
    public var end: Date?

    public init(bbox: [Double]? = nil, start: Date? = nil, end: Date? = nil) {
        self.bbox = bbox
        self.start = start
        self.end = end
    }
}

/// One ledger event: written as a line of `ledger.jsonl` once committed.
public struct LedgerEvent: Sendable {
    public var event: String
    public var at: Date
    public var fields: [(String, JSONValue)]

    public init(event: String, at: Date, fields: [(String, JSONValue)]) {
        self.event = event
        self.at = at
        self.fields = fields
    }
}

/// The ledger's anchor: how many lines it has, the SHA-256 of the last, and how many of
/// them (and bytes) `ledger.jsonl` is known to hold.
public struct LedgerAnchor: Sendable, Equatable {
    public var lines: Int64
    public var head: String
    public var fileLines: Int64
    public var fileBytes: Int64
}

/// What became of a fetched object.
public enum ObjectOutcome: String, Sendable {
    /// It brought a record (published or not, as the policy says).
    case record
    /// It arrived whole but its content was refused: the same bytes stay refused.
    case quarantined
    /// Refused while fetching, by a verdict that may rest on more than the bytes (a sidecar,
    /// an index's digest, a listing's size): the same bytes are judged again.
    case refused
}

/// How a run ended (or that it is still going).
public enum RunStatus: String, Sendable {
    case running, ok, quarantined, failed, died
}

/// A record's key: ids are unique per collection.
public struct RecordKey: Sendable, Hashable {
    public var collection: String
    public var id: String

    public init(collection: String, id: String) {
        self.collection = collection
        self.id = id
    }
}

/// One day catalog of one viewer's tree.
public struct CatalogKey: Sendable, Hashable {
    public var viewer: String
    public var collection: String
    /// `YYYY/MM/DD` or `undated`.
    public var day: String

    public init(viewer: String, collection: String, day: String) {
        self.viewer = viewer
        self.collection = collection
        self.day = day
    }
}

/// A day catalog marked for rewriting, and which mark: a change marking it again gives a new
/// `version`.
public struct CatalogMark: Sendable, Hashable {
    public var key: CatalogKey
    public var version: Int64

    public init(_ key: CatalogKey, version: Int64) {
        self.key = key
        self.version = version
    }
}

/// An item a day catalog names.
public struct CatalogEntry: Sendable, Hashable {
    public var folder: String
    public var id: String
}

/// A copy in the tree of a viewer that left the pipeline, with its record's owner.
public struct LeavingCopy: Sendable, Hashable {
    public var collection: String
    public var id: String
    public var owner: String
}

/// A ledger line committed in the state, numbered in the chain.
public struct LedgerLine: Sendable {
    public var seq: Int64
    public var line: [UInt8]
}

/// How many runs finished, and when the last one without quarantine finished.
public struct RunTotals: Sendable {
    public var finished: Int
    public var lastSuccess: Date?
}

/// What publishing a record needs to know first, read at once.
public struct PublishLookup: Sendable {
    /// The record as the state knows it.
    public var existing: StoredRecord?
    /// Its copies (published or with an unfinished intent).
    public var publications: [Publication]
    /// The owner of the record the object published before (an owner change is refused).
    public var objectOwner: String?
    /// A record of another id whose folder name would be the same (a guard).
    public var folderTakenBy: String?
}

extension LedgerAnchor {
    /// The chain's anchor: what the first line's `prev` holds.
    public static let genesis = String(repeating: "0", count: 64)
}

extension StoredAsset {
    /// The `assets` column of both stores: `[{"file","sha256","size"}]` as JSON text.
    package static func columnText(_ assets: [StoredAsset]) -> String {
        JSONValue.array(
            assets.map { .object(["file": .string($0.file), "sha256": .string($0.sha256), "size": .int($0.size)]) }
        ).serializedString()
    }

    /// The column read back; entries missing a field are skipped.
    package static func list(fromColumn text: String) -> [StoredAsset] {
        ((try? JSONValue.parse(Array(text.utf8)))?.arrayValue ?? []).compactMap { a in
            guard let f = a["file"]?.stringValue, let h = a["sha256"]?.stringValue, let s = a["size"]?.doubleValue
            else { return nil }
            return StoredAsset(file: f, sha256: h, size: Int64(s))
        }
    }
}
