import EOShare
import Foundation
import Testing

/// The Sentinel-2 SAFE fixtures, read as the Normalizer reads an unpacked product, and the
/// stactools-sentinel2 items: the reference outputs and a fresh run in the test venv.
enum S2Fixtures {
    static let folder = "sentinel2"
    static let referenceFolder = "stac-reference/stactools-sentinel2"
    static let products: [String] = SharedFixtures.fileNames(in: folder).filter { $0.hasSuffix(".SAFE") }

    /// The product's metadata files by their path inside the .SAFE folder.
    static func files(_ product: String) -> [String: URL] {
        let root = SharedFixtures.url("\(folder)/\(product)")
        var out: [String: URL] = [:]
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        while let url = walker?.nextObject() as? URL {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue
            else { continue }
            out[String(url.path.dropFirst(root.path.count + 1))] = url
        }
        return out
    }

    static func input(_ product: String) throws -> Sentinel2SAFEReader.Input {
        let files = files(product)
        let productName = try #require(files.keys.first { $0.hasPrefix("MTD_MSIL") })
        let granuleName = files.keys.first { $0.hasSuffix("/MTD_TL.xml") }
        func bytes(_ name: String?) throws -> [UInt8]? {
            guard let name, let url = files[name] else { return nil }
            return Array(try Data(contentsOf: url))
        }
        return Sentinel2SAFEReader.Input(
            productName: "\(product)/\(productName)",
            product: try #require(try bytes(productName)),
            manifest: try bytes("manifest.safe"),
            granuleName: granuleName.map { "\(product)/\($0)" },
            granule: try bytes(granuleName)
        )
    }

    static let sourceFolder = URL(string: "https://data.example.test/sentinel2/")!

    static func read(_ product: String) throws -> Record {
        let context = ReaderContext(
            owner: "ESA",
            collection: "sentinel-2-l2a",
            source: "esa-s2",
            objectURL: sourceFolder.appendingPathComponent("\(product).zip")
        )
        return try Sentinel2SAFEReader.read(input(product), context: context)
    }

    static func reference(_ product: String) throws -> JSONValue {
        try JSONValue.parse(SharedFixtures.bytes("\(referenceFolder)/\(product)/expected_output.json"))
    }

    /// stactools-sentinel2 on every fixture product at once (it needs MTD_TL.xml: products
    /// without it answer with an error).
    static let stactools: [String: JSONValue] = {
        let answers = PeerTools.byInput(
            PeerTools.run("stactools_sentinel2.py", products.map { SharedFixtures.url("\(folder)/\($0)").path })
        )
        var out: [String: JSONValue] = [:]
        for (path, answer) in answers { out[URL(fileURLWithPath: path).lastPathComponent] = answer }
        return out
    }()

    static func hasGranule(_ product: String) -> Bool { files(product).keys.contains { $0.hasSuffix("MTD_TL.xml") } }
}

@Suite("Sentinel-2 SAFE reader")
struct Sentinel2SAFEReaderTests {
    @Test func fixturesArePresent() {
        #expect(S2Fixtures.products.count == 7)
    }

    @Test(arguments: S2Fixtures.products)
    func agreesWithTheReferenceItem(_ product: String) throws {
        try Self.compare(try S2Fixtures.read(product), with: try S2Fixtures.reference(product), product: product)
    }

    @Test(arguments: S2Fixtures.products)
    func agreesWithStactoolsRunHere(_ product: String) throws {
        let answer = try #require(S2Fixtures.stactools[product], "stactools answered for \(product)")
        guard S2Fixtures.hasGranule(product) else {
            // stactools needs GRANULE/*/MTD_TL.xml, which these fixtures leave out; the
            // reference item (made from the whole product) is compared instead.
            #expect(answer["error"] != nil)
            return
        }
        let theirs = try #require(answer["item"], "stactools failed: \(answer["error"]?.stringValue ?? "")")
        try Self.compare(try S2Fixtures.read(product), with: theirs, product: product)
    }

    /// The issue's fields. Deliberate differences, by field:
    /// - without MTD_TL.xml the tile-mean sun and view angles are not in the object: we omit
    ///   `view:*` rather than guess (the reference had the whole product);
    /// - `eo:cloud_cover` then comes from the product's Cloud_Coverage_Assessment, which for
    ///   these products equals the tile's CLOUDY_PIXEL_PERCENTAGE to 1e-4.
    static func compare(_ record: Record, with theirs: JSONValue, product: String) throws {
        let tp = try #require(theirs["properties"])
        let ours = record.properties
        #expect(record.id == theirs["id"]?.stringValue)
        let theirDatetime = try #require(tp["datetime"]?.stringValue.flatMap { Timestamp.parse($0) })
        let datetime = try #require(record.datetime)
        #expect(abs(datetime.timeIntervalSince(theirDatetime)) < 0.001)
        // Both take the footprint from the product's EXT_POS_LIST.
        let bbox = try #require(record.bbox)
        let theirValues = theirs["bbox"]?.arrayValue?.compactMap { $0.doubleValue }
        let theirBBox = try #require(theirValues)
        for (a, b) in zip(bbox, theirBBox) { #expect(abs(a - b) <= 1e-3, "bbox \(bbox) vs \(theirBBox)") }
        for key in ["platform", "instruments", "constellation", "proj:code", "sat:relative_orbit", "sat:orbit_state"] {
            #expect(ours[key] == tp[key], "\(key)")
        }
        for key in ["mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square", "grid:code"] {
            #expect(ours[key] == tp[key], "\(key)")
        }
        for key in ["s2:processing_baseline", "s2:product_uri", "s2:datatake_id", "s2:datastrip_id", "s2:tile_id"] {
            #expect(ours[key] == tp[key], "\(key)")
        }
        let cloud = try #require(ours["eo:cloud_cover"]?.doubleValue)
        let theirCloud = try #require(tp["eo:cloud_cover"]?.doubleValue)
        #expect(abs(cloud - theirCloud) <= 1e-4)
        if S2Fixtures.hasGranule(product) {
            for key in ["view:sun_azimuth", "view:sun_elevation", "view:azimuth", "view:incidence_angle"] {
                let a = try #require(ours[key]?.doubleValue, "\(key)")
                let b = try #require(tp[key]?.doubleValue, "\(key)")
                #expect(abs(a - b) <= 0.01, "\(key) \(a) vs \(b)")
            }
            for (key, value) in tp.objectValue?.entries ?? [] where key.hasSuffix("_percentage") {
                #expect(ours[key]?.doubleValue == value.doubleValue, "\(key)")
            }
        } else {
            #expect(!ours.keys.contains { $0.hasPrefix("view:") })
        }
        let keys = Set(record.assets.map(\.key))
        let theirKeys = Set(theirs["assets"]?.objectValue?.keys ?? [])
        #expect(
            keys == theirKeys,
            "only ours: \(keys.subtracting(theirKeys)), only theirs: \(theirKeys.subtracting(keys))"
        )
    }

    @Test func everyItemValidates() throws {
        let items = try S2Fixtures.products.map {
            STACItemWriter.item(for: try S2Fixtures.read($0), ingested: Date(timeIntervalSince1970: 1_800_000_000))
        }
        let failures = try STACValidator.validateItems(items, in: RepoPaths.temporaryFolder("s2-items"))
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func antimeridianProductSplits() throws {
        let record = try S2Fixtures.read("S2A_MSIL2A_20230625T234621_N0509_R073_T01WCS_20230626T022157.SAFE")
        #expect(record.geometry?["type"]?.stringValue == "MultiPolygon")
        let bbox = try #require(record.bbox)
        #expect(bbox[0] > 179 && bbox[2] < -179)
    }

    @Test func assetsKeepTheirPlaceInTheProduct() throws {
        let product = "S2A_MSIL2A_20230625T234621_N0509_R073_T01WCS_20230626T022157.SAFE"
        let record = try S2Fixtures.read(product)
        let blue = try #require(record.assets.first { $0.key == "blue" })
        #expect(
            blue.href == "https://data.example.test/sentinel2/\(product)/GRANULE/L2A_T01WCS_A041826_20230625T234624/"
                + "IMG_DATA/R10m/T01WCS_20230625T234621_B02_10m.jp2"
        )
        #expect(blue.mediaType == "image/jp2")
        #expect(blue.extra["gsd"] == .int(10))
        let blue20 = try #require(record.assets.first { $0.key == "blue_20m" })
        #expect(blue20.extra["gsd"] == nil && blue20.title == "Blue - 20m")
        let cog = try S2Fixtures.read("S2B_MSIL2A_20220413T150759_N0400_R025_T33XWJ_20220414T082126.SAFE")
        #expect(cog.assets.first { $0.key == "red" }?.href.hasSuffix(".tif") == true)
    }

    // MARK: Tolerance

    static let product = "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"

    static func failure(in product: String = product, _ edit: (String) -> String) throws -> NormalizeError {
        var input = try S2Fixtures.input(product)
        input.product = Array(edit(String(decoding: input.product, as: UTF8.self)).utf8)
        let context = ReaderContext(
            owner: "ESA",
            collection: "s2",
            source: "esa",
            objectURL: URL(string: "https://x.test/p.zip")!
        )
        do {
            let record = try Sentinel2SAFEReader.read(input, context: context)
            Issue.record("expected a NormalizeError, read \(record.id)")
            return NormalizeError("none")
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("PRODUCT_START_TIME", "PRODUCT_START_TIME: required field is missing"),
        ("EXT_POS_LIST", "EXT_POS_LIST: required field is missing"),
        ("SPACECRAFT_NAME", "SPACECRAFT_NAME: required field is missing"),
    ])
    func missingFieldIsNamed(_ element: String, _ message: String) throws {
        let error = try Self.failure {
            $0.replacingOccurrences(of: "<\(element)>", with: "<X_\(element)>")
                .replacingOccurrences(of: "</\(element)>", with: "</X_\(element)>")
        }
        #expect(error.description == message)
    }

    @Test func unparseableValuesAreNamed() throws {
        let time = try Self.failure { $0.replacingOccurrences(of: "2021-09-08T04:27:01.024Z", with: "2021-13-08") }
        #expect(time.field == "PRODUCT_START_TIME")
        // Without MTD_TL.xml the cloud cover is the product's assessment.
        let cloud = try Self.failure(in: "S2A_MSIL1C_20200717T221941_R029_T01LAC_20200717T234135.SAFE") {
            $0.replacingOccurrences(of: "<Cloud_Coverage_Assessment>", with: "<Cloud_Coverage_Assessment>x")
        }
        #expect(cloud.field == "Cloud_Coverage_Assessment")
        let footprint = try Self.failure {
            $0.replacingOccurrences(of: "<EXT_POS_LIST>", with: "<EXT_POS_LIST>95.5 ")
        }
        #expect(footprint.field == "EXT_POS_LIST")
    }

    @Test func invalidUTF8AndBrokenXMLNameTheLine() throws {
        var input = try S2Fixtures.input(Self.product)
        input.product.insert(contentsOf: [0xC3, 0x28], at: 200)
        let context = ReaderContext(
            owner: "ESA",
            collection: "s2",
            source: "esa",
            objectURL: URL(string: "https://x.test/p")!
        )
        let error = #expect(throws: NormalizeError.self) { try Sentinel2SAFEReader.read(input, context: context) }
        #expect(
            error?.reason.contains("UTF-8") == true && error?.reason.contains("line 2") == true,
            "\(String(describing: error))"
        )
        let broken = try Self.failure { $0.replacingOccurrences(of: "</PRODUCT_URI>", with: "</PRODUCT_URL>") }
        #expect(broken.reason.contains("malformed product metadata (XML), line"), "\(broken)")
    }
}

/// Numbers are checked for what they measure: a percentage over 100 or an angle of 1e300 is
/// a malformed file, not a property to publish.
extension Sentinel2SAFEReaderTests {
    static let withGranule = "S2A_MSIL2A_20230625T234621_N0509_R073_T01WCS_20230626T022157.SAFE"

    /// The product read with the granule metadata's first `<element>` value replaced.
    static func readReplacing(_ element: String, with value: String) throws -> Record {
        var input = try S2Fixtures.input(withGranule)
        let text = String(decoding: try #require(input.granule), as: UTF8.self)
        let open = try #require(text.range(of: "<\(element)"))
        let start = try #require(text.range(of: ">", range: open.upperBound..<text.endIndex)).upperBound
        let end = try #require(text.range(of: "</\(element)>", range: start..<text.endIndex)).lowerBound
        input.granule = Array(text.replacingCharacters(in: start..<end, with: value).utf8)
        let context = ReaderContext(
            owner: "ESA",
            collection: "sentinel-2-l2a",
            source: "esa-s2",
            objectURL: S2Fixtures.sourceFolder.appendingPathComponent("\(withGranule).zip")
        )
        return try Sentinel2SAFEReader.read(input, context: context)
    }

    @Test(arguments: [
        ("SNOW_ICE_PERCENTAGE", "1e300"), ("WATER_PERCENTAGE", "-0.5"), ("NODATA_PIXEL_PERCENTAGE", "100.01"),
        ("ZENITH_ANGLE", "1e300"), ("AZIMUTH_ANGLE", "-1"),
    ])
    func numbersOutOfTheirRangeAreRefused(element: String, value: String) throws {
        #expect(throws: Never.self) { try Self.readReplacing(element, with: "1") }
        let error = #expect(throws: NormalizeError.self) { try Self.readReplacing(element, with: value) }
        #expect(error?.field == element, "\(error?.description ?? "")")
    }
}
