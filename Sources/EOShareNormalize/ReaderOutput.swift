import EOShareCore
import Foundation

/// What a format reader knows about the object it reads, besides the bytes. (These types
/// need none of the pipeline's: the fuzz targets compile the readers with them alone.)
public struct ReaderContext: Sendable {
    public var owner: String
    public var collection: String
    public var source: String
    /// The object's URL at the source: hrefs of files that are not in the bundle resolve against it.
    public var objectURL: URL
    /// Payload files present with the metadata (unpacked bundle or the object itself), by file name.
    public var localFiles: [String: URL]

    public init(owner: String, collection: String, source: String, objectURL: URL, localFiles: [String: URL] = [:]) {
        self.owner = owner
        self.collection = collection
        self.source = source
        self.objectURL = objectURL
        self.localFiles = localFiles
    }
}

/// Why a record could not be normalized: names the field and the cause, in one line.
public struct NormalizeError: Error, CustomStringConvertible, Equatable {
    public var field: String?
    public var reason: String

    public init(field: String? = nil, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public static func missing(_ field: String) -> NormalizeError {
        NormalizeError(field: field, "required field is missing")
    }
    public static func unparseable(_ field: String, _ value: String) -> NormalizeError {
        NormalizeError(field: field, "cannot parse '\(value.prefix(80))'")
    }

    public var description: String {
        if let field { return "\(field): \(reason)" }
        return reason
    }
}

/// A record an object held that could not be normalized: quarantined on its own while the
/// object's other records go on (one bad granule of a CMR response, say).
public struct RejectedRecord: Sendable, Equatable, CustomStringConvertible {
    /// The record's id when it has one, else its place in the object (`granule 3`).
    public var label: String
    public var error: NormalizeError

    public init(label: String, error: NormalizeError) {
        self.label = label
        self.error = error
    }

    public var description: String { "record \(label): \(error)" }
}

/// What a format reader returns for one object.
public struct ReaderOutput: Sendable {
    public var records: [Record]
    public var rejected: [RejectedRecord]

    public init(records: [Record], rejected: [RejectedRecord] = []) {
        self.records = records
        self.rejected = rejected
    }
}
