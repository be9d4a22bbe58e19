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

/// The pipeline file: a valid one loads; every kind of mistake names file:line:column and the key.
@Suite struct PipelineConfigTests {
    static let valid = """
        version: 1
        state: state/c.sqlite
        shared: shared/
        members:
          - {id: NASA, name: National Aeronautics and Space Administration}
          - {id: ESA, name: European Space Agency}
        collections:
          - {id: landsat-c2-l2, title: Landsat Collection 2 Level-2, license: proprietary}
        sources:
          - id: usgs-landsat
            owner: NASA
            collection: landsat-c2-l2
            format: landsat-mtl
            url: http://127.0.0.1:8080/landsat/
            match: ["*_MTL.txt.gz", "*.tar.gz"]
            checksum: sidecar
            auth: {bearer_token_env: NASA_TOKEN}
          - id: local
            owner: ESA
            collection: landsat-c2-l2
            format: landsat-mtl
            url: feeds/esa/
        limits: {fetch_workers: 8, max_object_bytes: 10GiB, max_expansion_ratio: 200, retries: 5}
        embargo:
          rules:
            - match: {owner: NASA, collection: "landsat-*"}
              clock: {latest: [acquired, processed]}
              period: P30D
              grants: {ESA: P7D}
              public: P1Y
          releases:
            - id: charter-917
              reason: "Charter activation 917, flooding"
              effective: 2026-09-02T00:00:00Z
              bbox: [5.0, 45.0, 15.0, 50.0]
              acquired: 2026-09-01T00:00:00Z/2026-09-30T23:59:59Z
              collections: ["*"]
              to: [all]
          holds:
            - {id: legal-3, records: ["LC08_*_2026*"], until: 2027-01-01T00:00:00+01:00, reason: "review"}
        """

    static let file = URL(fileURLWithPath: "/etc/eoshare/pipe.yml")

    @Test func validFileLoadsWithResolvedPathsAndPolicy() throws {
        let p = try Pipeline.parse(Self.valid, file: Self.file)
        #expect(p.statePath.path == "/etc/eoshare/state/c.sqlite")
        #expect(p.sharedRoot.path == "/etc/eoshare/shared")
        #expect(p.members.map(\.id) == ["NASA", "ESA"])
        #expect(p.sources[0].checksum == .sidecar)
        #expect(p.sources[0].auth == .bearerTokenEnv("NASA_TOKEN"))
        #expect(p.sources[1].url.absoluteString == "file:///etc/eoshare/feeds/esa/")
        #expect(p.sources[1].isListing)
        #expect(p.limits.maxObjectBytes == 10 << 30)
        #expect(p.policy.rules[0].clock == .latest([.acquired, .processed]))
        #expect(p.policy.rules[0].grants["ESA"]?.days == 7)
        #expect(p.policy.releases[0].to == [.allMembers])
        #expect(p.policy.holds[0].until == Timestamp.parse("2026-12-31T23:00:00Z"))
    }

    /// Each case replaces one line of the valid file and expects an error at that line naming the key.
    @Test(arguments: [
        ("    owner: NASA", "    owner: NOBODY", "sources[0].owner", "not a declared member"),
        (
            "    collection: landsat-c2-l2\n    format: landsat-mtl\n    url: http",
            "    collection: sentinel\n    format: landsat-mtl\n    url: http", "sources[0].collection",
            "not a declared collection"
        ),
        (
            "  - {id: ESA, name: European Space Agency}", "  - {id: esa, name: European Space Agency}", "members[1].id",
            "not a member id"
        ),
        (
            "  - {id: ESA, name: European Space Agency}", "  - {id: NASA, name: European Space Agency}",
            "members[1].id", "duplicate member id"
        ),
        ("    checksum: sidecar", "    checksums: sidecar", "sources[0].checksums", "unknown key"),
        ("      period: P30D", "      period: 30 days", "embargo.rules[0].period", "not an ISO 8601 duration"),
        ("      period: P30D", "      period: P1M2Y", "embargo.rules[0].period", "not an ISO 8601 duration"),
        (
            "      period: P30D", "      period: PT\(String(repeating: "9", count: 400))S", "embargo.rules[0].period",
            "not an ISO 8601 duration"
        ),
        (
            "    effective: 2026-09-02T00:00:00Z", "    effective: 2026-09-02", "embargo.releases[0].effective",
            "not an RFC 3339 instant"
        ),
        (
            "    match: [\"*_MTL.txt.gz\", \"*.tar.gz\"]", "    match: [\"*_MTL[.txt.gz\"]", "sources[0].match[0]",
            "bad glob"
        ),
        (
            "limits: {fetch_workers: 8,", "limits: {fetch_workers: many,", "limits.fetch_workers",
            "expected a whole number"
        ),
        ("      grants: {ESA: P7D}", "      grants: {JAXA: P7D}", "embargo.rules[0].grants.JAXA", "unknown key"),
        (
            "    format: landsat-mtl\n    url: http", "    format: landsat\n    url: http", "sources[0].format",
            "unknown format"
        ),
        ("  - id: local", "  - id: usgs-landsat", "sources[1].id", "duplicate source id"),
        ("      to: [all]", "      to: [MARS]", "embargo.releases[0].to[0]", "not all, public or a declared member"),
        ("version: 1", "version: 2", "version", "only version 1"),
        // Ids are checked to the real end of the string: a regex `$` matches before a final newline.
        (
            "  - {id: ESA, name: European Space Agency}", "  - {id: \"ESA\\n\", name: European Space Agency}",
            "members[1].id", "not a member id"
        ),
        ("  - id: local", "  - id: \"local\\n\"", "sources[1].id", "not a source id"),
        (
            "  - {id: landsat-c2-l2, title:", "  - {id: \"landsat-c2-l2\\n\", title:", "collections[0].id",
            "not a collection id"
        ),
        ("    - id: charter-917", "    - id: \"charter-917\\n\"", "embargo.releases[0].id", "not a release id"),
        ("    - {id: legal-3,", "    - {id: \"legal-3\\n\",", "embargo.holds[0].id", "not a hold id"),
        (
            "    auth: {bearer_token_env: NASA_TOKEN}", "    auth: {bearer_token_env: \"NASA_TOKEN\\n\"}",
            "sources[0].auth.bearer_token_env", "not an environment variable name"
        ),
        // A release box: west > east only for a box across the antimeridian narrower than 180°;
        // finite coordinates in range.
        (
            "      bbox: [5.0, 45.0, 15.0, 50.0]", "      bbox: [15, -80, 5, 80]", "embargo.releases[0].bbox",
            "crosses the antimeridian"
        ),
        (
            "      bbox: [5.0, 45.0, 15.0, 50.0]", "      bbox: [90, -10, -90, 10]", "embargo.releases[0].bbox",
            "crosses the antimeridian"
        ),
        (
            "      bbox: [5.0, 45.0, 15.0, 50.0]", "      bbox: [.nan, 45.0, 15.0, 50.0]",
            "embargo.releases[0].bbox[0]", "expected a number"
        ),
        (
            "      bbox: [5.0, 45.0, 15.0, 50.0]", "      bbox: [5.0, 45.0, 1e400, 50.0]",
            "embargo.releases[0].bbox[2]", "expected a number"
        ),
        (
            "      bbox: [5.0, 45.0, 15.0, 50.0]", "      bbox: [5.0, -.inf, 15.0, 50.0]",
            "embargo.releases[0].bbox[1]", "expected a number"
        ),
        (
            "      bbox: [5.0, 45.0, 15.0, 50.0]", "      bbox: [5.0, 45.0, 15.0, 91]", "embargo.releases[0].bbox",
            "in degrees"
        ),
        (
            "      bbox: [5.0, 45.0, 15.0, 50.0]", "      bbox: [-181, 45.0, 15.0, 50.0]", "embargo.releases[0].bbox",
            "in degrees"
        ),
    ])
    func errorsNamePositionAndKey(original: String, replacement: String, key: String, message: String) throws {
        #expect(Self.valid.contains(original), "test case does not apply: \(original)")
        let text = Self.valid.replacingOccurrences(of: original, with: replacement)
        let lineOfChange = Self.valid.components(separatedBy: original)[0].components(separatedBy: "\n").count
        let error = #expect(throws: ConfigError.self) { try Pipeline.parse(text, file: Self.file) }
        #expect(error?.key == key)
        #expect(error?.message.contains(message) == true, "\(error?.description ?? "")")
        #expect(error?.file == "/etc/eoshare/pipe.yml")
        // The error points into the changed text (a replacement may span lines).
        let changedLines = replacement.components(separatedBy: "\n").count
        #expect((lineOfChange..<lineOfChange + changedLines).contains(error?.line ?? -1), "\(error?.description ?? "")")
        #expect((error?.column ?? 0) >= 1)
        #expect(error?.description.hasPrefix("/etc/eoshare/pipe.yml:\(error?.line ?? 0):") == true)
    }

    /// A box across the antimeridian (west > east) narrower than 180° is what it says.
    @Test func releaseBoxAcrossTheAntimeridianLoads() throws {
        let crossing = Self.valid.replacingOccurrences(
            of: "bbox: [5.0, 45.0, 15.0, 50.0]",
            with: "bbox: [170.0, -20.0, -170.0, -10.0]"
        )
        let p = try Pipeline.parse(crossing, file: Self.file)
        #expect(p.policy.releases[0].bbox == [170, -20, -170, -10])
        let almostHalf = Self.valid.replacingOccurrences(
            of: "bbox: [5.0, 45.0, 15.0, 50.0]",
            with: "bbox: [100.0, -20.0, -80.5, -10.0]"
        )
        #expect(try Pipeline.parse(almostHalf, file: Self.file).policy.releases[0].bbox?[0] == 100)
    }

    /// Nesting, in flow or in clocks, is refused with a position, never a stack overflow:
    /// libyaml stops at 1,000 levels with a syntax error, so the clock walk recurses less.
    @Test func deepNestingIsRefused() throws {
        let flow =
            "version: 1\nmembers: " + String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
            + "\n"
        let e1 = #expect(throws: ConfigError.self) { try Pipeline.parse(flow, file: Self.file) }
        #expect(e1?.key == "(syntax)" && e1?.line == 2, "\(e1?.description ?? "")")
        let clocks = Self.valid.replacingOccurrences(
            of: "clock: {latest: [acquired, processed]}",
            with: "clock: " + String(repeating: "{latest: [", count: 2_000) + "acquired"
                + String(repeating: "]}", count: 2_000)
        )
        let e2 = #expect(throws: ConfigError.self) { try Pipeline.parse(clocks, file: Self.file) }
        #expect(e2?.key == "(syntax)", "\(e2?.description ?? "")")
    }

    @Test func wrongTypeAndSyntaxErrorsHavePositions() throws {
        let wrongType = Self.valid.replacingOccurrences(
            of: "members:\n  - {id: NASA",
            with: "members: NASA\nx:\n  - {id: NASA"
        )
        let e1 = #expect(throws: ConfigError.self) { try Pipeline.parse(wrongType, file: Self.file) }
        #expect(e1 != nil)
        let syntax = "version: 1\nmembers: [\n"
        let e2 = #expect(throws: ConfigError.self) { try Pipeline.parse(syntax, file: Self.file) }
        #expect(e2?.key == "(syntax)")
        #expect((e2?.line ?? 0) >= 2)
        let missing = "version: 1\nmembers: [{id: NASA}]\ncollections: []\n"
        let e3 = #expect(throws: ConfigError.self) { try Pipeline.parse(missing, file: Self.file) }
        #expect(e3?.key == "sources")
    }

    @Test func shippedDemoPipelineIsValid() throws {
        let demo = RepoPaths.root.appendingPathComponent("Pipelines/demo.yml")
        let p = try Pipeline.load(from: demo)
        #expect(p.members.count == 5)
        #expect(p.sources.first?.url.isFileURL == true)
    }

    @Test func packetSettingsLoadAndCUCNeedsItsLayout() throws {
        let packets = Self.valid.replacingOccurrences(
            of: "    format: landsat-mtl\n    url: feeds/esa/",
            with: "    format: ccsds-packets\n    url: feeds/esa/\n"
                + "    packets: {time_code: cuc, epoch: \"2000-01-01T00:00:00Z\", apids: [1216], p_field: true, offset: 2}"
        )
        let p = try Pipeline.parse(packets, file: Self.file)
        #expect(p.sources[1].packets?.pField == true && p.sources[1].packets?.offset == 2)
        let vague = packets.replacingOccurrences(of: ", p_field: true", with: "")
        let error = #expect(throws: ConfigError.self) { try Pipeline.parse(vague, file: Self.file) }
        #expect(error?.message.contains("coarse_bytes") == true, "\(error?.description ?? "")")
    }
}
