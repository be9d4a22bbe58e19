import EOShare
import Foundation
import Testing

/// NASA CMR granule metadata: single UMM-G, search responses and Atom JSON, every granule a
/// record, one bad granule rejected alone.
@Suite("CMR UMM-G reader")
struct CMRGranuleReaderTests {
    static let context = ReaderContext(
        owner: "NASA",
        collection: "cmr",
        source: "cmr",
        objectURL: URL(string: "https://cmr.example.test/g.json")!
    )

    static func read(_ path: String) throws -> ReaderOutput {
        try CMRGranuleReader.read(SharedFixtures.bytes("cmr-umm-g/\(path)"), context: context)
    }

    static func read(text: String) throws -> ReaderOutput {
        try CMRGranuleReader.read(Array(text.utf8), context: context)
    }

    @Test func searchResponseGivesEveryGranule() throws {
        let output = try Self.read("cmrfetch/aerdt_granules.umm_json")
        #expect(output.records.count == 10 && output.rejected.isEmpty)
        let first = try #require(output.records.first)
        #expect(first.id == "ASIPS:AERDT_L2_VIIRS_SNPP_NRT:1682614440")
        #expect(first.properties["cmr:granule_ur"] == .string("ASIPS:AERDT_L2_VIIRS_SNPP_NRT:1682614440"))
        #expect(first.startDatetime.map(Timestamp.format) == "2023-04-27T16:54:00Z")
        #expect(first.endDatetime.map(Timestamp.format) == "2023-04-27T16:59:59Z")
        #expect(first.datetime == nil)
        #expect(first.processed.map(Timestamp.format) == "2023-04-27T19:29:03.446Z")
        #expect(first.geometry?["type"]?.stringValue == "Polygon")
        #expect(first.bbox == [-131.310654, 55.710682, -4.326559, 82.950005])
        let data = try #require(first.assets.first { $0.key == "data" })
        #expect(data.href.hasSuffix("AERDT_L2_VIIRS_SNPP.A2023117.1654.011.nrt.nc"))
        #expect(data.extra["file:size"] == .int(7_008_073))
        #expect(data.extra["file:checksum"] == .string("d510" + "3967c4c9d5768e4eff7e1b508b9011f2"))
        #expect(Set(output.records.map(\.id)).count == 10)
    }

    @Test func umm_andAtomEncodingsOfOneGranuleAgree() throws {
        let umm = try #require(try Self.read("earthaccess/GPM_3IMERGHH_umm.json").records.first)
        let atom = try #require(try Self.read("earthaccess/GPM_3IMERGHH.json").records.first)
        #expect(umm.id == atom.id)
        #expect(umm.startDatetime == atom.startDatetime && umm.endDatetime == atom.endDatetime)
        #expect(umm.bbox == atom.bbox)
        #expect(umm.bbox == [-180, -90, 180, 90])
        #expect(atom.assets.contains { $0.key == "data" && $0.href.hasPrefix("https://data.gesdisc") })
    }

    @Test func platformsAndInstrumentsWhereGiven() throws {
        let record = try #require(try Self.read("cmrfetch/granule.umm_json.json").records.first)
        #expect(record.properties["platform"] == .string("suomi-npp"))
        #expect(record.properties["instruments"] == .array(["viirs"]))
        // GPM IMERG has no Platforms: the fields are omitted, the record stands.
        let gpm = try #require(try Self.read("earthaccess/GPM_3IMERGHH_umm.json").records.first)
        #expect(gpm.properties["platform"] == nil && gpm.properties["instruments"] == nil)
    }

    @Test func collectionRecordsAreNotGranules() throws {
        let output = try Self.read("cmrfetch/aerdt_collection.umm_json")
        #expect(output.records.isEmpty)
        #expect(output.rejected.allSatisfy { $0.error == .missing("GranuleUR") })
    }

    @Test func everyGranuleValidates() throws {
        var items: [JSONValue] = []
        for path in [
            "cmrfetch/aerdt_granules.umm_json", "cmrfetch/granule.umm_json.json", "earthaccess/GPM_3IMERGHH_umm.json",
        ] {
            for record in try Self.read(path).records {
                items.append(STACItemWriter.item(for: record, ingested: Date(timeIntervalSince1970: 1_800_000_000)))
            }
        }
        let atom = try Self.read("earthaccess/GPM_3IMERGHH.json").records.map {
            STACItemWriter.item(for: $0, ingested: Date(timeIntervalSince1970: 1_800_000_000))
        }
        #expect(try STACValidator.validateItems(items, in: RepoPaths.temporaryFolder("cmr-items")).isEmpty)
        #expect(try STACValidator.validateItems(atom, in: RepoPaths.temporaryFolder("cmr-atom")).isEmpty)
    }

    // MARK: One bad granule

    /// The response with granule 3 broken by `edit` (applied to its JSON text).
    static func responseWithBadThird(_ edit: (String) -> String) throws -> (text: String, granuleUR: String) {
        var document = try JSONValue.parse(SharedFixtures.bytes("cmr-umm-g/cmrfetch/aerdt_granules.umm_json"))
        guard case .object(var root) = document, case .array(var items)? = root["items"] else {
            throw NormalizeError("fixture shape")
        }
        let granuleUR = items[2]["umm"]?["GranuleUR"]?.stringValue ?? ""
        let broken = edit(items[2].serializedString())
        items[2] = try JSONValue.parse(Array(broken.utf8))
        root["items"] = .array(items)
        document = .object(root)
        return (document.serializedString(), granuleUR)
    }

    @Test(arguments: [
        (
            "\"BeginningDateTime\":\"2023", "\"BeginningDateTime\":\"yesterday 2023",
            "TemporalExtent.RangeDateTime.BeginningDateTime"
        ),
        ("\"TemporalExtent\"", "\"NoTemporalExtent\"", "TemporalExtent"),
        ("\"Latitude\":", "\"Latitude\":\"north\",\"X\":", "GPolygons[0].Boundary.Points[0].Latitude"),
    ])
    func badGranuleIsRejectedAloneNamingField(_ original: String, _ replacement: String, _ field: String) throws {
        let (text, granuleUR) = try Self.responseWithBadThird { text in
            #expect(text.contains(original), "fixture has \(original)")
            return text.replacingOccurrences(of: original, with: replacement)
        }
        let output = try Self.read(text: text)
        #expect(output.records.count == 9)
        let rejected = try #require(output.rejected.first)
        #expect(output.rejected.count == 1)
        #expect(rejected.label == granuleUR && !granuleUR.isEmpty)
        #expect(rejected.error.field == field, "\(rejected)")
        #expect(rejected.description.hasPrefix("record \(granuleUR): \(field)"))
    }

    @Test func invalidPolygonAndMalformedJSON() throws {
        let twoPoints = """
            {"GranuleUR": "G1", "TemporalExtent": {"SingleDateTime": "2020-01-01T00:00:00Z"},
             "SpatialExtent": {"HorizontalSpatialDomain": {"Geometry": {"GPolygons": [{"Boundary": {"Points": [
               {"Longitude": 1, "Latitude": 1}, {"Longitude": 2, "Latitude": 2}, {"Longitude": 1, "Latitude": 1}]}}]}}}}
            """
        let output = try Self.read(text: twoPoints)
        #expect(output.records.isEmpty)
        #expect(output.rejected.first?.error.field == "GPolygons[0].Boundary.Points")
        #expect(throws: NormalizeError.self) { try Self.read(text: "{\"items\": [") }
        #expect(throws: NormalizeError.self) { try CMRGranuleReader.read([0x7B, 0xFF, 0x7D], context: Self.context) }
        let unknown = #expect(throws: NormalizeError.self) { try Self.read(text: "{\"hits\": 0}") }
        #expect(unknown?.reason.contains("not CMR granule metadata") == true)
    }

    @Test func pointsHolesAndTheAntimeridian() throws {
        let text = """
            {"GranuleUR": "P", "TemporalExtent": {"SingleDateTime": "2020-01-01T00:00:00Z"},
             "SpatialExtent": {"HorizontalSpatialDomain": {"Geometry": {"Points": [{"Longitude": 10.5, "Latitude": -3}]}}}}
            """
        let point = try #require(try Self.read(text: text).records.first)
        #expect(point.geometry == .object(["type": "Point", "coordinates": .array([.number(10.5), .number(-3)])]))
        let hole = """
            {"GranuleUR": "H", "TemporalExtent": {"SingleDateTime": "2020-01-01"},
             "SpatialExtent": {"HorizontalSpatialDomain": {"Geometry": {"GPolygons": [{
               "Boundary": {"Points": [{"Longitude": 0, "Latitude": 0}, {"Longitude": 10, "Latitude": 0},
                 {"Longitude": 10, "Latitude": 10}, {"Longitude": 0, "Latitude": 10}, {"Longitude": 0, "Latitude": 0}]},
               "ExclusiveZone": {"Boundaries": [{"Points": [{"Longitude": 2, "Latitude": 2}, {"Longitude": 4, "Latitude": 2},
                 {"Longitude": 4, "Latitude": 4}, {"Longitude": 2, "Latitude": 2}]}]}}]}}}}
            """
        let holed = try #require(try Self.read(text: hole).records.first)
        #expect(holed.geometry?["coordinates"]?.arrayValue?.count == 2, "outer ring and hole")
        let box = """
            {"GranuleUR": "B", "TemporalExtent": {"SingleDateTime": "2020-01-01T00:00:00Z"},
             "SpatialExtent": {"HorizontalSpatialDomain": {"Geometry": {"BoundingRectangles": [
               {"WestBoundingCoordinate": 170, "EastBoundingCoordinate": -170, "SouthBoundingCoordinate": -5,
                "NorthBoundingCoordinate": 5}]}}}}
            """
        let crossing = try #require(try Self.read(text: box).records.first)
        #expect(crossing.geometry?["type"]?.stringValue == "MultiPolygon")
        #expect(crossing.bbox == [170, -5, -170, 5])
    }
}

/// Bad input yields a rejected granule or a thrown error, never a trap.
extension CMRGranuleReaderTests {
    static let sized = """
        {"GranuleUR": "g", "TemporalExtent": {"SingleDateTime": "2024-01-01T00:00:00Z"},
         "DataGranule": {"ArchiveAndDistributionInformation": [{"Name": "g.h5", "SizeInBytes": SIZE}]},
         "RelatedUrls": [{"URL": "https://e.test/g.h5", "Type": "GET DATA"}]}
        """

    @Test(arguments: ["1e300", "-1", "1.5", "9223372036854775808"])
    func sizesThatAreNoByteCountAreRejected(size: String) throws {
        let output = try Self.read(text: Self.sized.replacingOccurrences(of: "SIZE", with: size))
        #expect(output.records.isEmpty)
        #expect(output.rejected.first?.error.field == "ArchiveAndDistributionInformation.SizeInBytes")
    }

    @Test func theLargestSizeIsKept() throws {
        let output = try Self.read(text: Self.sized.replacingOccurrences(of: "SIZE", with: "9223372036854774784"))
        #expect(output.records.first?.assets.first?.extra["file:size"] == .int(9_223_372_036_854_774_784))
    }

    @Test func deepNestingIsRefused() throws {
        let deep =
            "{\"GranuleUR\": " + String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000) + "}"
        let error = #expect(throws: NormalizeError.self) { try Self.read(text: deep) }
        #expect(error?.reason.contains("nesting deeper than 256") == true, "\(error?.description ?? "")")
    }
}
