import EOShare
import Foundation
import Testing

/// CCSDS space packet files: statistics against ccsdspy's decoding of the same files, and
/// synthetic packets for the cases the fixtures lack (wraparound, gaps, idle packets, P-fields).
enum CCSDSFixtures {
    static let folder = "ccsds-space-packets"
    static let jpss = "jpss1/J01_G011_LZ_2021-04-09T00-00-00Z_V01.DAT1"
    static let cygnss = "cygnss/CYGNSS_F7_L0_2022_086_10_15_V01_F__first101pkts.tlm"
    static let europa = SharedFixtures.fileNames(in: "\(folder)/europa_clipper").map { "europa_clipper/\($0)" }
    static let all = [jpss, cygnss] + europa

    static let epoch1958 = Timestamp.parse("1958-01-01T00:00:00Z")!
    /// JPSS-1: CDS right after the primary header, 16-bit day, 32-bit ms, 16-bit µs.
    static let jpssTime = PacketTimeConfig(timeCode: .cds, epoch: epoch1958, apids: [11], microseconds: true)
    /// Europa Clipper ECM: 32-bit SCLK seconds and 16-bit subseconds (CUC 4+2, no P-field).
    static let europaTime = PacketTimeConfig(
        timeCode: .cuc,
        epoch: Timestamp.parse("2000-01-01T11:58:55.816Z")!,
        coarseBytes: 4,
        fineBytes: 2
    )

    /// ccsdspy's view of every fixture, one run.
    static let ccsdspy: [String: JSONValue] = {
        var arguments = ["--cds", SharedFixtures.url("\(folder)/\(jpss)").path]
        arguments += ([cygnss] + europa).map { SharedFixtures.url("\(folder)/\($0)").path }
        var out: [String: JSONValue] = [:]
        for (path, answer) in PeerTools.byInput(PeerTools.run("ccsdspy_stats.py", arguments)) {
            out[String(path.dropFirst(SharedFixtures.url(folder).path.count + 1))] = answer
        }
        return out
    }()

    static func context(_ name: String) -> ReaderContext {
        ReaderContext(
            owner: "NOAA",
            collection: "l0",
            source: "packets",
            objectURL: URL(string: "https://x.test/\(name)")!
        )
    }
}

@Suite("CCSDS space packets")
struct CCSDSPacketReaderTests {
    @Test(arguments: CCSDSFixtures.all)
    func statisticsAgreeWithCcsdspy(_ path: String) throws {
        let theirs = try #require(CCSDSFixtures.ccsdspy[path], "ccsdspy answered for \(path)")
        // No time code for CYGNSS (its secondary header is mission-specific): apids [] reads none.
        let settings =
            path == CCSDSFixtures.jpss
            ? CCSDSFixtures.jpssTime
            : path.hasPrefix("europa")
                ? CCSDSFixtures.europaTime : PacketTimeConfig(timeCode: .cds, epoch: .now, apids: [])
        let stats = try CCSDSPacketReader.statistics(
            of: SharedFixtures.url("\(CCSDSFixtures.folder)/\(path)"),
            settings: settings
        )
        #expect(stats.packets == Int(theirs["packets"]?.doubleValue ?? -1))
        let apids = try #require(theirs["apids"]?.objectValue)
        #expect(Set(stats.apids.keys.map(String.init)) == Set(apids.keys))
        for (key, value) in apids.entries {
            let ours = try #require(stats.apids[Int(key)!])
            #expect(ours.packets == Int(value["packets"]?.doubleValue ?? -1), "APID \(key) packets")
            #expect(ours.firstSequenceCount == Int(value["first"]?.doubleValue ?? -1), "APID \(key) first count")
            #expect(ours.lastSequenceCount == Int(value["last"]?.doubleValue ?? -1), "APID \(key) last count")
        }
        if let first = theirs["first_time"]?.stringValue, let last = theirs["last_time"]?.stringValue {
            let ours = try #require(stats.apids[11])
            #expect(ours.firstTime.map { Timestamp.format($0, fractionDigits: 6) } == first)
            #expect(ours.lastTime.map { Timestamp.format($0, fractionDigits: 6) } == last)
        }
    }

    @Test func jpssRecord() throws {
        let url = SharedFixtures.url("\(CCSDSFixtures.folder)/\(CCSDSFixtures.jpss)")
        let record = try CCSDSPacketReader.read(
            file: url,
            name: url.lastPathComponent,
            settings: CCSDSFixtures.jpssTime,
            context: CCSDSFixtures.context(url.lastPathComponent)
        )
        #expect(record.id == "J01_G011_LZ_2021-04-09T00-00-00Z_V01")
        #expect(record.geometry == nil && record.datetime == nil)
        #expect(record.startDatetime.map(Timestamp.format) == "2021-04-09T00:00:00.007Z")
        #expect(record.endDatetime.map(Timestamp.format) == "2021-04-09T01:59:59.005Z")
        #expect(record.properties["ccsds:packets"] == .int(7200))
        #expect(record.properties["ccsds:idle_packets"] == .int(0))
        let apid = try #require(record.properties["ccsds:apids"]?.arrayValue?.first)
        #expect(apid["apid"] == .int(11) && apid["gaps"] == .int(0))
        #expect(apid["first_time"] == .string("2021-04-09T00:00:00.007137Z"))
        let item = STACItemWriter.item(for: record, ingested: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(item["geometry"] == .null)
        #expect(try STACValidator.validateItems([item], in: RepoPaths.temporaryFolder("ccsds-item")).isEmpty)
    }

    @Test func cygnssWithoutATimeCodeIsQuarantinedNamingTime() throws {
        let url = SharedFixtures.url("\(CCSDSFixtures.folder)/\(CCSDSFixtures.cygnss)")
        let error = #expect(throws: NormalizeError.self) {
            try CCSDSPacketReader.read(
                file: url,
                name: url.lastPathComponent,
                settings: PacketTimeConfig(timeCode: .cds, epoch: .now, apids: []),
                context: CCSDSFixtures.context("c")
            )
        }
        #expect(error?.field == "time")
    }

    // MARK: Synthetic packets

    /// One packet: APID, sequence count, secondary-header flag, data field bytes.
    static func packet(_ apid: Int, _ sequence: Int, secondary: Bool = true, _ data: [UInt8]) -> [UInt8] {
        let length = data.count - 1
        return [
            UInt8((secondary ? 0x08 : 0) | (apid >> 8)), UInt8(apid & 0xFF), UInt8(0xC0 | (sequence >> 8)),
            UInt8(sequence & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF),
        ] + data
    }

    static func be(_ value: UInt64, _ bytes: Int) -> [UInt8] {
        (0..<bytes).reversed().map { UInt8((value >> (8 * $0)) & 0xFF) }
    }

    static func stats(_ packets: [[UInt8]], _ settings: PacketTimeConfig) throws -> CCSDSPacketReader.Statistics {
        let url = RepoPaths.temporaryFolder("packets").appendingPathComponent("p.bin")
        try Data(packets.flatMap { $0 }).write(to: url)
        return try CCSDSPacketReader.statistics(of: url, settings: settings)
    }

    static let unixEpoch = Date(timeIntervalSince1970: 0)

    @Test func wraparoundGapsAndIdlePackets() throws {
        let cuc = PacketTimeConfig(timeCode: .cuc, epoch: Self.unixEpoch, coarseBytes: 4, fineBytes: 0)
        let packets = [
            Self.packet(5, 16382, Self.be(100, 4) + [1]), Self.packet(5, 16383, Self.be(101, 4) + [1]),
            Self.packet(2047, 0, secondary: false, [0xFF, 0xFF]),
            Self.packet(5, 0, Self.be(102, 4) + [1]),  // wraps: no gap
            Self.packet(5, 3, Self.be(105, 4) + [1]),  // 1 and 2 missing
            Self.packet(6, 7, secondary: false, [0]),  // no secondary header: counted, no time
        ]
        let s = try Self.stats(packets, cuc)
        #expect(s.packets == 6 && s.idlePackets == 1)
        let five = try #require(s.apids[5])
        #expect(five.packets == 4 && five.firstSequenceCount == 16382 && five.lastSequenceCount == 3)
        #expect(five.gaps == 1 && five.missingPackets == 2)
        #expect(s.start == Date(timeIntervalSince1970: 100) && s.end == Date(timeIntervalSince1970: 105))
        #expect(s.apids[6]?.firstTime == nil && s.apids[2047] == nil)
    }

    @Test func timeCodesWithPFieldsAndOffsets() throws {
        // CUC with a P-field: 0x2E = level-2 epoch, 4 coarse octets, 2 fine; after a 3-byte offset.
        let cuc = PacketTimeConfig(timeCode: .cuc, epoch: Self.unixEpoch, offset: 3, pField: true)
        let a = try Self.stats([Self.packet(1, 0, [9, 9, 9, 0x2E] + Self.be(1000, 4) + [0x80, 0x00])], cuc)
        #expect(a.start == Date(timeIntervalSince1970: 1000.5))
        // CDS with a P-field: 0x41 = CDS, 16-bit day, microseconds.
        let cds = PacketTimeConfig(timeCode: .cds, epoch: Self.unixEpoch, pField: true)
        let b = try Self.stats([Self.packet(1, 0, [0x41] + Self.be(2, 2) + Self.be(1500, 4) + Self.be(250, 2))], cds)
        #expect(b.start == Date(timeIntervalSince1970: 2 * 86_400 + 1.50025))
        // CDS without microseconds.
        let plain = PacketTimeConfig(timeCode: .cds, epoch: Self.unixEpoch)
        let c = try Self.stats([Self.packet(1, 0, Self.be(1, 2) + Self.be(10, 4) + [0])], plain)
        #expect(c.start == Date(timeIntervalSince1970: 86_400.01))
    }

    @Test func brokenFilesNameTheFieldAndPlace() throws {
        let cds = PacketTimeConfig(timeCode: .cds, epoch: Self.unixEpoch, microseconds: true)
        let good = Self.packet(1, 0, Self.be(1, 2) + Self.be(10, 4) + Self.be(0, 2))
        let truncated = #expect(throws: NormalizeError.self) { try Self.stats([good, Array(good.prefix(9))], cds) }
        #expect(truncated?.field == "packets" && truncated?.reason.contains("packet 2 at byte 14") == true)
        let badMillis = Self.packet(1, 1, Self.be(1, 2) + Self.be(90_000_000, 4) + Self.be(0, 2))
        let time = #expect(throws: NormalizeError.self) { try Self.stats([good, badMillis], cds) }
        #expect(time?.field == "time" && time?.reason.contains("out of range") == true)
        let short = Self.packet(1, 1, [0, 1, 2])
        let inside = #expect(throws: NormalizeError.self) { try Self.stats([short], cds) }
        #expect(inside?.reason.contains("ends inside") == true)
    }

    @Test func memoryStaysFlatOnALargeFile() throws {
        // 200,000 packets (≈ 3 MB) stream through the fixed buffer.
        let cuc = PacketTimeConfig(timeCode: .cuc, epoch: Self.unixEpoch, coarseBytes: 4, fineBytes: 0)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(200_000 * 16)
        for i in 0..<200_000 { bytes += Self.packet(9, i % 16384, Self.be(UInt64(i), 4) + [0, 0, 0, 0, 0]) }
        let url = RepoPaths.temporaryFolder("large").appendingPathComponent("big.bin")
        try Data(bytes).write(to: url)
        let s = try CCSDSPacketReader.statistics(of: url, settings: cuc)
        #expect(s.packets == 200_000 && s.apids[9]?.gaps == 0)
        #expect(s.end == Date(timeIntervalSince1970: 199_999))
    }
}

/// A time code that lands past year 9999 (where RFC 3339 ends) is refused with the packet,
/// not published as an instant no one can read.
extension CCSDSPacketReaderTests {
    @Test func timeCodesPastYear9999AreRefused() throws {
        // CDS P-field 0x44: 24-bit day segment; 16,777,215 days is year 47,891.
        let cds = PacketTimeConfig(timeCode: .cds, epoch: CCSDSFixtures.epoch1958, pField: true)
        let e1 = #expect(throws: NormalizeError.self) {
            try Self.stats([Self.packet(1, 0, [0x44] + Self.be(0xFF_FFFF, 3) + Self.be(0, 4))], cds)
        }
        #expect(e1?.field == "time" && e1?.reason.contains("past year 9999") == true, "\(e1?.description ?? "")")
        // CUC P-field 0x9E + extension 0x60: 7 coarse octets, the largest count of seconds.
        let cuc = PacketTimeConfig(timeCode: .cuc, epoch: Self.unixEpoch, pField: true)
        let e2 = #expect(throws: NormalizeError.self) {
            try Self.stats([Self.packet(1, 0, [0x9C, 0x60] + [UInt8](repeating: 0xFF, count: 7))], cuc)
        }
        #expect(e2?.field == "time" && e2?.reason.contains("past year 9999") == true, "\(e2?.description ?? "")")
        // The last second of year 9999 is still a time.
        let last = try Self.stats([Self.packet(1, 0, [0x9C, 0x60] + Self.be(253_402_300_799, 7))], cuc)
        #expect(last.end.map(Timestamp.format) == "9999-12-31T23:59:59Z")
    }
}
