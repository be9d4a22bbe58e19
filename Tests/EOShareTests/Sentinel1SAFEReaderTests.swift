import Foundation
import Logging
import Testing

@testable import EOShare

/// The Sentinel-1 SAFE fixtures (manifests; the product annotations are not among them), the
/// stactools-sentinel1 example items, and stactools-sentinel1 run here on a copy of each
/// product whose product annotations are written by the test with only the raster size
/// (all stactools reads of them).
enum S1Fixtures {
    static let folder = "sentinel1"
    /// Product folders (relative to the fixture folder) that hold a manifest.safe.
    static let products: [String] = {
        let root = SharedFixtures.url(folder)
        var out: [String] = []
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        while let url = walker?.nextObject() as? URL {
            guard url.lastPathComponent == "manifest.safe" else { continue }
            out.append(String(url.deletingLastPathComponent().path.dropFirst(root.path.count + 1)))
        }
        return out.sorted()
    }()

    static let sourceFolder = URL(string: "https://data.example.test/sentinel1/")!

    static func context(_ product: String) -> ReaderContext {
        ReaderContext(
            owner: "ESA",
            collection: "sentinel-1",
            source: "esa-s1",
            objectURL: sourceFolder.appendingPathComponent("\(product.split(separator: "/").last!).zip")
        )
    }

    static func input(_ product: String, annotation: [UInt8]? = nil) throws -> Sentinel1SAFEReader.Input {
        let name = String(product.split(separator: "/").last!)
        return Sentinel1SAFEReader.Input(
            productName: name.hasSuffix(".SAFE") ? String(name.dropLast(5)) : name,
            manifestName: "\(name)/manifest.safe",
            manifest: try SharedFixtures.bytes("\(folder)/\(product)/manifest.safe"),
            annotation: annotation
        )
    }

    static func read(_ product: String, annotation: [UInt8]? = nil) throws -> Record {
        try Sentinel1SAFEReader.read(input(product, annotation: annotation), context: context(product))
    }

    /// The example item of a product, when stactools-sentinel1 ships one.
    static func reference(_ product: String) throws -> JSONValue? {
        let name = String(product.split(separator: "/").last!)
        let id = String((name.hasSuffix(".SAFE") ? String(name.dropLast(5)) : name).dropLast(5))
        for kind in ["grd", "slc"] {
            let path = "stac-reference/stactools-sentinel1/examples/\(kind)/\(id)/\(id).json"
            if FileManager.default.fileExists(atPath: SharedFixtures.url(path).path) {
                return try JSONValue.parse(SharedFixtures.bytes(path))
            }
        }
        return nil
    }

    /// The raster size the test gives each product: the example item's, else a made-up one.
    static func shape(_ product: String) throws -> [Int] {
        let shape = try reference(product)?["properties"]?["proj:shape"]?.arrayValue?.compactMap(\.doubleValue)
        return shape.map { $0.map { Int($0) } } ?? [1000, 2000]
    }

    static func annotation(_ shape: [Int]) -> [UInt8] {
        Array(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <product><imageAnnotation><imageInformation><numberOfSamples>\(shape[0])</numberOfSamples>\
            <numberOfLines>\(shape[1])</numberOfLines></imageInformation></imageAnnotation></product>
            """.utf8
        )
    }

    /// Copies of the products with their product annotations written, in a temporary folder.
    static let completed: URL = {
        let root = RepoPaths.temporaryFolder("s1-products")
        for product in products {
            let target = root.appendingPathComponent(product)
            try? FileManager.default.createDirectory(
                at: target.appendingPathComponent("annotation"),
                withIntermediateDirectories: true
            )
            guard let manifest = try? SharedFixtures.bytes("\(folder)/\(product)/manifest.safe"),
                let shape = try? shape(product)
            else { continue }
            try? Data(manifest).write(to: target.appendingPathComponent("manifest.safe"))
            let text = String(decoding: manifest, as: UTF8.self)
            for part in text.components(separatedBy: "href=\"./annotation/s1").dropFirst() {
                let name = "s1" + part.prefix { $0 != "\"" }
                try? Data(annotation(shape)).write(to: target.appendingPathComponent("annotation/\(name)"))
            }
        }
        return root
    }()

    static let stactools: [String: JSONValue] = {
        let paths = products.map { completed.appendingPathComponent($0).path }
        let answers = PeerTools.byInput(PeerTools.run("stactools_sentinel1.py", paths))
        var out: [String: JSONValue] = [:]
        for product in products { out[product] = answers[completed.appendingPathComponent(product).path] }
        return out
    }()
}

@Suite("Sentinel-1 SAFE reader")
struct Sentinel1SAFEReaderTests {
    @Test func fixturesArePresent() {
        #expect(S1Fixtures.products.count == 5)
    }

    /// The three products stactools-sentinel1 has example items for, read from the manifest
    /// alone: everything but the raster size, which only the product annotation gives.
    @Test(arguments: S1Fixtures.products)
    func agreesWithTheReferenceItem(_ product: String) throws {
        guard let theirs = try S1Fixtures.reference(product) else { return }
        let record = try S1Fixtures.read(product)
        try Self.compare(record, with: theirs, withShape: false)
    }

    /// Every product, with product annotations that give the raster size, against
    /// stactools-sentinel1 run on the same files.
    @Test(arguments: S1Fixtures.products)
    func agreesWithStactoolsRunHere(_ product: String) throws {
        let answer = try #require(S1Fixtures.stactools[product], "stactools answered for \(product)")
        let theirs = try #require(answer["item"], "stactools failed: \(answer["error"]?.stringValue ?? "")")
        let record = try S1Fixtures.read(product, annotation: S1Fixtures.annotation(try S1Fixtures.shape(product)))
        try Self.compare(record, with: theirs, withShape: true)
    }

    /// Parity fields. Deliberate differences (see the reader's doc comment): an SLC has a
    /// measurement asset per swath where stactools keeps the last swath's; no `eo`.
    static func compare(_ record: Record, with theirs: JSONValue, withShape: Bool) throws {
        var tp = try #require(theirs["properties"])
        // The example items are STAC 1.0 with projection v1.1 (`proj:epsg`); ours, and
        // stactools' with the venv's pystac, projection v2 (`proj:code`).
        if case .object(var o) = tp, let epsg = o["proj:epsg"]?.doubleValue {
            o["proj:epsg"] = nil
            o["proj:code"] = .string("EPSG:\(Int(epsg))")
            tp = .object(o)
        }
        let ours = record.properties
        #expect(record.id == theirs["id"]?.stringValue)
        for (date, key) in [
            (record.datetime, "datetime"), (record.startDatetime, "start_datetime"),
            (record.endDatetime, "end_datetime"),
        ] {
            let a = try #require(date, "\(key)")
            let b = try #require(tp[key]?.stringValue.flatMap(Timestamp.parse), "\(key)")
            #expect(abs(a.timeIntervalSince(b)) < 0.001, "\(key)")
        }
        let bbox = try #require(record.bbox)
        let theirValues = theirs["bbox"]?.arrayValue?.compactMap { $0.doubleValue }
        let theirBBox = try #require(theirValues)
        for (a, b) in zip(bbox, theirBBox) { #expect(abs(a - b) <= 1e-6, "bbox \(bbox) vs \(theirBBox)") }
        var keys = Set(tp.objectValue?.keys ?? []).filter {
            $0.hasPrefix("sar:") || $0.hasPrefix("sat:") || $0.hasPrefix("s1:") || $0.hasPrefix("processing:")
                || $0.hasPrefix("proj:")
        }
        keys.formUnion(["platform", "constellation", "providers"])
        if !withShape { keys.subtract(["proj:shape", "proj:transform", "s1:shape"]) }
        for key in keys.sorted() {
            if key == "sat:anx_datetime" || key == "s1:processing_datetime" {
                let a = ours[key]?.stringValue.flatMap(Timestamp.parse)
                let b = tp[key]?.stringValue.flatMap(Timestamp.parse)
                #expect(a != nil && a == b, "\(key)")
            } else if key == "proj:transform" {
                let a = ours[key]?.arrayValue?.compactMap(\.doubleValue) ?? []
                let b = tp[key]?.arrayValue?.compactMap(\.doubleValue) ?? []
                #expect(a.count == 6 && zip(a, b).allSatisfy { abs($0 - $1) < 1e-9 }, "\(key) \(a) vs \(b)")
            } else {
                #expect(
                    ours[key] == tp[key],
                    "\(key): ours \(String(describing: ours[key])), theirs \(String(describing: tp[key]))"
                )
            }
        }
        let extra = Set(ours.keys.filter { $0.contains(":") }).subtracting(tp.objectValue?.keys ?? [])
        #expect(extra.isEmpty, "properties only we write: \(extra)")
        let ourKeys = Set(record.assets.map(\.key))
        let theirKeys = Set(theirs["assets"]?.objectValue?.keys ?? [])
        #expect(theirKeys.isSubset(of: ourKeys), "only theirs: \(theirKeys.subtracting(ourKeys))")
        let onlyOurs = ourKeys.subtracting(theirKeys)
        let isSLC = ours["sar:product_type"] == "SLC"
        #expect(onlyOurs.allSatisfy { isSLC && !$0.hasPrefix("schema-") }, "only ours: \(onlyOurs)")
        let extensions = Set(record.stacExtensions)
        let theirExtensions = Set(
            theirs["stac_extensions"]?.arrayValue?.compactMap(\.stringValue).map {
                $0.replacingOccurrences(of: "projection/v1.1.0", with: "projection/v2.0.0")
            } ?? []
        )
        #expect(extensions == theirExtensions.subtracting(["https://stac-extensions.github.io/eo/v1.1.0/schema.json"]))
    }

    @Test func everyItemValidates() throws {
        var items: [JSONValue] = []
        for product in S1Fixtures.products {
            let ingested = Date(timeIntervalSince1970: 1_800_000_000)
            items.append(STACItemWriter.item(for: try S1Fixtures.read(product), ingested: ingested))
            let annotation = S1Fixtures.annotation(try S1Fixtures.shape(product))
            var record = try S1Fixtures.read(product, annotation: annotation)
            record.id += "_shape"
            items.append(STACItemWriter.item(for: record, ingested: ingested))
        }
        let failures = try STACValidator.validateItems(items, in: RepoPaths.temporaryFolder("s1-items"))
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func assetsKeepTheirPlaceInTheProduct() throws {
        let product = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8.SAFE"
        let record = try S1Fixtures.read(product)
        let vv = try #require(record.assets.first { $0.key == "vv" })
        #expect(
            vv.href == "https://data.example.test/sentinel1/\(product)/measurement/"
                + "s1a-iw-grd-vv-20210809t173953-20210809t174018-039156-049f13-001.tiff"
        )
        #expect(vv.roles == ["data"] && vv.mediaType == "image/tiff; application=geotiff")
        let slc = try S1Fixtures.read("S1A_IW_SL1__1_SH_20141031T095929_20141031T100002_003072_003842_91FC.SAFE")
        #expect(Set(slc.assets.map(\.key)).isSuperset(of: ["iw1-hh", "iw2-hh", "iw3-hh", "schema-product-iw2-hh"]))
    }

    // MARK: What is missing

    static func normalize(_ files: [(name: String, url: URL)], objectName: String) throws -> NormalizedObject {
        let object = try NormalizeStageTests.object(objectName, files: files, source: "src")
        return try Normalizer().normalize(
            object,
            source: NormalizeStageTests.source(FormatRegistry.format(named: "sentinel1-safe")!)
        )
    }

    @Test func aProductWithoutItsManifestIsNamed() throws {
        let product = "S1C_S4_GRDH_1SDH_20250118T171404_20250118T171421_000638_000538_4B8B.SAFE"
        let noise = "annotation/calibration/noise-s1c-s4-grd-hh-20250118t171404-20250118t171421-000638-000538-001.xml"
        let error = #expect(throws: NormalizeError.self) {
            try Self.normalize(
                [(name: "\(product)/\(noise)", url: SharedFixtures.url("sentinel1/\(product)/\(noise)"))],
                objectName: "\(product).zip"
            )
        }
        #expect(error?.description == "no Sentinel-1 manifest.safe in the object (1 files)")
    }

    @Test func theProductNameComesFromTheFolderOrTheObject() throws {
        let product = "S1A_EW_GRDM_1SDH_20221130T014342_20221130T014446_046117_058549_BB15"
        let manifest = SharedFixtures.url("sentinel1/\(product)/manifest.safe")
        let inFolder = try Self.normalize([(name: "\(product)/manifest.safe", url: manifest)], objectName: "x.tar")
        #expect(inFolder.records.map(\.id) == [String(product.dropLast(5))])
        let bare = try Self.normalize([(name: "manifest.safe", url: manifest)], objectName: "\(product).SAFE.zip")
        #expect(bare.records.map(\.id) == [String(product.dropLast(5))])
        let error = #expect(throws: NormalizeError.self) {
            try Self.normalize([(name: "manifest.safe", url: manifest)], objectName: "manifest.safe")
        }
        #expect(error?.field == "product name", "\(String(describing: error))")
    }

    @Test func badManifestsAreNamed() throws {
        let product = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8.SAFE"
        func failure(_ edit: (String) -> String) throws -> NormalizeError {
            var input = try S1Fixtures.input(product)
            input.manifest = Array(edit(String(decoding: input.manifest, as: UTF8.self)).utf8)
            let error = #expect(throws: NormalizeError.self) {
                try Sentinel1SAFEReader.read(input, context: S1Fixtures.context(product))
            }
            return try #require(error)
        }
        #expect(
            try failure { $0.replacingOccurrences(of: "gml:coordinates", with: "gml:coords") }.field
                == "gml:coordinates"
        )
        #expect(
            try failure { $0.replacingOccurrences(of: "46.033890,1.512143", with: "146.0,1.5") }.field
                == "gml:coordinates"
        )
        #expect(
            try failure { $0.replacingOccurrences(of: "safe:startTime", with: "safe:beginTime") }.field == "startTime"
        )
        #expect(try failure { $0.replacingOccurrences(of: ">ASCENDING<", with: ">SIDEWAYS<") }.field == "pass")
        let broken = try failure { $0.replacingOccurrences(of: "</safe:platform>", with: "</safe:platforms>") }
        #expect(broken.reason.contains("malformed manifest.safe (XML), line"), "\(broken)")
    }

    /// End to end: a local folder holding a GRD and an SLC product as `.tar.gz` (manifests
    /// only, as the fixtures are) publishes one item each into each member's tree, the
    /// manifest beside the item and the other files as hrefs at the source.
    @Test func aLocalFolderSourcePublishes() async throws {
        let folder = RepoPaths.temporaryFolder()
        let feed = folder.appendingPathComponent("feed")
        try FileManager.default.createDirectory(at: feed, withIntermediateDirectories: true)
        for product in [
            "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8.SAFE",
            "S1A_IW_SL1__1_SH_20141031T095929_20141031T100002_003072_003842_91FC.SAFE",
        ] {
            let tar = Process()
            tar.executableURL = URL(fileURLWithPath: "/bin/tar")
            tar.arguments = [
                "czf", feed.appendingPathComponent("\(product).tar.gz").path, "-C",
                SharedFixtures.url(S1Fixtures.folder).path, product,
            ]
            try tar.run()
            tar.waitUntilExit()
            #expect(tar.terminationStatus == 0)
        }
        let file = folder.appendingPathComponent("p.yml")
        try Data(
            """
            version: 1
            members: [{id: ESA}, {id: NASA}]
            collections: [{id: sentinel-1}]
            sources: [{id: s1, owner: ESA, collection: sentinel-1, format: sentinel1-safe, url: feed/}]
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
        #expect(s.records == 2 && s.quarantined == 0 && s.published == 4)
        for id in [
            "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13",
            "S1A_IW_SL1__1_SH_20141031T095929_20141031T100002_003072_003842",
        ] {
            let itemURL = try #require(Trees.item(p.sharedRoot, "NASA", "sentinel-1", id))
            let item = try JSONValue.parse(Data(contentsOf: itemURL))
            #expect(item["properties"]?["sar:instrument_mode"] == "IW")
            #expect(item["assets"]?["safe-manifest"]?["href"] == "manifest.safe")
            let manifest = itemURL.deletingLastPathComponent().appendingPathComponent("manifest.safe")
            #expect(FileManager.default.fileExists(atPath: manifest.path))
        }
        let failures = try STACValidator.validateRecursively(p.sharedRoot.appendingPathComponent("NASA/catalog.json"))
        #expect(failures.isEmpty, "\(failures)")
    }
}
