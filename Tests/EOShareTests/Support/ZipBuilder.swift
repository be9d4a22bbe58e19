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

/// Writes zip archives field by field: stored and deflate entries, data descriptors (with
/// or without their signature), zip64 records, Unix modes, and deliberate lies (a CRC, a
/// local name or an offset that disagrees with the central directory).
struct ZipBuilder {
    struct Entry {
        var name: [UInt8]
        var payload: [UInt8]
        var method: UInt16 = 8
        /// Sizes and CRC-32 after the data instead of in the local header (flag bit 3).
        var dataDescriptor = false
        var descriptorSignature = true
        /// 64-bit sizes and offset in zip64 extra fields.
        var zip64 = false
        /// Unix mode bits for the central directory's external attributes (made on Unix).
        var unixMode: UInt32? = 0o100644
        var flags: UInt16 = 0x0800
        /// Lies: a CRC-32 every header states (not the data's), one only the central directory
        /// states, a local name, a central uncompressed size.
        var statedCRC: UInt32? = nil
        var centralCRC: UInt32? = nil
        var localName: [UInt8]? = nil
        var centralUncompressedSize: Int? = nil

        init(_ name: String, _ payload: [UInt8], method: UInt16 = 8) {
            self.name = Array(name.utf8)
            self.payload = payload
            self.method = method
        }
    }

    var entries: [Entry] = []
    /// More central directory entries for entry 0, pointing at its local header: the
    /// overlapping-entries bomb.
    var extraCentralCopiesOfFirst = 0
    /// Bytes cut from the end of the finished archive.
    var truncateBy = 0

    mutating func add(_ entry: Entry) { entries.append(entry) }

    mutating func add(_ name: String, _ text: String, method: UInt16 = 8) {
        entries.append(Entry(name, Array(text.utf8), method: method))
    }

    func build() -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        var centralCount = 0
        var firstCentral: [UInt8] = []
        let anyZip64 = entries.contains { $0.zip64 }
        for entry in entries {
            let offset = out.count
            let crc = entry.statedCRC ?? CRC32.checksum(entry.payload)
            let stored = entry.method == 8 ? Deflater.compress(entry.payload, format: .rawDeflate) : entry.payload
            let flags = entry.flags | (entry.dataDescriptor ? 0x0008 : 0)
            let needed: UInt16 = entry.zip64 ? 45 : 20
            // Local header.
            var local: [UInt8] = []
            local += le32(ZipReader.localHeaderSignature) + le16(needed) + le16(flags) + le16(entry.method)
            local += le16(0x6000) + le16(0x5B21)
            if entry.dataDescriptor {
                local += le32(0) + (entry.zip64 ? le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) : le32(0) + le32(0))
            } else if entry.zip64 {
                local += le32(crc) + le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF)
            } else {
                local += le32(crc) + le32(UInt32(stored.count)) + le32(UInt32(entry.payload.count))
            }
            let localName = entry.localName ?? entry.name
            let localExtra =
                entry.zip64
                ? le16(1) + le16(16) + le64(UInt64(entry.dataDescriptor ? 0 : entry.payload.count))
                    + le64(UInt64(entry.dataDescriptor ? 0 : stored.count)) : []
            local += le16(UInt16(localName.count)) + le16(UInt16(localExtra.count)) + localName + localExtra
            out += local + stored
            if entry.dataDescriptor {
                if entry.descriptorSignature { out += le32(ZipReader.dataDescriptorSignature) }
                out += le32(crc)
                out +=
                    entry.zip64
                    ? le64(UInt64(stored.count)) + le64(UInt64(entry.payload.count))
                    : le32(UInt32(stored.count)) + le32(UInt32(entry.payload.count))
            }
            // Central directory entry.
            var record: [UInt8] = []
            let madeBy: UInt16 = entry.unixMode == nil ? 20 : (3 << 8 | 63)
            let usize = entry.centralUncompressedSize ?? entry.payload.count
            record += le32(ZipReader.centralHeaderSignature) + le16(madeBy) + le16(needed) + le16(flags)
            record += le16(entry.method) + le16(0x6000) + le16(0x5B21) + le32(entry.centralCRC ?? crc)
            let centralExtra: [UInt8]
            if entry.zip64 {
                record += le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF)
                centralExtra =
                    le16(1) + le16(24) + le64(UInt64(usize)) + le64(UInt64(stored.count)) + le64(UInt64(offset))
            } else {
                record += le32(UInt32(stored.count)) + le32(UInt32(usize))
                centralExtra = []
            }
            record += le16(UInt16(entry.name.count)) + le16(UInt16(centralExtra.count)) + le16(0) + le16(0) + le16(0)
            record += le32((entry.unixMode ?? 0) << 16)
            record += le32(entry.zip64 ? 0xFFFF_FFFF : UInt32(offset)) + entry.name + centralExtra
            central += record
            centralCount += 1
            if firstCentral.isEmpty { firstCentral = record }
        }
        for _ in 0..<extraCentralCopiesOfFirst {
            central += firstCentral
            centralCount += 1
        }
        let centralOffset = out.count
        out += central
        if anyZip64 {
            let recordOffset = out.count
            out += le32(ZipReader.zip64EndRecordSignature) + le64(44) + le16(45) + le16(45) + le32(0) + le32(0)
            out += le64(UInt64(centralCount)) + le64(UInt64(centralCount)) + le64(UInt64(central.count))
            out += le64(UInt64(centralOffset))
            out += le32(ZipReader.zip64LocatorSignature) + le32(0) + le64(UInt64(recordOffset)) + le32(1)
            out += le32(ZipReader.endRecordSignature) + le16(0) + le16(0) + le16(0xFFFF) + le16(0xFFFF)
            out += le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) + le16(0)
        } else {
            out += le32(ZipReader.endRecordSignature) + le16(0) + le16(0) + le16(UInt16(centralCount))
            out += le16(UInt16(centralCount)) + le32(UInt32(central.count)) + le32(UInt32(centralOffset)) + le16(0)
        }
        return Array(out.dropLast(truncateBy))
    }

    private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> ($0 * 8)) & 0xFF) } }
    private func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8((v >> ($0 * 8)) & 0xFF) } }
}
