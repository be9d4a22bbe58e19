import EOShare
import Foundation
import Testing

/// The Landsat items against stactools-landsat run in the test venv on the same files (the
/// MTL with its `_ANG.txt` beside it, `use_usgs_geometry=False`), and every item through
/// stac-validator. stactools runs once over all fixtures.
enum LandsatPeers {
    static let angFolder = "landsat-c2-ang"

    /// MTL fixtures stactools reads (.txt and .xml; its JSON reader wants the USGS layout).
    static let names: [String] = MTLFixtures.files.filter { !$0.hasSuffix(".json") }

    /// A temporary folder holding every MTL fixture with its angle file beside it.
    static let folder: URL = {
        let folder = RepoPaths.temporaryFolder("landsat-peers")
        for name in MTLFixtures.files {
            try? FileManager.default.copyItem(
                at: SharedFixtures.url("\(MTLFixtures.folder)/\(name)"),
                to: folder.appendingPathComponent(name)
            )
        }
        for name in SharedFixtures.fileNames(in: angFolder) {
            try? FileManager.default.copyItem(
                at: SharedFixtures.url("\(angFolder)/\(name)"),
                to: folder.appendingPathComponent(name)
            )
        }
        return folder
    }()

    /// stactools' answer per MTL file name.
    static let stactools: [String: JSONValue] = {
        let answers = PeerTools.byInput(
            PeerTools.run("stactools_landsat.py", names.map { folder.appendingPathComponent($0).path })
        )
        var out: [String: JSONValue] = [:]
        for (path, answer) in answers { out[URL(fileURLWithPath: path).lastPathComponent] = answer }
        return out
    }()

    /// The angle file of an MTL fixture, when the fixtures have one.
    static func angle(_ name: String) -> [UInt8]? {
        try? SharedFixtures.bytes("\(angFolder)/\(MTLFixtures.productID(name))_ANG.txt")
    }

    static func ours(_ name: String) throws -> Record {
        try LandsatMTLReader.read(
            SharedFixtures.bytes("\(MTLFixtures.folder)/\(name)"),
            angle: angle(name),
            context: MTLFixtures.context(objectName: name)
        )
    }
}

@Suite("Landsat against stactools-landsat")
struct LandsatPeerTests {
    /// Both bboxes come from the MTL's corners widened by half a cell (stactools on the WGS84
    /// geodesic, we on a sphere): the same footprint source, so the issue's ±0.001°.
    static let tolerance = 1e-3

    @Test(arguments: LandsatPeers.names)
    func agreesWithStactools(_ name: String) throws {
        let answer = try #require(LandsatPeers.stactools[name], "stactools answered for \(name)")
        if let error = answer["error"]?.stringValue { Issue.record("stactools failed on \(name): \(error)") }
        let theirs = try #require(answer["item"])
        let tp = try #require(theirs["properties"])
        let record = try LandsatPeers.ours(name)
        let ours = record.properties

        #expect(record.id == theirs["id"]?.stringValue)
        let theirDatetime = try #require(tp["datetime"]?.stringValue.flatMap { Timestamp.parse($0) })
        let datetime = try #require(record.datetime)
        #expect(abs(datetime.timeIntervalSince(theirDatetime)) < 0.001)

        let bbox = try #require(record.bbox)
        let theirBBoxValues = theirs["bbox"]?.arrayValue?.compactMap { $0.doubleValue }
        let theirBBox = try #require(theirBBoxValues)
        #expect(bbox.count == theirBBox.count)
        // Deliberate difference, bbox and geometry of scenes across the antimeridian: stactools
        // takes min/max of the raw corner longitudes (−176 … 179 for a scene 3° wide), so its
        // box, and the ANG footprint placed in it, spans the globe the wrong way (94.4 … −91.9
        // for LC08_L2SR_084024). We unwrap the longitudes first: west > east, a few degrees wide.
        let crosses = bbox[0] > bbox[2]
        if crosses {
            #expect(bbox[0] - bbox[2] > 340, "our bbox across the antimeridian is narrow: \(bbox)")
        } else {
            for (a, b) in zip(bbox, theirBBox) { #expect(abs(a - b) <= Self.tolerance, "bbox \(bbox) vs \(theirBBox)") }
        }

        #expect(ours["platform"] == tp["platform"])
        #expect(ours["instruments"] == tp["instruments"])
        #expect(ours["eo:cloud_cover"]?.doubleValue == tp["eo:cloud_cover"]?.doubleValue)
        for key in ["view:sun_azimuth", "view:sun_elevation"] {
            let a = try #require(ours[key]?.doubleValue, "\(key)")
            let b = try #require(tp[key]?.doubleValue, "\(key)")
            #expect(abs(a - b) <= 0.01, "\(key) \(a) vs \(b)")
        }
        for key in ["landsat:wrs_path", "landsat:wrs_row"] { #expect(ours[key] == tp[key], "\(key)") }
        let theirCode = tp["proj:code"]?.stringValue ?? tp["proj:epsg"]?.doubleValue.map { "EPSG:\(Int($0))" }
        #expect(ours["proj:code"]?.stringValue == theirCode)

        // Assets: stactools adds thumbnails and the MTL.json from the product id; we list
        // what the MTL names (plus those companions only when the bundle has them).
        let derived: Set<String> = ["thumbnail", "reduced_resolution_browse", "mtl.json"]
        let theirKeys = Set(theirs["assets"]?.objectValue?.keys ?? []).subtracting(derived)
        #expect(Set(record.assets.map(\.key)) == theirKeys)

        // With an angle file both footprints come from it: same four corners.
        if LandsatPeers.angle(name) != nil, !crosses {
            let ring = Self.ring(record.geometry)
            let theirRing = Self.ring(theirs["geometry"])
            #expect(ring.count == 5 && theirRing.count == 5)
            for p in ring {
                #expect(
                    theirRing.contains { abs($0[0] - p[0]) <= Self.tolerance && abs($0[1] - p[1]) <= Self.tolerance },
                    "vertex \(p) of the ANG footprint is one of stactools' \(theirRing)"
                )
            }
        }
    }

    @Test func angleFileGivesTheTiltedSceneNotTheBox() throws {
        let name = "LC08_L2SP_047027_20201204_20210313_02_T1_MTL.txt"
        let withAngle = try LandsatPeers.ours(name)
        let without = try MTLFixtures.read(name)
        #expect(withAngle.geometry != without.geometry)
        // stactools' formula on the ANG's first corner (line 4.411174, sample 1687.729780),
        // placed in the MTL's box.
        let bbox = try #require(without.bbox)
        let x = 1687.729780 / 7861 * (bbox[2] - bbox[0]) + bbox[0]
        let y = (7971 - 4.411174) / 7971 * (bbox[3] - bbox[1]) + bbox[1]
        #expect(Self.ring(withAngle.geometry).contains { abs($0[0] - x) < 1e-5 && abs($0[1] - y) < 1e-5 })
    }

    @Test func malformedAngleFileNamesTheKey() throws {
        let name = "LC08_L2SP_047027_20201204_20210313_02_T1_MTL.txt"
        let angle = try #require(LandsatPeers.angle(name))
        let text = String(decoding: angle, as: UTF8.self)
            .replacingOccurrences(
                of: "BAND01_L1T_IMAGE_CORNER_SAMPS = ( 1687.729780",
                with: "BAND01_L1T_IMAGE_CORNER_SAMPS = ( x1687"
            )
        let error = #expect(throws: NormalizeError.self) {
            try LandsatMTLReader.read(
                SharedFixtures.bytes("\(MTLFixtures.folder)/\(name)"),
                angle: Array(text.utf8),
                context: MTLFixtures.context(objectName: name)
            )
        }
        #expect(error?.field == "BAND01_L1T_IMAGE_CORNER_SAMPS")
    }

    @Test func everyItemValidates() throws {
        var items: [JSONValue] = []
        for name in MTLFixtures.files {
            let record = try LandsatPeers.ours(name)
            items.append(STACItemWriter.item(for: record, ingested: Date(timeIntervalSince1970: 1_800_000_000)))
        }
        // One item per encoding of a scene would share a file name: validate per encoding.
        for encoding in ["txt", "xml", "json"] {
            let subset = zip(MTLFixtures.files, items).filter { $0.0.hasSuffix(encoding) }.map(\.1)
            let failures = try STACValidator.validateItems(
                subset,
                in: RepoPaths.temporaryFolder("landsat-items-\(encoding)")
            )
            #expect(failures.isEmpty, "\(failures)")
        }
    }

    static func ring(_ geometry: JSONValue?) -> [[Double]] {
        (geometry?["coordinates"]?.arrayValue?.first?.arrayValue ?? []).map {
            ($0.arrayValue ?? []).compactMap(\.doubleValue)
        }
    }
}
