import Foundation

// libFuzzer targets for the metadata readers of the normalize stage and the listing parsers
// of the fetch stage, chosen when compiling:
//   -D FUZZ_MTL        Landsat MTL in any encoding (ODL text, JSON, XML), and the _ANG.txt corners
//   -D FUZZ_SENTINEL2  Sentinel-2 SAFE: product metadata, then MTD_TL.xml and manifest.safe
//                      after NUL bytes (NUL is never valid text, so it cannot hide in a file)
//   -D FUZZ_CMR_UMMG   CMR UMM-G JSON (a granule or a search response)
//   -D FUZZ_CMR_ATOM   CMR Atom JSON (`feed.entry`); the same reader, found by the document's shape
//   -D FUZZ_CCSDS      CCSDS space packets; the first byte picks one of the time settings below
//   -D FUZZ_SENTINEL1  Sentinel-1 SAFE: manifest.safe, then the product annotation after a NUL byte
//   -D FUZZ_MODIS      MODIS ECS metadata (*.hdf.xml, with or without its DOCTYPE)
//   -D FUZZ_LISTING    HTTP index page, index file (lines or JSON) and FTP listing lines
//   -D FUZZ_JSON       the JSON parser every stage shares: a full parse, a selective one and a
//                      round trip (what parses must serialize to text that parses to the same)
// A thrown error is a normal outcome; a crash, a precondition failure, an address-sanitizer
// report, a leak or a hang is a finding. What the readers accept must also pass the checks
// of publication and come out as an item that reads back. See Tests/Fuzz/README.md.

#if !FUZZ_LISTING && !FUZZ_JSON
let context = ReaderContext(
    owner: "NASA",
    collection: "fuzz",
    source: "fuzz",
    objectURL: URL(string: "https://example.org/data/object.bin")!
)

/// What the normalize stage does with a record a reader returns: the checks, then the item.
/// An accepted record must serialize to JSON that parses again, with times that read back.
func publish(_ record: Record) {
    do { try Normalizer.check(record) } catch { return }
    let item = STACItemWriter.item(for: record, ingested: Date(timeIntervalSince1970: 1_800_000_000))
    let bytes = item.serialized()
    precondition((try? JSONValue.parse(bytes)) != nil, "item of \(record.id) is not JSON")
    for key in ["datetime", "start_datetime", "end_datetime", "consortium:processed"] {
        guard let text = item["properties"]?[key]?.stringValue else { continue }
        precondition(Timestamp.parse(text) != nil, "\(key) '\(text)' of an accepted record is not RFC 3339")
    }
}
#endif

#if FUZZ_MTL
func fuzz(_ bytes: [UInt8]) {
    if let record = try? LandsatMTLReader.read(bytes, context: context) { publish(record) }
    _ = try? LandsatAngleCorners(parsing: bytes)
}
#elseif FUZZ_SENTINEL2
func fuzz(_ bytes: [UInt8]) {
    let parts = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false).map(Array.init)
    let input = Sentinel2SAFEReader.Input(
        productName: "S2.SAFE/MTD_MSIL2A.xml",
        product: parts[0],
        manifest: parts.count > 2 ? parts[2] : nil,
        granuleName: parts.count > 1 ? "S2.SAFE/GRANULE/L2A_T01/MTD_TL.xml" : nil,
        granule: parts.count > 1 ? parts[1] : nil
    )
    if let record = try? Sentinel2SAFEReader.read(input, context: context) { publish(record) }
}
#elseif FUZZ_SENTINEL1
func fuzz(_ bytes: [UInt8]) {
    let parts = bytes.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false).map(Array.init)
    let input = Sentinel1SAFEReader.Input(
        productName: "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8",
        manifestName: "S1.SAFE/manifest.safe",
        manifest: parts[0],
        annotation: parts.count > 1 ? parts[1] : nil
    )
    if let record = try? Sentinel1SAFEReader.read(input, context: context) { publish(record) }
}
#elseif FUZZ_MODIS
func fuzz(_ bytes: [UInt8]) {
    if let record = try? MODISECSReader.read(bytes, name: "MOD09A1.A2022033.h19v10.061.1.hdf.xml", context: context) {
        publish(record)
    }
}
#elseif FUZZ_JSON
func fuzz(_ bytes: [UInt8]) {
    let full = try? JSONValue.parse(bytes)
    let selected = try? bytes.withUnsafeBufferPointer {
        try JSONValue.parse($0, selecting: .members("id", "properties"))
    }
    // A selective parse checks the skipped members too: it accepts exactly the objects a full parse does.
    if case .object? = full { precondition(selected != nil, "a full parse accepted what a selective one refused") }
    if selected != nil { precondition(full != nil, "a selective parse accepted what a full one refused") }
    guard let full else { return }
    for pretty in [false, true] {
        let text = full.serialized(pretty: pretty)
        guard let again = try? JSONValue.parse(text) else { preconditionFailure("what was written does not parse") }
        precondition(again.serialized(pretty: pretty) == text, "the round trip changed the value")
    }
}
#elseif FUZZ_CMR_UMMG || FUZZ_CMR_ATOM
func fuzz(_ bytes: [UInt8]) {
    guard let output = try? CMRGranuleReader.read(bytes, context: context) else { return }
    for record in output.records { publish(record) }
}
#elseif FUZZ_CCSDS
/// Time settings as sources configure them: CDS and CUC, with and without P-field.
let settings: [PacketTimeConfig] = {
    let epoch = Date(timeIntervalSince1970: -378_691_200)  // 1958-01-01
    return [
        PacketTimeConfig(timeCode: .cds, epoch: epoch),
        PacketTimeConfig(timeCode: .cds, epoch: epoch, apids: [11], offset: 1, microseconds: true),
        PacketTimeConfig(timeCode: .cds, epoch: epoch, pField: true),
        PacketTimeConfig(timeCode: .cuc, epoch: epoch, coarseBytes: 4, fineBytes: 2),
        PacketTimeConfig(
            timeCode: .cuc,
            epoch: Date(timeIntervalSince1970: 315_964_800),
            coarseBytes: 7,
            fineBytes: 10
        ),
        PacketTimeConfig(timeCode: .cuc, epoch: epoch, pField: true),
        PacketTimeConfig(timeCode: .cuc, epoch: epoch, apids: [1, 2, 3], offset: 4, pField: true),
        PacketTimeConfig(timeCode: .cds, epoch: Date(timeIntervalSince1970: 0), offset: 10, pField: true),
    ]
}()

let scratch: String = {
    let base = ProcessInfo.processInfo.environment["EOSHARE_FUZZ_SCRATCH"] ?? "/dev/shm"
    return "\(base)/eoshare-fuzz-ccsds-\(getpid()).bin"
}()

func fuzz(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot write the fuzz input")
    let body = bytes.dropFirst()
    let written = body.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    precondition(written == body.count, "short write of the fuzz input")
    close(fd)
    let file = URL(fileURLWithPath: scratch)
    let chosen = settings[Int(first) % settings.count]
    if let record = try? CCSDSPacketReader.read(file: file, name: "packets.bin", settings: chosen, context: context) {
        publish(record)
    }
    unlink(scratch)
}
#elseif FUZZ_LISTING
func fuzz(_ bytes: [UInt8]) {
    let html = String(decoding: bytes, as: UTF8.self)
    for (_, after) in ListingParser.links(in: html) {
        _ = ListingParser.shownEntry(after)
        _ = ListingParser.listedSize(after)
    }
    _ = try? ListingParser.indexEntries(bytes)
    for line in html.split(whereSeparator: \.isNewline).map(String.init) {
        _ = FTPListing.mlsd(line)
        _ = FTPListing.unix(line)
    }
}
#else
#error("compile with one of the -D FUZZ_… flags listed at the top of this file")
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzz(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
