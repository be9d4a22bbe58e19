import EOShare
import Foundation
import Testing

@testable import EOShareServe

/// CQL2 text and JSON on the properties eoshare writes, and the search parameters' checks.
@Suite struct ServeFilterTests {
    static let item: JSONValue = try! JSONValue.parse(
        Array(
            """
            {"type":"Feature","id":"LC09_L2SP_029068_20261030_02_T1","collection":"landsat-c2-l2",
             "geometry":{"type":"Polygon","coordinates":[[[10,40],[12,40],[12,42],[10,42],[10,40]]]},
             "properties":{"datetime":"2026-10-30T13:03:46.123Z","platform":"landsat-9","eo:cloud_cover":25.2,
              "consortium:owner":"NASA","consortium:ingested":"2026-11-21T12:00:00.000Z"}}
            """.utf8
        )
    )

    /// The same question in both encodings gives the same answer.
    @Test(arguments: [
        (
            "eo:cloud_cover < 30 AND platform = 'landsat-9'",
            #"{"op":"and","args":[{"op":"<","args":[{"property":"eo:cloud_cover"},30]},{"op":"=","args":[{"property":"platform"},"landsat-9"]}]}"#,
            true
        ),
        (
            "eo:cloud_cover >= 30 OR NOT platform LIKE 'landsat%'",
            #"{"op":"or","args":[{"op":">=","args":[{"property":"eo:cloud_cover"},30]},{"op":"not","args":[{"op":"like","args":[{"property":"platform"},"landsat%"]}]}]}"#,
            false
        ),
        ("eo:cloud_cover BETWEEN 25 AND 26", #"{"op":"between","args":[{"property":"eo:cloud_cover"},[25,26]]}"#, true),
        (
            "platform IN ('landsat-8', 'landsat-9')",
            #"{"op":"in","args":[{"property":"platform"},["landsat-8","landsat-9"]]}"#, true
        ),
        ("\"view:off_nadir\" IS NULL", #"{"op":"isNull","args":[{"property":"view:off_nadir"}]}"#, true),
        (
            "datetime > TIMESTAMP('2026-10-30T13:03:46Z')",
            #"{"op":">","args":[{"property":"datetime"},{"timestamp":"2026-10-30T13:03:46Z"}]}"#, true
        ),
        (
            "T_INTERSECTS(datetime, INTERVAL('2026-10-30T00:00:00Z', '..'))",
            #"{"op":"t_intersects","args":[{"property":"datetime"},{"interval":["2026-10-30T00:00:00Z",".."]}]}"#, true
        ),
        (
            "T_INTERSECTS(datetime, INTERVAL('2026-10-31', '2026-11-30'))",
            #"{"op":"t_intersects","args":[{"property":"datetime"},{"interval":["2026-10-31","2026-11-30"]}]}"#, false
        ),
        (
            "consortium:ingested >= TIMESTAMP('2026-11-21T12:00:00Z')",
            #"{"op":">=","args":[{"property":"consortium:ingested"},{"timestamp":"2026-11-21T12:00:00Z"}]}"#, true
        ),
        (
            "S_INTERSECTS(geometry, POINT(11 41))",
            #"{"op":"s_intersects","args":[{"property":"geometry"},{"type":"Point","coordinates":[11,41]}]}"#, true
        ),
        (
            "S_INTERSECTS(geometry, POLYGON((12 42, 13 42, 13 43, 12 43, 12 42)))",
            #"{"op":"s_intersects","args":[{"property":"geometry"},{"type":"Polygon","coordinates":[[[12,42],[13,42],[13,43],[12,43],[12,42]]]}]}"#,
            true
        ),
        (
            "s_intersects(geometry, LINESTRING(0 0, 9.9 45))",
            #"{"op":"s_intersects","args":[{"property":"geometry"},{"type":"LineString","coordinates":[[0,0],[9.9,45]]}]}"#,
            false
        ),
        (
            "S_INTERSECTS(geometry, BBOX(11.5, 41.5, 20, 50))",
            #"{"op":"s_intersects","args":[{"property":"geometry"},{"bbox":[11.5,41.5,20,50]}]}"#, true
        ),
        (
            "id = 'LC09_L2SP_029068_20261030_02_T1' AND collection <> 'other'",
            #"{"op":"and","args":[{"op":"=","args":[{"property":"id"},"LC09_L2SP_029068_20261030_02_T1"]},{"op":"<>","args":[{"property":"collection"},"other"]}]}"#,
            true
        ),
    ])
    func textAndJSONAgree(text: String, json: String, expected: Bool) throws {
        let fromText = try CQL2TextParser.parse(text)
        let fromJSON = try CQL2.parse(json: try JSONValue.parse(Array(json.utf8)))
        #expect(fromText.evaluate(Self.item) == expected, "\(text)")
        #expect(fromJSON.evaluate(Self.item) == expected, "\(json)")
    }

    @Test func aMissingPropertyIsUnknownNotFalse() throws {
        let f = try CQL2TextParser.parse("mission = 'x'")
        #expect(f.evaluate(Self.item) == nil)
        #expect(try CQL2TextParser.parse("NOT mission = 'x'").evaluate(Self.item) == nil)
        #expect(try CQL2TextParser.parse("mission = 'x' OR gsd IS NULL").evaluate(Self.item) == true)
    }

    @Test func likePatterns() {
        #expect(CQL2.like("landsat-9", "landsat%"))
        #expect(CQL2.like("landsat-9", "l_ndsat-_"))
        #expect(!CQL2.like("landsat-9", "sentinel%"))
        #expect(CQL2.like("50%", "50\\%"))
        #expect(!CQL2.like("500", "50\\%"))
        #expect(CQL2.like(String(repeating: "a", count: 2000), String(repeating: "%a", count: 40)))
    }

    @Test(arguments: [
        ("eo:cloud_cover <", "the filter ends where a value was expected"),
        ("eo:cloud_cover = 'x", "a quote in the filter is not closed"),
        ("S_CROSSES(geometry, POINT(1 2))", "the CQL2 function 'S_CROSSES' is not supported"),
        ("datetime > TIMESTAMP('yesterday')", "'yesterday' is not an RFC 3339 timestamp"),
        (
            "S_INTERSECTS(geometry, POLYGON((1 2, 3 4, 1 2)))",
            "the filter's geometry (Polygon) needs at least 4 positions"
        ),
        ("(gsd = 30", "expected ')' at the end"),
    ])
    func badFiltersAreNamed(text: String, message: String) {
        do {
            _ = try CQL2TextParser.parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test func searchParametersAreChecked() throws {
        func error(_ query: [(String, String)]) -> String {
            do {
                _ = try SearchParameters(query: query)
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(error([("bbox", "1,2,3")]) == "bbox needs 4 or 6 numbers, got 3")
        #expect(error([("bbox", "0,1,1,0")]) == "bbox south 1.0 is north of north 0.0")
        #expect(error([("datetime", "../..")]) == "datetime '../..' is open at both ends")
        #expect(
            error([("datetime", "2026-01-02T00:00:00Z/2026-01-01T00:00:00Z")])
                == "datetime '2026-01-02T00:00:00Z/2026-01-01T00:00:00Z' ends before it starts"
        )
        #expect(error([("datetime", "2026-01-01")]) == "datetime '2026-01-01': '2026-01-01' is not an RFC 3339 instant")
        #expect(error([("limit", "0")]) == "limit must be at least 1")
        #expect(error([("sortby", "-landsat:scene_id,+unknown")]).hasPrefix("cannot sort by 'unknown'"))
        #expect(
            error([("bbox", "0,0,1,1"), ("intersects", #"{"type":"Point","coordinates":[0,0]}"#)])
                == "give bbox or intersects, not both"
        )
        #expect(error([("token", "not-a-token")]) == "token is not one this server gave")
        let open = try SearchParameters(query: [("datetime", "2026-01-01T00:00:00Z/.."), ("limit", "999999")])
        #expect(open.datetime?.start == Timestamp.parse("2026-01-01T00:00:00Z") && open.datetime?.end == nil)
        #expect(open.limit == SearchParameters.maximumLimit)
        let token = PageToken(previous: true, key: [.number(1.5e9 + 0.123456), .text("c"), .null])
        let back = try PageToken(token.text)
        #expect(back.previous && back.key == token.key)
    }
}
