import Foundation

/// A record ready for the embargo and the publisher, with the object it came from.
public struct NormalizedRecord: Sendable {
    public var record: Record
    public var object: FetchedObject
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

/// What one object gives: its records and the records it held that were rejected.
public struct NormalizedObject: Sendable {
    public var object: FetchedObject
    public var records: [Record]
    public var rejected: [RejectedRecord]

    /// Each record with its object, as the publish stage takes them.
    public var normalizedRecords: [NormalizedRecord] { records.map { NormalizedRecord(record: $0, object: object) } }
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

/// Picks the metadata files of an unpacked object by name pattern (names may be paths inside
/// an archive, `X.SAFE/GRANULE/L2A_…/MTD_TL.xml`), runs the source format's reader, and
/// checks what every record needs before it may be published.
struct Normalizer {
    /// Metadata larger than this is not metadata: refuse rather than read it into memory.
    static let maxMetadataBytes: Int64 = 64 << 20

    /// Throws when the object as a whole cannot be read (or none of its records can);
    /// otherwise returns its good records and its rejected ones.
    func normalize(_ unpacked: UnpackedObject, source: SourceConfig) throws(NormalizeError) -> NormalizedObject {
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
    static func bytes(of file: UnpackedFile) throws(NormalizeError) -> [UInt8] {
        guard file.size <= maxMetadataBytes else {
            throw NormalizeError("metadata file \(file.name) is \(file.size) bytes, over 64 MiB")
        }
        do { return try FileBytes.read(file.url) } catch {
            throw NormalizeError("cannot read \(file.name): \(error)")
        }
    }

    /// The URL of a file at `path` (relative, `/`-separated, already checked to stay inside)
    /// beside the object: what `URL(string: path, relativeTo: objectURL)` resolves to, built
    /// from the object's folder (`folder`, resolved once per record) and the path's segments
    /// percent-encoded, so a `:` in a name cannot make it a scheme. Resolving a URL per asset
    /// was a tenth of the normalize stage's time.
    static func href(_ path: String, besideFolder folder: String?, objectURL: URL) -> String? {
        func isPlain(_ b: UInt8) -> Bool {
            TextBytes.isNameByte(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "~")
                || b == UInt8(ascii: "/")
        }
        var relative = path
        // Agency file names are plain: escaped only when they are not.
        if !path.utf8.allSatisfy(isPlain) {
            let hex = Array("0123456789ABCDEF".utf8)
            var escaped: [UInt8] = []
            escaped.reserveCapacity(path.utf8.count + 8)
            for b in path.utf8 {
                if isPlain(b) {
                    escaped.append(b)
                } else {
                    escaped.append(contentsOf: [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
            }
            relative = String(decoding: escaped, as: UTF8.self)
        }
        if let folder, folder.hasSuffix("/") { return folder + relative }
        return URL(string: relative, relativeTo: objectURL)?.absoluteString
    }

    /// The folder of `url` with its trailing `/`, as a string: the base for `href`.
    static func folder(of url: URL?) -> String? {
        url.flatMap { URL(string: ".", relativeTo: $0)?.absoluteString }
    }

    /// The last path component of a name inside an object.
    static func baseName(_ name: String) -> String {
        guard let slash = name.utf8.lastIndex(of: UInt8(ascii: "/")) else { return name }
        return String(Substring(name.utf8[name.utf8.index(after: slash)...]))
    }

    /// The folder part of a name, with its trailing `/` (empty for a bare name).
    static func folderName(_ name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return "" }
        return String(name[...slash])
    }

    static func isMTLName(_ name: String) -> Bool {
        name.hasSuffix("_MTL.txt") || name.hasSuffix("_MTL.json") || name.hasSuffix("_MTL.xml")
    }

    static func mediaType(_ name: String) -> String {
        if name.hasSuffix(".json") { return "application/json" }
        if name.hasSuffix(".xml") { return "application/xml" }
        return "text/plain"
    }

    // MARK: Checks

    /// What every record needs before it may be published, whatever its format.
    static func check(_ r: Record) throws(NormalizeError) {
        guard !r.id.isEmpty else { throw .missing("id") }
        // The id stays the provider's; its folder name is derived from it (ItemFolderName).
        let folder: String
        do {
            folder = try ItemFolderName.encode(r.id)
        } catch {
            throw NormalizeError(field: "id", error.description)
        }
        guard !r.owner.isEmpty else { throw .missing("owner") }
        guard r.datetime != nil || (r.startDatetime != nil && r.endDatetime != nil) else { throw .missing("datetime") }
        if let start = r.startDatetime, let end = r.endDatetime, start > end {
            throw NormalizeError(field: "end_datetime", "is before start_datetime")
        }
        if let geometry = r.geometry { try GeoJSONCheck.check(geometry, bbox: r.bbox) }
        for a in r.assets where a.isLocal {
            guard !a.href.utf8.contains(UInt8(ascii: "/")), !a.href.hasPrefix("."), a.href != "\(folder).json" else {
                throw NormalizeError(field: "assets.\(a.key)", "file name '\(a.href)' is not allowed in an item folder")
            }
        }
    }
}
