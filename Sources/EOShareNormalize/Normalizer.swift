import Foundation
import EOShareCore
import EOShareFetch
import EOShareUnpack

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

/// Picks the metadata files of an unpacked object by name pattern (names may be paths inside
/// an archive, `X.SAFE/GRANULE/L2A_…/MTD_TL.xml`), runs the source format's reader, and
/// checks what every record needs before it may be published.
extension Normalizer {
    /// Metadata larger than this is not metadata: refuse rather than read it into memory.
    package static let maxMetadataBytes: Int64 = 64 << 20

    /// Throws when the object as a whole cannot be read (or none of its records can);
    /// otherwise returns its good records and its rejected ones.
    package func normalize(_ unpacked: UnpackedObject, source: SourceConfig) throws(NormalizeError) -> NormalizedObject {
        let files = unpacked.files
        var localFiles: [String: URL] = [:]
        for file in files where localFiles[Self.baseName(file.name)] == nil {
            localFiles[Self.baseName(file.name)] = file.url
        }
        let context = ReaderContext(
            owner: source.owner, collection: source.collection, source: source.id, objectURL: unpacked.fetched.ref.url,
            localFiles: localFiles)
        var output: ReaderOutput
        switch source.format {
        case .landsatMTL:
            output = ReaderOutput(records: [try landsat(files, context: context)])
        case .sentinel2SAFE:
            output = ReaderOutput(records: [try sentinel2(files, context: context)])
        case .cmrUMMG:
            let meta = try Self.pick(files, "a CMR UMM-G JSON file (.json or .umm_json)") {
                $0.hasSuffix(".json") || $0.hasSuffix(".umm_json")
            }
            output = try CMRGranuleReader.read(try Self.bytes(of: meta), context: context)
        case .ccsdsPackets:
            guard let settings = source.packets else { throw NormalizeError("the source has no packets settings") }
            guard let file = files.first, files.count == 1 else {
                throw NormalizeError("a packet file object holds exactly one file, found \(files.count)")
            }
            output = ReaderOutput(records: [
                try CCSDSPacketReader.read(file: file.url, name: Self.baseName(file.name), settings: settings,
                    context: context)
            ])
        }
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
                rejected.append(RejectedRecord(label: record.id.isEmpty ? "#\(records.count)" : record.id, error: error))
            }
        }
        if records.isEmpty {
            if rejected.count == 1 { throw rejected[0].error }
            let reasons = rejected.prefix(3).map(\.description).joined(separator: "; ")
            throw NormalizeError("no record could be normalized (\(rejected.count) rejected): \(reasons)")
        }
        return NormalizedObject(object: unpacked.fetched, records: records, rejected: rejected)
    }

    // MARK: Formats

    private func landsat(_ files: [UnpackedFile], context: ReaderContext) throws(NormalizeError) -> Record {
        let candidates = files.filter { Self.isMTLName(Self.baseName($0.name)) }
        guard let meta = candidates.first ?? (files.count == 1 ? files.first : nil) else {
            throw NormalizeError(field: nil, "no Landsat *_MTL.txt, .json or .xml file in the object")
        }
        // The angle file of the same product gives the footprint, as stactools takes it.
        let product = Self.baseName(meta.name).components(separatedBy: "_MTL.")[0]
        let angle = files.first { Self.baseName($0.name) == product + "_ANG.txt" }
        var record = try LandsatMTLReader.read(
            try Self.bytes(of: meta), angle: try angle.map { f throws(NormalizeError) in try Self.bytes(of: f) },
            context: context)
        // The metadata file itself always travels with the record.
        if !record.assets.contains(where: { $0.localFile == meta.url }) {
            record.assets.append(
                Asset(
                    key: "metadata", href: Self.baseName(meta.name), title: "Product metadata",
                    mediaType: Self.mediaType(meta.name), roles: ["metadata"], localFile: meta.url))
        }
        return record
    }

    private func sentinel2(_ files: [UnpackedFile], context: ReaderContext) throws(NormalizeError) -> Record {
        let product = try Self.pick(files, "a Sentinel-2 MTD_MSIL1C.xml or MTD_MSIL2A.xml") {
            let base = Self.baseName($0)
            return base == "MTD_MSIL1C.xml" || base == "MTD_MSIL2A.xml"
        }
        // Companions sit in the same .SAFE folder as the product metadata.
        let folder = Self.folderName(product.name)
        let manifest = files.first { $0.name == folder + "manifest.safe" }
        let granule = files.first {
            $0.name.hasPrefix(folder + "GRANULE/") && $0.name.hasSuffix("/MTD_TL.xml")
                && $0.name.utf8.count > folder.utf8.count + 19
        }
        return try Sentinel2SAFEReader.read(
            Sentinel2SAFEReader.Input(
                productName: product.name, product: try Self.bytes(of: product), productFile: product.url,
                manifest: try manifest.map { f throws(NormalizeError) in try Self.bytes(of: f) },
                manifestFile: manifest?.url,
                granuleName: granule?.name,
                granule: try granule.map { f throws(NormalizeError) in try Self.bytes(of: f) },
                granuleFile: granule?.url),
            context: context)
    }

    // MARK: Files

    /// The file whose name fits, or the only file of the object.
    private static func pick(
        _ files: [UnpackedFile], _ what: String, _ fits: (String) -> Bool
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
