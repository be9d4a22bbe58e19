import EOShare
import Foundation
import Testing

/// The Landsat Collection 2 MTL fixtures and the stactools-landsat reference items.
enum MTLFixtures {
    static let folder = "landsat-c2-mtl"
    static let referenceFolder = "stac-reference/stactools-landsat/examples"

    /// Every MTL fixture file name (all encodings).
    static let files: [String] = SharedFixtures.fileNames(in: folder).filter { $0.contains("_MTL.") }

    /// Product id → the fixture names of its encodings.
    static let scenes: [String: [String]] = Dictionary(grouping: files, by: productID)

    /// Product ids with more than one encoding in the fixtures.
    static let multiEncodingScenes: [String] = scenes.filter { $0.value.count > 1 }.keys.sorted()

    /// Reference item paths, relative to the fixtures root.
    static let referenceItems: [String] = ["landsat-c2-l1", "landsat-c2-l2"].flatMap { collection in
        SharedFixtures.fileNames(in: "\(referenceFolder)/\(collection)")
            .filter { !$0.hasSuffix(".json") }
            .map { "\(referenceFolder)/\(collection)/\($0)/\($0).json" }
    }

    static func productID(_ fileName: String) -> String {
        fileName.components(separatedBy: "_MTL.")[0]
    }

    /// The source a fixture is served from: files beside it resolve against this folder.
    static let sourceFolder = URL(string: "https://data.example.test/landsat/c2/")!

    static func context(objectName: String, localFiles: [String: URL] = [:]) -> ReaderContext {
        ReaderContext(
            owner: "NASA",
            collection: "landsat-c2",
            source: "usgs-landsat",
            objectURL: sourceFolder.appendingPathComponent(objectName),
            localFiles: localFiles
        )
    }

    static func read(_ fileName: String) throws -> Record {
        try LandsatMTLReader.read(SharedFixtures.bytes("\(folder)/\(fileName)"), context: context(objectName: fileName))
    }

    static func text(_ fileName: String) throws -> String {
        String(decoding: try SharedFixtures.bytes("\(folder)/\(fileName)"), as: UTF8.self)
    }
}

@Suite("Landsat MTL reader")
struct LandsatMTLReaderTests {
    @Test func fixturesArePresent() {
        #expect(MTLFixtures.files.count >= 30)
        #expect(MTLFixtures.referenceItems.count >= 10)
        #expect(MTLFixtures.multiEncodingScenes.count >= 7)
    }

    // MARK: Every fixture

    @Test(arguments: MTLFixtures.files)
    func everyFixtureParses(_ fileName: String) throws {
        let document = try MTLDocument(parsing: SharedFixtures.bytes("\(MTLFixtures.folder)/\(fileName)"))
        let expected: MTLDocument.Encoding =
            fileName.hasSuffix(".txt") ? .odl : fileName.hasSuffix(".json") ? .json : .xml
        #expect(document.encoding == expected)
        #expect(document.rootName == "LANDSAT_METADATA_FILE")
        #expect(document["PRODUCT_CONTENTS", "LANDSAT_PRODUCT_ID"] == MTLFixtures.productID(fileName))

        let record = try MTLFixtures.read(fileName)
        let parts = MTLFixtures.productID(fileName).split(separator: "_")
        #expect(record.id == (parts[0..<4] + parts[5..<7]).joined(separator: "_"))
        #expect(record.owner == "NASA" && record.collection == "landsat-c2" && record.source == "usgs-landsat")
        #expect(record.datetime != nil)
        #expect(record.processed != nil)
        #expect(record.processed! > record.datetime!)

        let bbox = try #require(record.bbox)
        #expect(bbox.count == 4)
        #expect(bbox[1] < bbox[3])
        let polygons = try Self.polygons(of: record)
        for ring in polygons.flatMap({ $0 }) {
            #expect(ring.count >= 4)
            #expect(ring.first! == ring.last!, "ring is closed")
            #expect(Self.signedArea(ring) > 0, "ring is counter-clockwise")
            for point in ring {
                #expect(point[1] >= bbox[1] && point[1] <= bbox[3])
            }
        }

        #expect(record.properties["platform"]?.stringValue?.hasPrefix("landsat-") == true)
        #expect(record.properties["instruments"]?.arrayValue?.isEmpty == false)
        for url in record.stacExtensions {
            let local = SharedFixtures.root.deletingLastPathComponent()
                .appendingPathComponent("stac-schemas/stac-extensions.github.io")
                .appendingPathComponent(String(url.dropFirst("https://stac-extensions.github.io/".count)))
            #expect(FileManager.default.fileExists(atPath: local.path), "schema copy for \(url)")
        }
        #expect(record.stacExtensions.contains(LandsatMTLReader.Schema.landsat))

        let keys = record.assets.map(\.key)
        #expect(Set(keys).count == keys.count, "asset keys are unique")
        #expect(keys.contains("mtl.txt") && keys.contains("mtl.xml") && keys.contains("qa_pixel"))
        for asset in record.assets {
            #expect(!asset.isLocal)
            #expect(asset.href.hasPrefix(MTLFixtures.sourceFolder.absoluteString))
            #expect(asset.title != nil && asset.mediaType != nil && !asset.roles.isEmpty)
        }
    }

    @Test(arguments: MTLFixtures.multiEncodingScenes)
    func encodingsGiveTheSameRecord(_ productID: String) throws {
        let names = try #require(MTLFixtures.scenes[productID])
        // One bundle, read through each of its metadata files: same context for all.
        let context = MTLFixtures.context(objectName: "\(productID).tar")
        var documents: [MTLDocument] = []
        var records: [Record] = []
        for name in names {
            let bytes = try SharedFixtures.bytes("\(MTLFixtures.folder)/\(name)")
            documents.append(try MTLDocument(parsing: bytes))
            records.append(try LandsatMTLReader.read(bytes, context: context))
        }
        for (name, document) in zip(names, documents).dropFirst() {
            #expect(document.groups == documents[0].groups, "\(name) vs \(names[0])")
            #expect(document.rootName == documents[0].rootName)
        }
        for (name, record) in zip(names, records).dropFirst() {
            #expect(record == records[0], "\(name) vs \(names[0])")
        }
    }

    // MARK: Against stactools-landsat

    /// bbox tolerance: 1e-4° (about 10 m). Both bboxes come from the MTL's corners widened by
    /// half a cell; we measure the edge lengths on a sphere where stactools uses the WGS84
    /// geodesic, which moves the result by less than 1e-5°. The reference *geometry* instead is
    /// the USGS STAC footprint of valid pixels (a different source), so it is not compared.
    static let bboxTolerance = 1e-4

    @Test(arguments: MTLFixtures.referenceItems)
    func matchesStactoolsReference(_ itemPath: String) throws {
        let item = try #require(
            try JSONSerialization.jsonObject(with: Data(SharedFixtures.bytes(itemPath))) as? [String: Any]
        )
        let id = try #require(item["id"] as? String)
        let fixture = try #require(
            MTLFixtures.files.first { name in
                let parts = MTLFixtures.productID(name).split(separator: "_")
                return (parts[0..<4] + parts[5..<7]).joined(separator: "_") == id
            },
            "an MTL fixture for \(id)"
        )
        let record = try MTLFixtures.read(fixture)
        let reference = try #require(item["properties"] as? [String: Any])
        let ours = record.properties

        #expect(record.id == id)
        let referenceText = try #require(reference["datetime"] as? String)
        let referenceDatetime = try #require(Timestamp.parse(referenceText))
        let datetime = try #require(record.datetime)
        #expect(abs(datetime.timeIntervalSince(referenceDatetime)) < 0.001)

        let referenceBBox = try #require(item["bbox"] as? [Double])
        let bbox = try #require(record.bbox)
        for (a, b) in zip(bbox, referenceBBox) {
            #expect(abs(a - b) < Self.bboxTolerance, "bbox \(bbox) vs \(referenceBBox)")
        }

        #expect(ours["platform"]?.stringValue == reference["platform"] as? String)
        #expect(ours["instruments"]?.arrayValue?.compactMap(\.stringValue) == reference["instruments"] as? [String])
        #expect(ours["gsd"]?.doubleValue == (reference["gsd"] as? NSNumber)?.doubleValue)
        for key in ["eo:cloud_cover", "landsat:cloud_cover_land", "view:off_nadir"] {
            #expect(ours[key]?.doubleValue == (reference[key] as? NSNumber)?.doubleValue, "\(key)")
        }
        for key in ["view:sun_azimuth", "view:sun_elevation"] {
            let expected = try #require((reference[key] as? NSNumber)?.doubleValue)
            let value = try #require(ours[key]?.doubleValue)
            #expect(abs(value - expected) <= 0.01, "\(key)")
        }
        let epsg = try #require((reference["proj:epsg"] as? NSNumber)?.intValue)
        #expect(ours["proj:code"]?.stringValue == "EPSG:\(epsg)")
        #expect(ours["proj:shape"]?.arrayValue?.compactMap(\.doubleValue) == (reference["proj:shape"] as? [Double]))
        #expect(
            ours["proj:transform"]?.arrayValue?.compactMap(\.doubleValue) == (reference["proj:transform"] as? [Double])
        )
        for key in [
            "landsat:wrs_type", "landsat:wrs_path", "landsat:wrs_row", "landsat:collection_category",
            "landsat:collection_number", "landsat:correction", "landsat:scene_id", "sci:doi",
        ] {
            #expect(ours[key]?.stringValue == reference[key] as? String, "\(key)")
        }

        // Assets: the MTL names all but the thumbnails and MTL.json, which stactools derives.
        let referenceAssets = try #require(item["assets"] as? [String: [String: Any]])
        let derived: Set<String> = ["thumbnail", "reduced_resolution_browse", "mtl.json"]
        #expect(Set(record.assets.map(\.key)) == Set(referenceAssets.keys).subtracting(derived))
        for asset in record.assets {
            guard let expected = referenceAssets[asset.key] else { continue }
            #expect(asset.title == expected["title"] as? String, "\(asset.key) title")
            #expect(asset.mediaType == expected["type"] as? String, "\(asset.key) type")
            #expect(asset.roles == expected["roles"] as? [String], "\(asset.key) roles")
            #expect(asset.extra["description"]?.stringValue == expected["description"] as? String, "\(asset.key)")
            #expect(asset.extra["gsd"]?.doubleValue == (expected["gsd"] as? NSNumber)?.doubleValue, "\(asset.key) gsd")
            let expectedBand = (expected["eo:bands"] as? [[String: Any]])?.first
            let band = asset.extra["eo:bands"]?.arrayValue?.first
            #expect(band?["name"]?.stringValue == expectedBand?["name"] as? String, "\(asset.key) eo:bands")
            #expect(band?["common_name"]?.stringValue == expectedBand?["common_name"] as? String)
            #expect(
                band?["center_wavelength"]?.doubleValue
                    == (expectedBand?["center_wavelength"] as? NSNumber)?.doubleValue
            )
        }
        // The same order as stactools, leaving out the derived assets.
        let referenceOrder = Self.keyOrder(inJSONAt: itemPath).filter { !derived.contains($0) }
        #expect(record.assets.map(\.key) == referenceOrder)
    }

    // MARK: Particular scenes

    @Test(arguments: [
        "LC08_L2SR_084024_20160111_20201016_02_T1_MTL.xml", "LT05_L2SR_087017_20090621_20200827_02_T2_MTL.xml",
    ])
    func antimeridianScenesSplit(_ fileName: String) throws {
        let record = try MTLFixtures.read(fileName)
        let bbox = try #require(record.bbox)
        #expect(bbox[0] > 179 && bbox[2] < -175, "west > east across the antimeridian: \(bbox)")
        #expect(record.geometry?["type"]?.stringValue == "MultiPolygon")
        let polygons = try Self.polygons(of: record)
        #expect(polygons.count == 2)
        for point in polygons.flatMap({ $0 }).flatMap({ $0 }) {
            #expect(point[0] >= -180 && point[0] <= 180)
            #expect(point[0] >= bbox[0] || point[0] <= bbox[2])
        }
    }

    @Test func polarStereographicScene() throws {
        let record = try MTLFixtures.read("LC08_L2SR_099120_20191129_20201016_02_T2_MTL.txt")
        #expect(record.properties["proj:code"] == .string("EPSG:3031"))
        #expect(record.properties["proj:shape"] == .array([.int(9011), .int(9031)]))
        #expect(
            record.properties["proj:transform"]?.arrayValue?.compactMap(\.doubleValue) == [
                30, 0, 733785, 0, -30, 494415,
            ]
        )
        #expect(record.properties["landsat:wrs_row"] == .string("120"))
        #expect(record.geometry?["type"]?.stringValue == "Polygon")
    }

    @Test func offNadirSceneUsesTheRollAngle() throws {
        let record = try MTLFixtures.read("LC08_L2SP_017036_20130419_20200913_02_T2_MTL.json")
        #expect(record.properties["view:off_nadir"] == .number(11.696))
    }

    @Test func surfaceReflectanceOnlyProductHasNoThermalAssets() throws {
        let record = try MTLFixtures.read("LC08_L2SR_099120_20191129_20201016_02_T2_MTL.xml")
        let keys = Set(record.assets.map(\.key))
        #expect(keys.contains("red") && keys.contains("qa_aerosol"))
        #expect(keys.isDisjoint(with: ["lwir11", "atran", "cdist", "drad", "urad", "trad", "emis", "emsd", "qa"]))
    }

    @Test func recordShape() throws {
        let record = try MTLFixtures.read("LC08_L2SP_047027_20201204_20210313_02_T1_MTL.txt")
        #expect(record.id == "LC08_L2SP_047027_20201204_02_T1")
        #expect(record.datetime.map(Timestamp.format) == "2020-12-04T19:02:11.194Z")
        #expect(record.processed.map(Timestamp.format) == "2021-03-13T05:55:12Z")
        #expect(
            record.properties.keys == [
                "platform", "instruments", "gsd", "eo:cloud_cover", "view:off_nadir", "view:sun_azimuth",
                "view:sun_elevation", "proj:code", "proj:shape", "proj:transform", "landsat:wrs_type",
                "landsat:wrs_path", "landsat:wrs_row", "landsat:collection_category", "landsat:collection_number",
                "landsat:correction", "landsat:scene_id", "landsat:cloud_cover_land", "sci:doi",
            ]
        )
        #expect(
            record.stacExtensions == [
                LandsatMTLReader.Schema.eo, LandsatMTLReader.Schema.view, LandsatMTLReader.Schema.projection,
                LandsatMTLReader.Schema.landsat, LandsatMTLReader.Schema.scientific,
            ]
        )
        #expect(
            record.geometry
                == .object([
                    "type": .string("Polygon"),
                    "coordinates": .array([
                        .array([
                            .array([.number(-124.98066), .number(48.50387)]),
                            .array([.number(-124.90156), .number(46.35366)]),
                            .array([.number(-121.83650), .number(46.36356)]),
                            .array([.number(-121.78809), .number(48.51453)]),
                            .array([.number(-124.98066), .number(48.50387)]),
                        ])
                    ]),
                ])
        )
        let blue = try #require(record.assets.first { $0.key == "blue" })
        #expect(blue.href == "https://data.example.test/landsat/c2/LC08_L2SP_047027_20201204_20210313_02_T1_SR_B2.TIF")
        #expect(blue.mediaType == "image/tiff; application=geotiff; profile=cloud-optimized")
        #expect(blue.roles == ["data", "reflectance"])
    }

    @Test func localFilesAreLocalAssetsAndCompanionsJoin() throws {
        let product = "LC08_L2SP_047027_20201204_20210313_02_T1"
        let work = URL(fileURLWithPath: "/work/tmp/bundle", isDirectory: true)
        let local = ["\(product)_SR_B4.TIF", "\(product)_MTL.json", "\(product)_thumb_small.jpeg"]
        let context = MTLFixtures.context(
            objectName: "\(product).tar",
            localFiles: Dictionary(uniqueKeysWithValues: local.map { ($0, work.appendingPathComponent($0)) })
        )
        let record = try LandsatMTLReader.read(
            SharedFixtures.bytes("\(MTLFixtures.folder)/\(product)_MTL.txt"),
            context: context
        )
        let red = try #require(record.assets.first { $0.key == "red" })
        #expect(red.href == "\(product)_SR_B4.TIF")
        #expect(red.localFile == work.appendingPathComponent("\(product)_SR_B4.TIF"))
        let json = try #require(record.assets.first { $0.key == "mtl.json" })
        #expect(json.isLocal && json.mediaType == "application/json")
        #expect(record.assets.prefix(2).map(\.key) == ["thumbnail", "mtl.json"])
        let green = try #require(record.assets.first { $0.key == "green" })
        #expect(!green.isLocal && green.href.hasPrefix("https://data.example.test/landsat/c2/"))
    }

    // MARK: Malformed input

    static let odlName = "LC08_L2SP_047027_20201204_20210313_02_T1_MTL.txt"
    static let xmlName = "LC08_L2SP_047027_20201204_20210313_02_T1_MTL.xml"
    static let jsonName = "LC08_L2SP_005009_20150710_20200908_02_T2_MTL.json"

    @Test(arguments: [odlName, xmlName, jsonName])
    func missingDateAcquired(_ fileName: String) throws {
        let text = try MTLFixtures.text(fileName).replacingOccurrences(of: "DATE_ACQUIRED", with: "DATE_WANTED")
        let error = try Self.failure(text)
        #expect(error == NormalizeError(field: "DATE_ACQUIRED", "required field is missing"))
    }

    @Test(arguments: [odlName, xmlName, jsonName])
    func unparseableCloudCover(_ fileName: String) throws {
        let text = try Self.replacingValue(of: "CLOUD_COVER", with: "mostly", in: MTLFixtures.text(fileName))
        let error = try Self.failure(text)
        #expect(error.field == "CLOUD_COVER")
        #expect(error.description == "CLOUD_COVER: cannot parse 'mostly'")
    }

    @Test(arguments: [
        ("CORNER_UL_LAT_PRODUCT", "CORNER_UL_LAT_PRODUCT: required field is missing"),
        ("LANDSAT_PRODUCT_ID", "LANDSAT_PRODUCT_ID: required field is missing"),
        ("SCENE_CENTER_TIME", "SCENE_CENTER_TIME: required field is missing"),
    ])
    func missingRequiredField(_ key: String, _ message: String) throws {
        let text = try MTLFixtures.text(Self.xmlName).replacingOccurrences(of: "<\(key)>", with: "<X_\(key)>")
            .replacingOccurrences(of: "</\(key)>", with: "</X_\(key)>")
        #expect(try Self.failure(text).description == message)
    }

    @Test(arguments: [
        ("SCENE_CENTER_TIME", "25:61:00Z"), ("DATE_ACQUIRED", "2020-13-04"), ("DATE_PRODUCT_GENERATED", "yesterday"),
        ("CORNER_LR_LON_PRODUCT", "-200.5"), ("LANDSAT_PRODUCT_ID", "LC08_L2SP_047027"), ("WRS_PATH", "4x7"),
        ("SUN_ELEVATION", "nan"), ("REFLECTIVE_LINES", "7971.5"),
    ])
    func unparseableField(_ key: String, _ value: String) throws {
        let text = try Self.replacingValue(of: key, with: value, in: MTLFixtures.text(Self.odlName))
        let error = try Self.failure(text)
        #expect(error.field == key)
    }

    @Test func fileNamesMayNotLeaveTheItemFolder() throws {
        let text = try Self.replacingValue(
            of: "FILE_NAME_BAND_1",
            with: "../../etc/passwd",
            in: MTLFixtures.text(Self.odlName)
        )
        #expect(try Self.failure(text).field == "FILE_NAME_BAND_1")
    }

    @Test(arguments: [odlName, xmlName])
    func invalidUTF8NamesTheLine(_ fileName: String) throws {
        var lines = try MTLFixtures.text(fileName).split(separator: "\n", omittingEmptySubsequences: false)
            .map { Array($0.utf8) }
        lines[4].insert(contentsOf: [0xC3, 0x28], at: lines[4].count - 3)
        let bytes = Array(lines.joined(separator: [0x0A]))
        let error = try Self.failure(bytes)
        #expect(error.reason.contains("UTF-8"))
        #expect(error.reason.contains("line 5:"), "\(error)")
    }

    @Test func truncatedODLNamesTheOpenGroup() throws {
        let lines = try MTLFixtures.text(Self.odlName).split(separator: "\n")
        let error = try Self.failure(lines.prefix(40).joined(separator: "\n") + "\n")
        #expect(error.reason.contains("END_GROUP missing"), "\(error)")
        #expect(error.reason.contains("GROUP = PRODUCT_CONTENTS (line 2)"), "\(error)")
        #expect(error.reason.contains("line 40:"), "\(error)")
    }

    /// One corruption of a fixture line: what it was, what it becomes, what the error says,
    /// and on which line relative to the original the error is reported.
    struct Corruption: Sendable, CustomTestStringConvertible {
        let original: String
        let broken: String
        let message: String
        var lineDelta = 0

        var testDescription: String { message }
    }

    @Test(arguments: [
        Corruption(
            original: "  END_GROUP = IMAGE_ATTRIBUTES",
            broken: "  END_GROUP = PROJECTION_ATTRIBUTES",
            message: "does not close GROUP = IMAGE_ATTRIBUTES"
        ),
        Corruption(original: "    CLOUD_COVER = 1.55", broken: "    CLOUD_COVER 1.55", message: "expected KEY = value"),
        Corruption(
            original: "    SPACECRAFT_ID = \"LANDSAT_8\"",
            broken: "    SPACECRAFT_ID = \"LANDSAT_8",
            message: "unterminated string"
        ),
        Corruption(
            original: "    WRS_TYPE = 2",
            broken: "    WRS_TYPE = 2\n    WRS_TYPE = 2",
            message: "WRS_TYPE given twice",
            lineDelta: 1
        ),
        Corruption(
            original: "  GROUP = PRODUCT_CONTENTS",
            broken: "  GROUP = PRODUCT CONTENTS",
            message: "invalid group name"
        ),
    ])
    func malformedODLNamesTheLine(_ corruption: Corruption) throws {
        let text = try MTLFixtures.text(Self.odlName)
        let line = try Self.lineNumber(of: corruption.original + "\n", in: text) + corruption.lineDelta
        let error = try Self.failure(
            text.replacingOccurrences(of: corruption.original + "\n", with: corruption.broken + "\n")
        )
        #expect(error.reason.contains(corruption.message), "\(error)")
        #expect(error.reason.contains("malformed MTL (ODL), line \(line):"), "\(error)")
    }

    @Test(arguments: [
        Corruption(
            original: "</CLOUD_COVER>",
            broken: "</CLOUD_COVERS>",
            message: "</CLOUD_COVERS> does not close <CLOUD_COVER>"
        ),
        Corruption(
            original: "<SENSOR_ID>OLI_TIRS</SENSOR_ID>",
            broken: "<SENSOR_ID>OLI & TIRS</SENSOR_ID>",
            message: "unterminated entity"
        ),
        Corruption(
            original: "<SENSOR_ID>OLI_TIRS</SENSOR_ID>",
            broken: "<SENSOR_ID>OLI&bogus;</SENSOR_ID>",
            message: "unknown entity &bogus;"
        ),
        Corruption(
            original: "<WRS_TYPE>2</WRS_TYPE>",
            broken: "<WRS_TYPE>2</WRS_TYPE><WRS_TYPE>2</WRS_TYPE>",
            message: "given twice"
        ),
        Corruption(
            original: "<WRS_TYPE>2</WRS_TYPE>",
            broken: "<WRS_TYPE a=1>2</WRS_TYPE>",
            message: "unquoted attribute value"
        ),
        Corruption(
            original: "<WRS_TYPE>2</WRS_TYPE>",
            broken: "<WRS_TYPE><!-- open comment</WRS_TYPE>",
            message: "unterminated comment"
        ),
        Corruption(
            original: "<IMAGE_ATTRIBUTES>",
            broken: "<IMAGE_ATTRIBUTES>stray text",
            message: "mixes text and child elements"
        ),
        Corruption(
            original: "<LANDSAT_METADATA_FILE>",
            broken: "<!DOCTYPE x [<!ENTITY a \"b\">]><LANDSAT_METADATA_FILE>",
            message: "DOCTYPE"
        ),
    ])
    func brokenXMLNamesTheLine(_ corruption: Corruption) throws {
        let text = try MTLFixtures.text(Self.xmlName)
        let line = try Self.lineNumber(of: corruption.original, in: text) + corruption.lineDelta
        let error = try Self.failure(text.replacingOccurrences(of: corruption.original, with: corruption.broken))
        #expect(error.reason.contains(corruption.message), "\(error)")
        #expect(error.reason.contains("malformed MTL (XML), line \(line):"), "\(error)")
    }

    @Test func truncatedXMLNamesTheOpenElement() throws {
        let text = try MTLFixtures.text(Self.xmlName)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let error = try Self.failure(lines.prefix(100).joined(separator: "\n"))
        #expect(error.reason.contains("end of file inside <"), "\(error)")
        #expect(error.reason.contains("(opened on line "), "\(error)")
        #expect(error.reason.contains("malformed MTL (XML), line 100:"), "\(error)")
    }

    @Test(arguments: [1, 2, 3, 5, 8, 13])
    func xmlCutInsideATagSaysTruncated(_ count: Int) throws {
        let text = try MTLFixtures.text(Self.xmlName)
        let tag = try #require(text.range(of: "<CLOUD_COVER>"))
        let cut = String(text[..<tag.lowerBound]) + "<CLOUD_COVER>".prefix(count)
        let error = try Self.failure(cut)
        #expect(error.reason.contains("truncated?"), "\(error)")
    }

    @Test(arguments: [
        ("{\"LANDSAT_METADATA_FILE\": {\"PRODUCT_CONTENTS\": {\"A\": \"1\"", "end of file inside an object"),
        ("{\"LANDSAT_METADATA_FILE\": {\"PRODUCT_CONTENTS\": {\"A\": [\"1\"]}}}", "must be a string or a group"),
        ("{\"LANDSAT_METADATA_FILE\": {\"PRODUCT_CONTENTS\": {\"A\": \"1\" \"B\": \"2\"}}}", "expected ',' or '}'"),
        ("{\"LANDSAT_METADATA_FILE\": {\"PRODUCT_CONTENTS\": {\"A\": \"\\q\"}}}", "invalid escape"),
        ("{\"LANDSAT_METADATA_FILE\": {}} trailing", "content after the top-level object"),
        ("{\"KEY\": \"value\"}", "outside of any group"),
        ("{\"L\": {\"G\": {\"A\": \"1\", \"B\": 2, \"A\": \"1\"}}}", "\"A\" given twice in \"G\""),
        ("{\"L\": {\"G\": {\"A\": \"1\"}, \"G\": {\"\\u0041\": 2}}}", "\"A\" given twice in \"G\""),
    ])
    func brokenJSON(_ text: String, _ message: String) throws {
        let error = try Self.failure(text)
        #expect(error.reason.contains("malformed MTL (JSON), line 1:"), "\(error)")
        #expect(error.reason.contains(message), "\(error)")
    }

    @Test func emptyAndForeignInput() throws {
        #expect(try Self.failure("  \n\t").reason == "MTL is empty")
        let c1 =
            "GROUP = L1_METADATA_FILE\n  GROUP = METADATA_FILE_INFO\n    A = 1\n  END_GROUP = METADATA_FILE_INFO\n"
            + "END_GROUP = L1_METADATA_FILE\nEND\n"
        #expect(try Self.failure(c1).reason == "not a Landsat Collection 2 MTL: root group is L1_METADATA_FILE")
    }

    // MARK: Encodings in detail

    @Test func xmlReaderHandlesPrologCommentsEntitiesAndCDATA() throws {
        let xml = """
            \u{FEFF}<?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment before the root -->
            <LANDSAT_METADATA_FILE xmlns:x="urn:x">
              <GROUP_A>
                <!-- inside -->
                <ORIGIN>Image &amp; data &lt;USGS&gt; &quot;q&quot; &apos;a&apos; &#65;&#x42;</ORIGIN>
                <RAW><![CDATA[a < b & c]]></RAW>
                <EMPTY/>
                <SPACED>  padded\t</SPACED>
              </GROUP_A>
            </LANDSAT_METADATA_FILE>
            <!-- and after -->

            """
        let document = try MTLDocument(parsing: Array(xml.utf8))
        #expect(document.encoding == .xml)
        #expect(document.rootName == "LANDSAT_METADATA_FILE")
        #expect(document["GROUP_A", "ORIGIN"] == "Image & data <USGS> \"q\" 'a' AB")
        #expect(document["GROUP_A", "RAW"] == "a < b & c")
        #expect(document["GROUP_A", "EMPTY"] == "")
        #expect(document["GROUP_A", "SPACED"] == "padded")
    }

    @Test func odlReaderHandlesCommentsCRLFAndOptionalEnd() throws {
        let odl =
            "/* header */\r\nGROUP = ROOT\r\n  GROUP = G\r\n    A = \"x = y\"\r\n    B = 2020-01-01\r\n"
            + "    C = \"15:34:31.1234560Z\"\r\n  END_GROUP = G\r\nEND_GROUP = ROOT\r\n"
        let document = try MTLDocument(parsing: Array(odl.utf8))
        #expect(document.encoding == .odl)
        #expect(document.groups == ["G": ["A": "x = y", "B": "2020-01-01", "C": "15:34:31.1234560Z"]])
        let withEnd = try MTLDocument(parsing: Array((odl + "END\r\n").utf8))
        #expect(withEnd.groups == document.groups)
        #expect(try Self.failure(odl + "END\nA = 1\n").reason.contains("content after END"))
    }

    @Test func jsonReaderHandlesEscapesAndNumbers() throws {
        let json = #"{"ROOT": {"G": {"A": "\u00e9\ud83d\ude00\n", "B": 30.00, "C": "\"q\""}}}"#
        let document = try MTLDocument(parsing: Array(json.utf8))
        #expect(document.encoding == .json)
        #expect(document.groups == ["G": ["A": "é😀", "B": "30.00", "C": "\"q\""]])
    }

    @Test func encodingIsDetectedFromTheBytesNotTheName() throws {
        // The XML fixture, handed over as if it were the .txt: still read as XML.
        let bytes = try SharedFixtures.bytes("\(MTLFixtures.folder)/\(Self.xmlName)")
        let record = try LandsatMTLReader.read(bytes, context: MTLFixtures.context(objectName: Self.odlName))
        #expect(record.id == "LC08_L2SP_047027_20201204_02_T1")
    }

    // MARK: Helpers

    static func failure(_ text: String) throws -> NormalizeError {
        try failure(Array(text.utf8))
    }

    static func failure(_ bytes: [UInt8]) throws -> NormalizeError {
        do {
            let record = try LandsatMTLReader.read(bytes, context: MTLFixtures.context(objectName: "x_MTL.txt"))
            Issue.record("expected a NormalizeError, read \(record.id)")
            return NormalizeError("no error")
        } catch {
            return error
        }
    }

    /// Replaces the value of `key` in an MTL of any encoding (first occurrence).
    static func replacingValue(of key: String, with value: String, in text: String) throws -> String {
        let patterns: [(open: String, close: String)] = [
            ("\n    \(key) = ", "\n"), ("<\(key)>", "</\(key)>"), ("\"\(key)\": \"", "\""),
        ]
        for (open, close) in patterns {
            guard let start = text.range(of: open) else { continue }
            let end = try #require(text.range(of: close, range: start.upperBound..<text.endIndex))
            let quoted = open.hasSuffix(" = ") && text[start.upperBound...].hasPrefix("\"")
            return text.replacingCharacters(
                in: start.upperBound..<end.lowerBound,
                with: quoted ? "\"\(value)\"" : value
            )
        }
        Issue.record("no \(key) in the text")
        return text
    }

    static func lineNumber(of fragment: String, in text: String) throws -> Int {
        let range = try #require(text.range(of: fragment))
        return text[..<range.lowerBound].filter { $0 == "\n" }.count + 1
    }

    /// Polygons → rings → [lon, lat] points, for a Polygon or MultiPolygon geometry.
    static func polygons(of record: Record) throws -> [[[[Double]]]] {
        let geometry = try #require(record.geometry)
        let coordinates = try #require(geometry["coordinates"]?.arrayValue)
        func ring(_ value: JSONValue) -> [[Double]] {
            (value.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.doubleValue) }
        }
        switch geometry["type"]?.stringValue {
        case "Polygon": return [coordinates.map(ring)]
        case "MultiPolygon": return coordinates.map { ($0.arrayValue ?? []).map(ring) }
        default:
            Issue.record("unexpected geometry \(geometry)")
            return []
        }
    }

    static func signedArea(_ ring: [[Double]]) -> Double {
        zip(ring, ring.dropFirst()).reduce(0) { $0 + $1.0[0] * $1.1[1] - $1.1[0] * $1.0[1] }
    }

    /// The keys of the reference item's "assets" object in file order (JSONSerialization
    /// loses it): each key sits on its own line, 4 spaces in.
    static func keyOrder(inJSONAt path: String) -> [String] {
        guard let text = try? String(decoding: SharedFixtures.bytes(path), as: UTF8.self),
            let assets = text.range(of: "\n  \"assets\": {")
        else { return [] }
        var keys: [String] = []
        for line in text[assets.upperBound...].split(separator: "\n") {
            if line.hasPrefix("  }") { break }
            if line.hasPrefix("    \""), !line.hasPrefix("     "), let end = line.dropFirst(5).firstIndex(of: "\"") {
                keys.append(String(line[line.index(line.startIndex, offsetBy: 5)..<end]))
            }
        }
        return keys
    }
}

/// Bad input yields a `NormalizeError`, never a trap: nesting is bounded in every encoding,
/// and numbers are checked for what they measure, not only for being finite.
extension LandsatMTLReaderTests {
    @Test func deepNestingIsRefusedInEveryEncoding() throws {
        let depth = 200_000
        let xml =
            String(repeating: "<LANDSAT_METADATA_FILE>", count: depth)
            + String(repeating: "</LANDSAT_METADATA_FILE>", count: depth)
        #expect(try Self.failure(xml).reason.contains("nested deeper than \(XMLReader.maxDepth)"))
        let json = String(repeating: "{\"G\": ", count: depth) + "\"v\"" + String(repeating: "}", count: depth)
        #expect(try Self.failure(json).reason.contains("nested too deeply"))
        // ODL keeps its open groups in a list: deep is merely malformed here (no END).
        let odl = String(repeating: "GROUP = G\n", count: depth) + String(repeating: "END_GROUP = G\n", count: depth)
        #expect(try Self.failure(odl).reason.contains("not a Landsat Collection 2 MTL"))
    }

    @Test(arguments: [
        ("CLOUD_COVER", "1e300"), ("CLOUD_COVER", "100.5"), ("CLOUD_COVER_LAND", "-2"), ("SUN_AZIMUTH", "1e300"),
        ("SUN_ELEVATION", "-91"), ("GRID_CELL_SIZE_REFLECTIVE", "1e300"), ("CORNER_UL_PROJECTION_X_PRODUCT", "1.7e308"),
        ("CORNER_UL_LAT_PRODUCT", "1e300"), ("WRS_PATH", "99999999999999999999999"),
    ])
    func numbersOutOfTheirRangeAreRefused(key: String, value: String) throws {
        for fileName in [Self.odlName, Self.xmlName, Self.jsonName] {
            let text = try Self.replacingValue(of: key, with: value, in: MTLFixtures.text(fileName))
            let error = try Self.failure(text)
            #expect(error.field == key, "\(fileName): \(error)")
        }
    }
}
