import Foundation

/// A record ready for the embargo and the publisher, with the files it brings.
public struct NormalizedRecord: Sendable {
    public var record: Record
    public var object: FetchedObject
}

/// Picks the metadata file of an unpacked object and runs the source format's reader.
struct Normalizer {
    /// Metadata larger than this is not metadata: refuse rather than read it into memory.
    static let maxMetadataBytes: Int64 = 64 << 20

    func normalize(_ unpacked: UnpackedObject, source: SourceConfig) throws(NormalizeError) -> NormalizedRecord {
        let files = unpacked.files
        let localFiles = Dictionary(files.map { ($0.name, $0.url) }, uniquingKeysWith: { a, _ in a })
        let context = ReaderContext(
            owner: source.owner, collection: source.collection, source: source.id, objectURL: unpacked.fetched.ref.url,
            localFiles: localFiles)
        var record: Record
        switch source.format {
        case .landsatMTL:
            let candidates = files.filter { Self.isMTLName($0.name) }
            guard let meta = candidates.first ?? (files.count == 1 ? files.first : nil) else {
                throw NormalizeError(field: nil, "no Landsat *_MTL.txt, .json or .xml file in the object")
            }
            guard meta.size <= Self.maxMetadataBytes else {
                throw NormalizeError(field: nil, "metadata file \(meta.name) is \(meta.size) bytes, over 64 MiB")
            }
            let bytes: [UInt8]
            do { bytes = [UInt8](try Data(contentsOf: meta.url)) } catch {
                throw NormalizeError(field: nil, "cannot read \(meta.name): \(error.localizedDescription)")
            }
            record = try LandsatMTLReader.read(bytes, context: context)
            // The metadata file itself always travels with the record.
            if !record.assets.contains(where: { $0.localFile == meta.url }) {
                record.assets.append(
                    Asset(
                        key: "metadata", href: meta.name, title: "Product metadata", mediaType: Self.mediaType(meta.name),
                        roles: ["metadata"], localFile: meta.url))
            }
        case .sentinel2SAFE, .cmrUMMG, .ccsdsPackets:
            throw NormalizeError(field: nil, "format \(source.format.rawValue) has no reader yet")
        }
        // A local folder's files that did not come with the object would be absolute paths
        // on this machine: published catalogs stay relocatable without them.
        if unpacked.fetched.ref.url.isFileURL {
            record.assets.removeAll { !$0.isLocal && $0.href.hasPrefix("file:") }
        }
        // Local assets carry the size and checksum measured while the bytes moved.
        let byURL = Dictionary(files.map { ($0.url, $0) }, uniquingKeysWith: { a, _ in a })
        for i in record.assets.indices {
            guard let local = record.assets[i].localFile, let f = byURL[local] else { continue }
            record.assets[i].size = f.size
            record.assets[i].sha256 = f.sha256
        }
        try Self.check(record)
        return NormalizedRecord(record: record, object: unpacked.fetched)
    }

    static func isMTLName(_ name: String) -> Bool {
        name.hasSuffix("_MTL.txt") || name.hasSuffix("_MTL.json") || name.hasSuffix("_MTL.xml")
    }

    static func mediaType(_ name: String) -> String {
        if name.hasSuffix(".json") { return "application/json" }
        if name.hasSuffix(".xml") { return "application/xml" }
        return "text/plain"
    }

    /// What every record needs before it may be published, whatever its format.
    static func check(_ r: Record) throws(NormalizeError) {
        guard !r.id.isEmpty else { throw .missing("id") }
        guard r.id.range(of: "^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$", options: .regularExpression) != nil else {
            throw NormalizeError(field: "id", "'\(r.id.prefix(80))' cannot name a folder")
        }
        guard r.datetime != nil || (r.startDatetime != nil && r.endDatetime != nil) else { throw .missing("datetime") }
        for a in r.assets where a.isLocal {
            guard !a.href.contains("/"), !a.href.hasPrefix("."), a.href != "\(r.id).json" else {
                throw NormalizeError(field: "assets.\(a.key)", "file name '\(a.href)' is not allowed in an item folder")
            }
        }
    }
}
