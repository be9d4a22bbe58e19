import EOShareCore
import EOShareFetch

/// Little-endian fields of zip records.
extension UnsafeRawBufferPointer {
    fileprivate func u16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    fileprivate func u32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    fileprivate func u64(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for a body that throws `UnpackError.Cause` (the standard one rethrows untyped).
    fileprivate func withFields<T>(
        _ body: (UnsafeRawBufferPointer) throws(UnpackError.Cause) -> T
    ) throws(UnpackError.Cause) -> T {
        try withUnsafeBytes { buffer in Result { () throws(UnpackError.Cause) in try body(buffer) } }.get()
    }
}

/// What the central directory says about one entry: the archive's promise, which its local
/// header and data must keep.
package struct ZipEntry {
    package var name: [UInt8]
    package var versionMadeBy: UInt16
    package var flags: UInt16
    package var method: UInt16
    package var crc32: UInt32
    package var compressedSize: Int64
    package var uncompressedSize: Int64
    package var localHeaderOffset: Int64
    package var externalAttributes: UInt32

    package var displayName: String { String(decoding: name, as: UTF8.self) }
    package var isEncrypted: Bool { flags & 0x0001 != 0 || flags & 0x0040 != 0 }

    /// What the entry is, from its Unix mode when a Unix-like system made it, else from the
    /// trailing slash (and the DOS folder attribute).
    package var kind: Kind {
        let host = versionMadeBy >> 8
        if host == 3 || host == 19 {  // Unix, OS X
            switch (externalAttributes >> 16) & 0o170000 {
            case 0o120000: return .symbolicLink
            case 0o020000: return .special("character device")
            case 0o060000: return .special("block device")
            case 0o010000: return .special("FIFO")
            case 0o140000: return .special("socket")
            case 0o040000: return .folder
            default: break
            }
        }
        if name.last == UInt8(ascii: "/") || (host == 0 && externalAttributes & 0x10 != 0) { return .folder }
        return .file
    }

    package enum Kind: Equatable {
        case file, folder, symbolicLink
        case special(String)
    }
}

/// Reads a zip archive into an extraction folder. The central directory at the end is the
/// index: each entry's local header is then read where it points and must agree with it
/// (name, method, sizes, CRC-32; a data descriptor where the local header defers them), and
/// entries may neither overlap (the trick of the small-file zip bombs) nor run into the
/// directory. Stored and deflate entries, zip64; each entry's CRC-32 and size are checked
/// as its bytes are written.
package struct ZipReader {
    package static let endRecordSignature: UInt32 = 0x0605_4B50
    package static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    package static let zip64EndRecordSignature: UInt32 = 0x0606_4B50
    package static let centralHeaderSignature: UInt32 = 0x0201_4B50
    package static let localHeaderSignature: UInt32 = 0x0403_4B50
    package static let dataDescriptorSignature: UInt32 = 0x0807_4B50
    package static let zip64ExtraID: UInt16 = 0x0001
    package static let maxComment = 65_535

    package let file: InputFile
    package let folder: ExtractionFolder
    package let buffers: UnpackBuffers
    package let budget: OutputBudget

    /// Where the central directory is and how many entries it lists.
    package struct Directory {
        package var offset: Int64
        package var size: Int64
        package var entries: Int64
        /// Where the records after the directory start (nothing may reach past it).
        package var end: Int64
    }

    package func extract() throws(UnpackError) {
        var current: ZipEntry?
        do throws(UnpackError.Cause) {
            let directory = try findDirectory()
            var entries = try readDirectory(directory)
            entries.sort { $0.localHeaderOffset < $1.localHeaderOffset }
            let inflater = Inflater(format: .rawDeflate)
            var previousEnd: Int64 = 0
            for entry in entries {
                current = entry
                guard entry.localHeaderOffset >= previousEnd else {
                    throw UnpackError.Cause.corrupt(
                        "archive",
                        detail: "entry overlaps the previous one",
                        at: .object(entry.localHeaderOffset)
                    )
                }
                previousEnd = try extract(entry, inflater: inflater, directory: directory)
            }
        } catch {
            throw UnpackError(container: "zip", entry: current?.displayName, cause: error)
        }
    }

    /// Finds the end record (the last one whose comment fits), then the zip64 end record when
    /// a locator sits right before it.
    private func findDirectory() throws(UnpackError.Cause) -> Directory {
        let tailLength = Int(min(file.size, Int64(22 + Self.maxComment)))
        let tailStart = file.size - Int64(tailLength)
        let tail = try file.read(at: tailStart, count: tailLength)
        return try tail.withFields { (bytes) throws(UnpackError.Cause) -> Directory in
            var found: Int?
            var index = bytes.count - 22
            while index >= 0 {
                if bytes.u32(index) == Self.endRecordSignature && index + 22 + Int(bytes.u16(index + 20)) <= bytes.count
                {
                    found = index
                    break
                }
                index -= 1
            }
            guard let at = found else {
                throw .corrupt("archive", detail: "no end of central directory record", at: .object(file.size))
            }
            let endOffset = tailStart + Int64(at)
            if bytes.u16(at + 4) != 0 || bytes.u16(at + 6) != 0 { throw .unsupported("multi-disk archive") }
            var directory = Directory(
                offset: Int64(bytes.u32(at + 16)),
                size: Int64(bytes.u32(at + 12)),
                entries: Int64(bytes.u16(at + 10)),
                end: endOffset
            )
            if endOffset >= 20 {
                let locator = try file.read(at: endOffset - 20, count: 20)
                try locator.withFields { (l) throws(UnpackError.Cause) in
                    guard l.u32(0) == Self.zip64LocatorSignature else { return }
                    if l.u32(4) != 0 || l.u32(16) > 1 { throw .unsupported("multi-disk archive") }
                    directory = try readZip64EndRecord(at: l.u64(8), before: endOffset - 20)
                }
            }
            guard directory.offset >= 0, directory.size >= 0, directory.offset <= directory.end - directory.size else {
                throw .corrupt("archive", detail: "central directory outside the file", at: .object(endOffset))
            }
            return directory
        }
    }

    private func readZip64EndRecord(at offset: UInt64, before limit: Int64) throws(UnpackError.Cause) -> Directory {
        guard offset <= UInt64(max(limit - 56, 0)) else {
            throw .corrupt("archive", detail: "zip64 end record outside the file", at: .object(limit))
        }
        let record = try file.read(at: Int64(offset), count: 56)
        return try record.withFields { (r) throws(UnpackError.Cause) -> Directory in
            guard r.u32(0) == Self.zip64EndRecordSignature else {
                throw .corrupt("archive", detail: "zip64 end record missing", at: .object(Int64(offset)))
            }
            if r.u32(16) != 0 || r.u32(20) != 0 { throw .unsupported("multi-disk archive") }
            let values = [r.u64(32), r.u64(40), r.u64(48)]
            guard values.allSatisfy({ $0 <= UInt64(Int64.max) }) else {
                throw .corrupt("archive", detail: "zip64 end record out of range", at: .object(Int64(offset)))
            }
            return Directory(
                offset: Int64(values[2]),
                size: Int64(values[1]),
                entries: Int64(values[0]),
                end: Int64(offset)
            )
        }
    }

    /// Reads every central directory entry (a few dozen bytes each, at most `maxEntries`).
    private func readDirectory(_ directory: Directory) throws(UnpackError.Cause) -> [ZipEntry] {
        guard directory.entries <= Int64(folder.maxEntries) else { throw .tooManyEntries(limit: folder.maxEntries) }
        guard directory.entries * 46 <= directory.size else {
            throw .corrupt(
                "archive",
                detail: "central directory too small for its entries",
                at: .object(directory.offset)
            )
        }
        let reader = ByteReader(
            FileRange(file: file, from: directory.offset, to: directory.offset + directory.size),
            buffer: buffers.output
        )
        var entries: [ZipEntry] = []
        entries.reserveCapacity(Int(directory.entries))
        for _ in 0..<directory.entries {
            let at = Offset.object(directory.offset + reader.position)
            let fixed = try reader.peek(46)
            guard fixed.count == 46, fixed.u32(0) == Self.centralHeaderSignature else {
                throw .corrupt("central directory", detail: "entry header missing", at: at)
            }
            let nameLength = Int(fixed.u16(28))
            let extraLength = Int(fixed.u16(30))
            let total = 46 + nameLength + extraLength + Int(fixed.u16(32))
            let record = try reader.peek(total)
            guard record.count == total else { throw .corrupt("central directory", detail: "entry cut short", at: at) }
            var entry = ZipEntry(
                name: Array(record[46..<46 + nameLength]),
                versionMadeBy: record.u16(4),
                flags: record.u16(8),
                method: record.u16(10),
                crc32: record.u32(16),
                compressedSize: Int64(record.u32(20)),
                uncompressedSize: Int64(record.u32(24)),
                localHeaderOffset: Int64(record.u32(42)),
                externalAttributes: record.u32(38)
            )
            let extra = UnsafeRawBufferPointer(rebasing: record[46 + nameLength..<46 + nameLength + extraLength])
            var fields = Zip64Fields(
                uncompressed: entry.uncompressedSize,
                compressed: entry.compressedSize,
                offset: entry.localHeaderOffset,
                disk: UInt32(record.u16(34))
            )
            try Self.applyZip64(extra, to: &fields, at: at)
            if fields.disk != 0 { throw .unsupported("multi-disk archive") }
            entry.uncompressedSize = fields.uncompressed
            entry.compressedSize = fields.compressed
            entry.localHeaderOffset = fields.offset ?? entry.localHeaderOffset
            reader.skip(total)
            entries.append(entry)
        }
        guard reader.position == directory.size else {
            throw .corrupt(
                "central directory",
                detail: "size differs from its entries",
                at: .object(directory.offset + reader.position)
            )
        }
        return entries
    }

    private typealias Offset = UnpackError.Offset

    /// The header fields a zip64 extra field may widen; a local header has no offset or disk.
    package struct Zip64Fields {
        package var uncompressed: Int64
        package var compressed: Int64
        package var offset: Int64?
        package var disk: UInt32?
    }

    /// The zip64 extra field holds, in this order, the 64-bit value of each field that is
    /// saturated (all ones) in the fixed header. Returns whether the field was there.
    @discardableResult
    private static func applyZip64(
        _ extra: UnsafeRawBufferPointer,
        to fields: inout Zip64Fields,
        at: Offset
    ) throws(UnpackError.Cause) -> Bool {
        var index = 0
        while index + 4 <= extra.count {
            let id = extra.u16(index)
            let length = Int(extra.u16(index + 2))
            guard index + 4 + length <= extra.count else {
                throw .corrupt("extra field", detail: "runs past its record", at: at)
            }
            if id == zip64ExtraID {
                var cursor = index + 4
                let end = cursor + length
                func next64() throws(UnpackError.Cause) -> Int64 {
                    guard cursor + 8 <= end else { throw .corrupt("zip64 extra field", detail: "too short", at: at) }
                    let value = extra.u64(cursor)
                    cursor += 8
                    guard value <= UInt64(Int64.max) else {
                        throw .corrupt("zip64 extra field", detail: "value out of range", at: at)
                    }
                    return Int64(value)
                }
                if fields.uncompressed == 0xFFFF_FFFF { fields.uncompressed = try next64() }
                if fields.compressed == 0xFFFF_FFFF { fields.compressed = try next64() }
                if fields.offset == 0xFFFF_FFFF { fields.offset = try next64() }
                if fields.disk == 0xFFFF {
                    guard cursor + 4 <= end else { throw .corrupt("zip64 extra field", detail: "too short", at: at) }
                    fields.disk = extra.u32(cursor)
                }
                return true
            }
            index += 4 + length
        }
        return false
    }

    /// Checks the entry's local header against the directory, writes its data, checks its
    /// data descriptor; returns where the entry ends in the file.
    private func extract(
        _ entry: ZipEntry,
        inflater: Inflater,
        directory: Directory
    ) throws(UnpackError.Cause) -> Int64 {
        let at = Offset.object(entry.localHeaderOffset)
        guard entry.localHeaderOffset <= directory.offset - 30 else {
            throw .corrupt("archive", detail: "entry starts inside the central directory", at: at)
        }
        let fixed = try file.read(at: entry.localHeaderOffset, count: 30)
        guard fixed.count == 30 else { throw .truncated("archive", at: .object(file.size)) }
        let (localFlags, localMethod, localCRC, nameLength, extraLength) = try fixed.withFields {
            (h) throws(UnpackError.Cause) in
            guard h.u32(0) == Self.localHeaderSignature else {
                throw .corrupt("local header", detail: "not where the central directory points", at: at)
            }
            return (h.u16(6), h.u16(8), h.u32(14), Int(h.u16(26)), Int(h.u16(28)))
        }
        var local = fixed.withUnsafeBytes {
            Zip64Fields(uncompressed: Int64($0.u32(22)), compressed: Int64($0.u32(18)))
        }
        let variable = try file.read(at: entry.localHeaderOffset + 30, count: nameLength + extraLength)
        guard variable.count == nameLength + extraLength else { throw .truncated("archive", at: .object(file.size)) }
        func mismatch(_ what: String) -> UnpackError.Cause {
            .corrupt("local header", detail: "\(what) differs from the central directory", at: at)
        }
        guard Array(variable[0..<nameLength]) == entry.name else { throw mismatch("name") }
        guard localMethod == entry.method else { throw mismatch("compression method") }
        guard localFlags & 0x0001 == entry.flags & 0x0001 else { throw mismatch("encryption flag") }
        let localZip64 = try variable.withFields { (v) throws(UnpackError.Cause) -> Bool in
            try Self.applyZip64(UnsafeRawBufferPointer(rebasing: v[nameLength...]), to: &local, at: at)
        }
        let hasDescriptor = localFlags & 0x0008 != 0
        if !hasDescriptor {
            guard localCRC == entry.crc32 else { throw mismatch("CRC-32") }
            guard local.compressed == entry.compressedSize, local.uncompressed == entry.uncompressedSize else {
                throw mismatch("size")
            }
        }
        let dataStart = entry.localHeaderOffset + 30 + Int64(nameLength + extraLength)
        guard entry.compressedSize <= directory.offset - dataStart else {
            throw .corrupt("archive", detail: "entry data runs into the central directory", at: .object(dataStart))
        }
        let dataEnd = dataStart + entry.compressedSize

        if entry.isEncrypted { throw .unsupported("encrypted entry") }
        switch entry.kind {
        case .symbolicLink:
            let target =
                entry.method == 0 && entry.compressedSize <= 4096
                ? String(decoding: try file.read(at: dataStart, count: Int(entry.compressedSize)), as: UTF8.self) : nil
            throw .link(hard: false, target: target)
        case .special(let what):
            throw .specialFile(what)
        case .folder:
            guard entry.uncompressedSize == 0 else {
                throw .corrupt("archive", detail: "folder entry holds data", at: .object(dataStart))
            }
            if let path = try EntryPath.check(entry.name) { try folder.addFolder(path) }
        case .file:
            guard let path = try EntryPath.check(entry.name) else {
                throw .invalidName("a file named as the archive's own folder")
            }
            guard entry.method == 0 || entry.method == 8 else {
                throw .unsupported("compression method \(entry.method)")
            }
            let output = try folder.createFile(path)
            let range = FileRange(file: file, from: dataStart, to: dataEnd)
            let crc: CRC32
            if entry.method == 8 {
                inflater.reset()
                let source = InflatingSource(range, inflater: inflater, input: buffers.input, budget: budget)
                crc = try copy(ByteReader(source, buffer: buffers.output), entry, to: output, dataStart: dataStart)
            } else {
                crc = try copy(ByteReader(range, buffer: buffers.output), entry, to: output, dataStart: dataStart)
            }
            guard output.submitted == entry.uncompressedSize else {
                throw .corrupt(
                    "entry data",
                    detail: "\(output.submitted) bytes where the archive says \(entry.uncompressedSize)",
                    at: .object(dataStart)
                )
            }
            guard crc.value == entry.crc32 else {
                throw .corrupt(
                    "entry data",
                    detail:
                        "CRC-32 mismatch (archive says \(Self.hex(entry.crc32)), data gives \(Self.hex(crc.value)))",
                    at: .object(dataStart)
                )
            }
            try folder.finish(output)
        }
        guard hasDescriptor else { return dataEnd }
        let end = try checkDataDescriptor(at: dataEnd, of: entry, zip64: localZip64)
        guard end <= directory.offset else {
            throw .corrupt("archive", detail: "data descriptor runs into the central directory", at: .object(dataEnd))
        }
        return end
    }

    /// Writes the entry's bytes, keeping their CRC-32; refuses as soon as they pass the
    /// declared size (no need to inflate a bomb further than its own claim).
    private func copy<Source: ByteSource>(
        _ reader: ByteReader<Source>,
        _ entry: ZipEntry,
        to output: OutputFile,
        dataStart: Int64
    ) throws(UnpackError.Cause) -> CRC32 {
        var crc = CRC32()
        while true {
            let chunk = try reader.next(upTo: .max)
            guard chunk.count > 0 else { return crc }
            guard output.submitted + Int64(chunk.count) <= entry.uncompressedSize else {
                throw .corrupt(
                    "entry data",
                    detail: "more than the \(entry.uncompressedSize) bytes the archive says",
                    at: .object(reader.objectOffset)
                )
            }
            crc.update(chunk)
            try folder.write(chunk, to: output)
        }
    }

    /// The descriptor after the data (signature optional; 64-bit sizes when the local header
    /// has a zip64 field) must repeat the central directory's CRC-32 and sizes.
    private func checkDataDescriptor(
        at offset: Int64,
        of entry: ZipEntry,
        zip64: Bool
    ) throws(UnpackError.Cause) -> Int64 {
        let bytes = try file.read(at: offset, count: 24)
        return try bytes.withFields { (d) throws(UnpackError.Cause) -> Int64 in
            let signed = d.count >= 4 && d.u32(0) == Self.dataDescriptorSignature
            let start = signed ? 4 : 0
            let length = start + (zip64 ? 20 : 12)
            guard d.count >= length else { throw .truncated("archive", at: .object(file.size)) }
            let compressed = zip64 ? d.u64(start + 4) : UInt64(d.u32(start + 4))
            let uncompressed = zip64 ? d.u64(start + 12) : UInt64(d.u32(start + 8))
            guard d.u32(start) == entry.crc32, compressed == UInt64(entry.compressedSize),
                uncompressed == UInt64(entry.uncompressedSize)
            else {
                throw .corrupt("data descriptor", detail: "differs from the central directory", at: .object(offset))
            }
            return offset + Int64(length)
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
