import Foundation
import Logging
import Testing

@testable import EOShare

/// The MODIS ECS fixtures (`*.hdf.xml`), the stactools-modis reference items (made by the
/// stactools-modis of the fixtures' snapshot) and a fresh run of the stactools-modis release
/// in the test venv.
enum MODISFixtures {
    static let folder = "modis-ecs-xml"
    static let files: [String] = SharedFixtures.fileNames(in: folder).filter { $0.hasSuffix(".hdf.xml") }
    static let objectFolder = URL(string: "https://data.example.test/modis/")!

    static func read(_ file: String) throws -> Record {
        let context = ReaderContext(
            owner: "NASA",
            collection: "modis",
            source: "lpdaac",
            objectURL: objectFolder.appendingPathComponent(file)
        )
        return try MODISECSReader.read(SharedFixtures.bytes("\(folder)/\(file)"), name: file, context: context)
    }

    /// `MOD09A1.A2022033.h19v10.061.2022042043514.hdf.xml` → its reference item.
    static func reference(_ file: String) throws -> JSONValue {
        let id = file.split(separator: ".").prefix(4).joined(separator: ".")
        let product = String(file.prefix { $0 != "." })
        return try JSONValue.parse(
            SharedFixtures.bytes("stac-reference/stactools-modis/\(product)/061/\(id)/\(id).json")
        )
    }

    static let stactools: [String: JSONValue] = {
        let answers = PeerTools.byInput(
            PeerTools.run("stactools_modis.py", files.map { SharedFixtures.url("\(folder)/\($0)").path })
        )
        var out: [String: JSONValue] = [:]
        for (path, answer) in answers { out[URL(fileURLWithPath: path).lastPathComponent] = answer }
        return out
    }()
}

@Suite("MODIS ECS reader")
struct MODISECSReaderTests {
    @Test func fixturesArePresent() {
        #expect(MODISFixtures.files.count == 6)
    }

    /// Parity with the reference items: id, footprint bbox (the tile's), datetimes, tile
    /// properties, platform, instruments, cloud cover and asset keys.
    @Test(arguments: MODISFixtures.files)
    func agreesWithTheReferenceItem(_ file: String) throws {
        let record = try MODISFixtures.read(file)
        let theirs = try MODISFixtures.reference(file)
        let tp = try #require(theirs["properties"])
        #expect(record.id == theirs["id"]?.stringValue)
        try Self.compareTimes(record, tp)
        let bbox = try #require(record.bbox)
        let theirValues = theirs["bbox"]?.arrayValue?.compactMap { $0.doubleValue }
        let theirBBox = try #require(theirValues)
        for (a, b) in zip(bbox, theirBBox) { #expect(abs(a - b) <= 1e-5, "bbox \(bbox) vs \(theirBBox)") }
        // Their outline (pixel-densified, simplified) lies on ours within a pixel.
        let theirRing = try #require(theirs["geometry"]?["coordinates"]?.arrayValue?.first?.arrayValue)
        #expect(theirRing.count >= 5)
        for key in [
            "platform", "instruments", "modis:horizontal-tile", "modis:vertical-tile", "modis:tile-id",
            "eo:cloud_cover",
        ] {
            #expect(record.properties[key] == tp[key], "\(key): \(String(describing: record.properties[key]))")
        }
        #expect(record.stacExtensions == theirs["stac_extensions"]?.arrayValue?.compactMap(\.stringValue))
        #expect(Set(record.assets.map(\.key)) == Set(theirs["assets"]?.objectValue?.keys ?? []))
    }

    /// The stactools-modis release in the venv (0.2.x) is older than the reference: its ids
    /// keep the production stamp, its bbox is the granule's GPolygon (within half a degree of
    /// the tile) and it gives cloud cover only from QAPERCENTNOTPRODUCEDCLOUD.
    @Test(arguments: MODISFixtures.files)
    func agreesWithStactoolsRunHere(_ file: String) throws {
        let answer = try #require(MODISFixtures.stactools[file], "stactools answered for \(file)")
        let theirs = try #require(answer["item"], "stactools failed: \(answer["error"]?.stringValue ?? "")")
        let record = try MODISFixtures.read(file)
        let tp = try #require(theirs["properties"])
        let theirID = try #require(theirs["id"]?.stringValue)
        #expect(theirID.hasPrefix(record.id + "."))
        try Self.compareTimes(record, tp)
        let bbox = try #require(record.bbox)
        let theirValues = theirs["bbox"]?.arrayValue?.compactMap { $0.doubleValue }
        let theirBBox = try #require(theirValues)
        for (a, b) in zip(bbox, theirBBox) { #expect(abs(a - b) <= 0.5, "bbox \(bbox) vs \(theirBBox)") }
        for key in ["platform", "instruments", "modis:horizontal-tile", "modis:vertical-tile", "modis:tile-id"] {
            #expect(record.properties[key] == tp[key], "\(key)")
        }
        if let cloud = tp["eo:cloud_cover"] { #expect(record.properties["eo:cloud_cover"] == cloud) }
        #expect(Set(record.assets.map(\.key)) == Set(theirs["assets"]?.objectValue?.keys ?? []))
    }

    static func compareTimes(_ record: Record, _ tp: JSONValue) throws {
        for (ours, key) in [
            (record.startDatetime, "start_datetime"), (record.endDatetime, "end_datetime"),
            (record.datetime, "datetime"),
        ] {
            let theirs = tp[key]?.stringValue.flatMap(Timestamp.parse)
            #expect((ours == nil) == (theirs == nil), "\(key)")
            if let ours, let theirs { #expect(abs(ours.timeIntervalSince(theirs)) < 0.001, "\(key)") }
        }
        for key in ["created", "updated"] {
            let a = try #require(record.properties[key]?.stringValue.flatMap(Timestamp.parse))
            let b = try #require(tp[key]?.stringValue.flatMap(Timestamp.parse))
            #expect(abs(a.timeIntervalSince(b)) < 0.001, "\(key)")
        }
    }

    @Test func everyItemValidates() throws {
        let items = try MODISFixtures.files.map {
            STACItemWriter.item(for: try MODISFixtures.read($0), ingested: Date(timeIntervalSince1970: 1_800_000_000))
        }
        let failures = try STACValidator.validateItems(items, in: RepoPaths.temporaryFolder("modis-items"))
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func theHDFIsAnAssetBesideTheMetadata() throws {
        let file = "MOD09A1.A2022033.h19v10.061.2022042043514.hdf.xml"
        let record = try MODISFixtures.read(file)
        let hdf = try #require(record.assets.first { $0.key == "hdf" })
        #expect(hdf.href == "https://data.example.test/modis/MOD09A1.A2022033.h19v10.061.2022042043514.hdf")
        #expect(hdf.mediaType == "application/x-hdf" && hdf.roles == ["data"])
        // Record datetime: the range, no single instant (except the mid-range MCD43 products).
        #expect(record.datetime == nil && record.startDatetime != nil && record.endDatetime != nil)
    }

    // MARK: Bad input

    static func failure(_ edit: (String) -> String) throws -> NormalizeError {
        let file = "MOD10A1.A2022040.h11v05.061.2022042042026.hdf.xml"
        let text = edit(String(decoding: try SharedFixtures.bytes("\(MODISFixtures.folder)/\(file)"), as: UTF8.self))
        let context = ReaderContext(owner: "NASA", collection: "m", source: "s", objectURL: MODISFixtures.objectFolder)
        let error = #expect(throws: NormalizeError.self) {
            try MODISECSReader.read(Array(text.utf8), name: file, context: context)
        }
        return try #require(error)
    }

    @Test(arguments: [
        ("<RangeBeginningDate>", "RangeBeginningDate: required field is missing"),
        ("<LocalGranuleID>", "LocalGranuleID: required field is missing"),
    ])
    func missingFieldIsNamed(_ tag: String, _ message: String) throws {
        let close = tag.replacingOccurrences(of: "<", with: "</")
        let error = try Self.failure {
            $0.replacingOccurrences(of: tag, with: "<X\(tag.dropFirst())").replacingOccurrences(
                of: close,
                with: "</X\(close.dropFirst(2))"
            )
        }
        #expect(error.description == message)
    }

    @Test func badValuesAreNamed() throws {
        let tile = try Self.failure {
            $0.replacingOccurrences(
                of: "<PSAName>HORIZONTALTILENUMBER</PSAName>\n                <PSAValue>11",
                with: "<PSAName>HORIZONTALTILENUMBER</PSAName>\n                <PSAValue>99"
            )
        }
        #expect(tile.field == "HORIZONTALTILENUMBER")
        let date = try Self.failure {
            $0.replacingOccurrences(of: "2022-02-09</RangeEndingDate>", with: "2022-02-30</RangeEndingDate>")
        }
        #expect(date.field == "RangeEndingDate")
    }

    /// The DTD is named, never read; a DOCTYPE with an internal subset (where entities are
    /// declared) is refused, so no entity is ever expanded.
    @Test func anInternalSubsetIsRefused() throws {
        let error = try Self.failure {
            $0.replacingOccurrences(
                of: "ScienceGranuleMetadata.dtd\">",
                with: "ScienceGranuleMetadata.dtd\" [<!ENTITY x \"y\">]>"
            )
        }
        #expect(error.reason.contains("DOCTYPE with an internal subset"), "\(error)")
    }

    /// End to end: a local folder of `.hdf.xml` files publishes one item per granule into each
    /// member's tree, with the metadata file beside it; the HDF (not in the folder) is left
    /// out rather than published as a path of this machine.
    @Test func aLocalFolderSourcePublishes() async throws {
        let folder = RepoPaths.temporaryFolder()
        let file = folder.appendingPathComponent("p.yml")
        try Data(
            """
            version: 1
            members: [{id: NASA}, {id: ESA}]
            collections: [{id: modis}]
            sources: [{id: lpdaac, owner: NASA, collection: modis, format: modis-ecs, match: ["*.hdf.xml"],
                       url: \(SharedFixtures.url(MODISFixtures.folder).path)/}]
            embargo:
              rules: [{clock: acquired, period: P30D}]
            """.utf8
        ).write(to: file)
        let p = try Pipeline.load(from: file)
        let s = try await IngestRun(
            pipeline: p,
            at: Timestamp.parse("2026-11-21T00:00:00Z")!,
            logger: Logger(label: "test")
        )
        .run()
        #expect(s.records == 6 && s.quarantined == 0 && s.published == 12)
        let itemURL = try #require(Trees.item(p.sharedRoot, "ESA", "modis", "MOD09A1.A2022033.h19v10.061"))
        let item = try JSONValue.parse(Data(contentsOf: itemURL))
        #expect(item["properties"]?["start_datetime"] == "2022-02-02T00:00:00Z")
        let metadata = try #require(item["assets"]?["metadata"]?["href"]?.stringValue)
        #expect(
            FileManager.default.fileExists(
                atPath: itemURL.deletingLastPathComponent().appendingPathComponent(metadata).path
            )
        )
        #expect(item["assets"]?["hdf"] == nil)
        let failures = try STACValidator.validateRecursively(p.sharedRoot.appendingPathComponent("ESA/catalog.json"))
        #expect(failures.isEmpty, "\(failures)")
    }
}
