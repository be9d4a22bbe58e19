import Foundation
import Logging
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOShareEmbargo
@testable import EOShareFeedGeneration
@testable import EOShareFetch
@testable import EOShareNormalize
@testable import EOShareOperations
@testable import EOSharePublish
@testable import EOShareState
@testable import EOShareUnpack

/// The normalize stage: metadata picked by name pattern among an object's files (names may
/// be paths inside an archive), several records per object, and in a real ingest one bad
/// granule quarantined alone while the others publish.
@Suite struct NormalizeStageTests {
    static func object(_ name: String, files: [(name: String, url: URL)], source: String) throws -> UnpackedObject {
        let ref = ObjectRef(source: source, url: URL(string: "https://feed.example.test/\(name)")!, name: name)
        let fetched = FetchedObject(ref: ref, file: files[0].url, size: 1, sha256: "00", etag: nil, lastModified: nil)
        return UnpackedObject(
            fetched: fetched,
            files: try files.map {
                let size = try FileManager.default.attributesOfItem(atPath: $0.url.path)[.size] as? Int ?? 0
                return UnpackedFile(
                    name: $0.name,
                    url: $0.url,
                    size: Int64(size),
                    sha256: String(repeating: "a", count: 64)
                )
            }
        )
    }

    /// A registered format by name (the registry is where formats are named).
    static func format(_ name: String) -> SourceFormat { FormatRegistry.format(named: name)! }

    static func source(_ format: SourceFormat, packets: PacketTimeConfig? = nil) -> SourceConfig {
        SourceConfig(
            id: "src",
            owner: "ESA",
            collection: "c",
            format: format,
            url: URL(string: "https://feed.example.test/")!,
            match: [],
            index: false,
            checksum: .none,
            auth: nil,
            caFile: nil,
            packets: packets
        )
    }

    /// Asset hrefs beside the object: plain names as they are, anything else percent-encoded
    /// so that a `:` cannot turn a file name into a scheme.
    @Test func assetHrefsEscapeWhatIsNotPlain() {
        let object = URL(string: "https://feed.example.test/a/b/obj.tar")!
        let folder = Normalizer.folder(of: object)
        #expect(folder == "https://feed.example.test/a/b/")
        #expect(
            Normalizer.href("GRANULE/x_B02.jp2", besideFolder: folder, objectURL: object)
                == "https://feed.example.test/a/b/GRANULE/x_B02.jp2"
        )
        #expect(
            Normalizer.href("c:d e#é.TIF", besideFolder: folder, objectURL: object)
                == "https://feed.example.test/a/b/c%3Ad%20e%23%C3%A9.TIF"
        )
        #expect(
            Normalizer.href("c:d.TIF", besideFolder: nil, objectURL: object)
                == "https://feed.example.test/a/b/c%3Ad.TIF"
        )
    }

    @Test func sentinel2FromAnArchiveLayout() throws {
        let product = "S2A_MSIL2A_20230625T234621_N0509_R073_T01WCS_20230626T022157.SAFE"
        let files = S2Fixtures.files(product).map { (name: "\(product)/\($0.key)", url: $0.value) }
            .sorted { $0.name < $1.name }
        let object = try Self.object("\(product).zip", files: files, source: "src")
        let normalized = try Normalizer().normalize(object, source: Self.source(Self.format("sentinel2-safe")))
        let record = try #require(normalized.records.first)
        #expect(record.id == "S2A_T01WCS_20230625T234624_L2A")
        // The metadata files in the object travel as local assets, flat in the item folder.
        let local = record.assets.filter(\.isLocal).map(\.key).sorted()
        #expect(local == ["granule_metadata", "product_metadata", "safe_manifest"])
        #expect(record.assets.first { $0.key == "granule_metadata" }?.href == "MTD_TL.xml")
        #expect(
            record.assets.first { $0.key == "blue" }?.href.hasPrefix("https://feed.example.test/\(product)/GRANULE/")
                == true
        )
        #expect(record.properties["view:sun_elevation"] != nil, "MTD_TL.xml was found inside GRANULE/")
    }

    @Test func packetFileThroughTheNormalizer() throws {
        let url = SharedFixtures.url("\(CCSDSFixtures.folder)/\(CCSDSFixtures.jpss)")
        let object = try Self.object(url.lastPathComponent, files: [(url.lastPathComponent, url)], source: "src")
        let normalized = try Normalizer().normalize(
            object,
            source: Self.source(Self.format("ccsds-packets"), packets: CCSDSFixtures.jpssTime)
        )
        let record = try #require(normalized.records.first)
        #expect(record.assets.map(\.key) == ["data"] && record.assets[0].isLocal)
        #expect(record.assets[0].size != nil)
    }

    @Test func anObjectWithOnlyBadRecordsIsQuarantinedWhole() throws {
        let url = SharedFixtures.url("cmr-umm-g/cmrfetch/aerdt_collection.umm_json")
        let object = try Self.object("c.umm_json", files: [("c.umm_json", url)], source: "src")
        let error = #expect(throws: NormalizeError.self) {
            try Normalizer().normalize(object, source: Self.source(Self.format("cmr-umm-g")))
        }
        #expect(
            error?.description.contains("GranuleUR: required field is missing") == true,
            "\(String(describing: error))"
        )
    }

    /// Ids stay the provider's; folder names are a reversible encoding that never collides
    /// and never takes a name the layout uses.
    @Test func folderNamesAreAReversibleCollisionFreeEncodingOfIds() throws {
        #expect(try ItemFolderName.encode("LC08_L2SP_047027_20201204_02_T1") == "LC08_L2SP_047027_20201204_02_T1")
        #expect(try ItemFolderName.encode("PROV:A:1") == "PROV%3AA%3A1")
        #expect(try ItemFolderName.encode("PROV_A_1") == "PROV_A_1")
        #expect(try ItemFolderName.encode("collection.json") == "collection%2Ejson")
        #expect(try ItemFolderName.encode("catalog.json") == "catalog%2Ejson")
        #expect(try ItemFolderName.encode(".") == "%2E")
        #expect(try ItemFolderName.encode("..") == "%2E.")
        #expect(try ItemFolderName.encode(".hidden") == "%2Ehidden")
        #expect(try ItemFolderName.encode("a/b") == "a%2Fb")
        #expect(try ItemFolderName.encode("100%") == "100%25")
        #expect(try ItemFolderName.encode("é") == "%C3%A9")
        #expect(throws: ItemFolderName.Refusal.self) { try ItemFolderName.encode("") }
        #expect(throws: ItemFolderName.Refusal.self) { try ItemFolderName.encode(String(repeating: "a", count: 251)) }
        let ids = ["PROV:A:1", "PROV_A_1", "collection.json", "..", ".", "a/b", "100%", "é", "x\n", "A%3A"]
        let names = try ids.map { try ItemFolderName.encode($0) }
        #expect(Set(names).count == ids.count)
        for (id, name) in zip(ids, names) {
            #expect(ItemFolderName.decode(name) == id)
            #expect(name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x2F })
            #expect(!name.hasPrefix(".") && name != "catalog.json" && name != "collection.json")
        }
        // A name the encoding would not make stands for no id.
        #expect(ItemFolderName.decode("a:b") == nil)
        #expect(ItemFolderName.decode("%3a") == nil)
        #expect(ItemFolderName.decode("%") == nil)
    }

    /// A CMR response with one broken granule, ingested from a local folder: nine granules
    /// publish, one is quarantined with its GranuleUR and field in the reason.
    @Test func ingestQuarantinesOneGranuleAndPublishesTheOthers() async throws {
        let folder = RepoPaths.temporaryFolder("cmr-ingest")
        let feed = folder.appendingPathComponent("feed")
        try FileManager.default.createDirectory(at: feed, withIntermediateDirectories: true)
        let (text, granuleUR) = try CMRGranuleReaderTests.responseWithBadThird {
            $0.replacingOccurrences(of: "\"TemporalExtent\"", with: "\"NoTemporalExtent\"")
        }
        try Data(text.utf8).write(to: feed.appendingPathComponent("aerdt.umm_json"))
        let yaml = """
            version: 1
            state: state/test.sqlite
            shared: shared/
            members:
              - {id: NASA, name: NASA}
              - {id: ESA, name: ESA}
            collections:
              - {id: viirs-aerdt, title: VIIRS Dark Target aerosol}
            sources:
              - {id: cmr, owner: NASA, collection: viirs-aerdt, format: cmr-umm-g, url: feed/}
            embargo:
              rules:
                - {match: {owner: NASA}, clock: acquired, period: P0D, public: P0D}
            """
        let file = folder.appendingPathComponent("pipeline.yml")
        try Data(yaml.utf8).write(to: file)
        let pipeline = try Pipeline.load(from: file)
        let summary = try await IngestRun(
            pipeline: pipeline,
            at: Timestamp.parse("2026-11-21T12:00:00Z")!,
            logger: Logger(label: "test")
        ).run()
        #expect(summary.records == 9)
        #expect(summary.quarantined == 1)
        let ledger = try String(contentsOf: pipeline.ledgerPath, encoding: .utf8)
        let line = try #require(ledger.split(separator: "\n").first { $0.contains("\"quarantine\"") })
        #expect(line.contains("record \(granuleUR)") && line.contains("TemporalExtent: required field is missing"))
        #expect(Trees.ids(pipeline.sharedRoot, "ESA", collection: "viirs-aerdt").count == 9)
        let failures = try STACValidator.validateRecursively(
            pipeline.sharedRoot.appendingPathComponent("ESA/catalog.json")
        )
        #expect(failures.isEmpty, "\(failures)")
    }
}
