import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// A record ready for the embargo and the publisher, with the object it came from.
public struct NormalizedRecord: Sendable {
    public var record: Record
    public var object: FetchedObject
}

/// What one object gives: its records and the records it held that were rejected.
public struct NormalizedObject: Sendable {
    public var object: FetchedObject
    public var records: [Record]
    public var rejected: [RejectedRecord]

    /// Each record with its object, as the publish stage takes them.
    public var normalizedRecords: [NormalizedRecord] { records.map { NormalizedRecord(record: $0, object: object) } }
}

/// Looks up the source format's reader in `FormatRegistry`, lets it pick its files among the
/// unpacked object's (names may be paths inside an archive, `X.SAFE/GRANULE/L2A_…/MTD_TL.xml`)
/// and read them, then checks what every record needs before it may be published.
extension Normalizer {
    /// Metadata larger than this is not metadata: refuse rather than read it into memory.
    package static let maxMetadataBytes: Int64 = 64 << 20

    /// Throws when the object as a whole cannot be read (or none of its records can);
    /// otherwise returns its good records and its rejected ones.
    package func normalize(_ unpacked: UnpackedObject, source: SourceConfig) throws(NormalizeError) -> NormalizedObject
    {
        let files = unpacked.files
        var localFiles: [String: URL] = [:]
        for file in files where localFiles[Self.baseName(file.name)] == nil {
            localFiles[Self.baseName(file.name)] = file.url
        }
        let context = ReaderContext(
            owner: source.owner,
            collection: source.collection,
            source: source.id,
            objectURL: unpacked.fetched.ref.url,
            localFiles: localFiles
        )
        guard let reader = FormatRegistry.reader(named: source.format.name) else {
            throw NormalizeError("no reader for format '\(source.format.name)'")
        }
        let output = try reader.normalize(files, source: source, context: context)
        return try finish(output, unpacked: unpacked)
    }

    /// Common to every format: relocatable hrefs, measured sizes and checksums, the checks.
    private func finish(_ output: ReaderOutput, unpacked: UnpackedObject) throws(NormalizeError) -> NormalizedObject {
        let byURL = Dictionary(unpacked.files.map { ($0.url, $0) }, uniquingKeysWith: { a, _ in a })
        var records: [Record] = []
        var rejected = output.rejected
        for var record in output.records {
            // A local folder's files that did not come with the object would be absolute paths
            // on this machine: published catalogs stay relocatable without them.
            if unpacked.fetched.ref.url.isFileURL {
                record.assets.removeAll { !$0.isLocal && $0.href.hasPrefix("file:") }
            }
            // Local assets carry the size and checksum measured while the bytes moved.
            for i in record.assets.indices {
                guard let local = record.assets[i].localFile, let f = byURL[local] else { continue }
                record.assets[i].size = f.size
                record.assets[i].sha256 = f.sha256
            }
            do {
                try Self.check(record)
                records.append(record)
            } catch {
                rejected.append(
                    RejectedRecord(label: record.id.isEmpty ? "#\(records.count)" : record.id, error: error)
                )
            }
        }
        if records.isEmpty {
            if rejected.count == 1 { throw rejected[0].error }
            let reasons = rejected.prefix(3).map(\.description).joined(separator: "; ")
            throw NormalizeError("no record could be normalized (\(rejected.count) rejected): \(reasons)")
        }
        return NormalizedObject(object: unpacked.fetched, records: records, rejected: rejected)
    }

    // MARK: Files

    /// The file whose name fits, or the only file of the object.
    static func pick(
        _ files: [UnpackedFile],
        _ what: String,
        _ fits: (String) -> Bool
    ) throws(NormalizeError) -> UnpackedFile {
        guard let file = files.first(where: { fits($0.name) }) ?? (files.count == 1 ? files.first : nil) else {
            throw NormalizeError("no \(what) in the object")
        }
        return file
    }

    /// A metadata file's bytes, refusing anything too large to be metadata.
    package static func bytes(of file: UnpackedFile) throws(NormalizeError) -> [UInt8] {
        guard file.size <= maxMetadataBytes else {
            throw NormalizeError("metadata file \(file.name) is \(file.size) bytes, over 64 MiB")
        }
        do { return try FileBytes.read(file.url) } catch {
            throw NormalizeError("cannot read \(file.name): \(error)")
        }
    }
}
