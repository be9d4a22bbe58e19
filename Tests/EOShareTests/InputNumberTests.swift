import Foundation
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

/// Numbers read from a listing or an index are input: a size of 1e300, `infK`, NaN, a
/// negative or a 20-digit one must not trap the process on a conversion. An impossible size
/// is unknown (the transfer's own length is still checked) and the run goes on.
@Suite struct InputNumberTests {
    static let scenes = [
        "LC08_L2SP_005009_20150710_20200908_02_T2_MTL.txt", "LC08_L2SP_008059_20191201_20200825_02_T1_MTL.txt",
        "LC08_L2SP_017036_20130419_20200913_02_T2_MTL.txt", "LC08_L2SR_084024_20160111_20201016_02_T1_MTL.txt",
    ]

    @Test func impossibleSizesInAJSONIndexAreUnknown() async throws {
        let h = try FetchHarness()
        for scene in Self.scenes { try h.serve(scene, try FetchHarness.sceneBytes(scene)) }
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        let sizes = ["1e300", "18446744073709551616", "-5", "12.5"]
        let entries = zip(Self.scenes, sizes).map { #"{"url": "\#($0)", "size": \#($1)}"# }
        try h.serve("index.json", Array("[\(entries.joined(separator: ", "))]".utf8))
        let p = try h.pipeline(url: server.url("/feed/index.json").absoluteString, source: "index: true")
        let capture = LogCapture()
        let summary = try await FetchHarness.ingest(p, logger: capture.logger())
        #expect(summary.records == 4 && summary.quarantined == 0, "\(FetchHarness.quarantineReasons(p))")
        // Each one named in a warning.
        let warned = capture.text.split(separator: "\n").filter { $0.contains("not a byte count; ignored") }
        #expect(warned.count == 4, "\(capture.text)")
    }

    @Test func impossibleSizesOnAnIndexPageAreUnknown() async throws {
        let h = try FetchHarness()
        for scene in Self.scenes { try h.serve(scene, try FetchHarness.sceneBytes(scene)) }
        let server = try TestHTTPServer(root: h.www)
        defer { server.stop() }
        // An Apache-like page whose size column reads what no size is.
        let shown = ["infK", "nanM", "-3K", "1e300G"]
        let rows = zip(Self.scenes, shown).map { scene, size in
            #"<tr><td><a href="\#(scene)">\#(scene)</a></td><td>2024-05-01 10:00</td><td align="right">\#(size)</td></tr>"#
        }
        let page = "<html><body><table>\n\(rows.joined(separator: "\n"))\n</table></body></html>\n"
        server.setBody(path: "/feed/", body: Array(page.utf8), contentType: "text/html")
        let p = try h.pipeline(url: server.url("/feed/").absoluteString)
        let summary = try await FetchHarness.ingest(p)
        #expect(summary.discovered == 4)
        #expect(summary.records == 4 && summary.quarantined == 0, "\(FetchHarness.quarantineReasons(p))")
    }

    @Test(
        arguments: [
            ("infK", nil), ("nanK", nil), ("-3K", nil), ("-5", nil), ("1e300G", nil), ("99999999999999999999", nil),
            ("8388607T", .approximate(8_388_607 << 40)), ("12K", .approximate(12_288)), ("1234", .exact(1234)),
            ("0", .exact(0)),
        ] as [(String, ListingParser.ListedSize?)]
    )
    func aListedSizeIsABytesCountOrNothing(token: String, size: ListingParser.ListedSize?) {
        #expect(ListingParser.listedSize(Substring("</a> 2024-05-01 10:00  \(token)")) == size)
    }

    @Test func ftpListingsWithImpossibleNumbersAreReadWithoutThem() {
        // `½` and `٣` are numbers to Swift, not digits to Int32.
        let half = FTPListing.mlsd("type=file;size=12;modify=2024050110000½; a.txt")
        #expect(half?.name == "a.txt" && half?.size == 12 && half?.modified == nil)
        let arabic = FTPListing.mlsd("type=file;size=12;modify=٢٠٢٤٠٥٠١١٠٠٠٠٠; b.txt")
        #expect(arabic?.name == "b.txt" && arabic?.modified == nil)
        #expect(FTPListing.mlsd("type=file;size=-4;modify=20240501100000; c.txt")?.size == nil)
        #expect(FTPListing.mlsd("type=file;size=99999999999999999999; d.txt")?.size == nil)
        #expect(FTPListing.unix("-rw-r--r--   1 eo eo   -17 May 01 10:00 e.txt")?.size == nil)
        #expect(FTPListing.unix("-rw-r--r--   1 eo eo   17 May 01 10:00 f.txt")?.size == 17)
    }

    @Test func sizesFromJSONAreWholeByteCountsOrNothing() throws {
        let values = try JSONValue.parse(
            Array("[1e300, -1, 12.5, 9223372036854775807, 9223372036854775808, 42, 4.2e1, \"7\", null]".utf8)
        )
        #expect(values.arrayValue?.map(ListingParser.byteCount) == [nil, nil, nil, Int64.max, nil, 42, 42, nil, nil])
    }
}
