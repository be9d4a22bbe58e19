import EOShareCore
import EOShareFetch

/// One 512-byte tar header (v7, ustar or GNU), parsed and checksum-verified.
package struct TarHeader {
    package static let blockSize = 512

    package enum Kind: Equatable {
        case file, folder
        case hardLink, symbolicLink
        case characterDevice, blockDevice, fifo
        /// pax `x`: records for the next entry; pax `g`: records for all (ignored).
        case paxExtended, paxGlobal
        /// GNU `L` and `K`: the next entry's long name or long link target.
        case gnuLongName, gnuLongLink
        /// A header with nothing for the record (GNU volume label).
        case ignored
        case unsupported(String)
    }

    package var name: [UInt8]
    package var linkName: [UInt8]
    package var size: Int64
    package var kind: Kind

    /// Parses `block`; `offset` is where it starts, for the error message.
    package init(parsing block: UnsafeRawBufferPointer, at offset: UnpackError.Offset) throws(UnpackError.Cause) {
        guard Self.checksumMatches(block) else {
            throw .corrupt("tar header", detail: "checksum mismatch", at: offset)
        }
        guard let size = Self.number(block, 124, 12), size >= 0 else {
            throw .corrupt("tar header", detail: "invalid size field", at: offset)
        }
        self.size = size
        let isPOSIX = Self.field(block, 257, 6) == Array("ustar".utf8)
        let baseName = Self.field(block, 0, 100)
        let prefix = isPOSIX ? Self.field(block, 345, 155) : []
        name = prefix.isEmpty ? baseName : prefix + [UInt8(ascii: "/")] + baseName
        linkName = Self.field(block, 157, 100)
        switch block[156] {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
            // v7 archives mark folders only by the trailing slash.
            kind = block[156] == 0 && baseName.last == UInt8(ascii: "/") ? .folder : .file
        case UInt8(ascii: "1"): kind = .hardLink
        case UInt8(ascii: "2"): kind = .symbolicLink
        case UInt8(ascii: "3"): kind = .characterDevice
        case UInt8(ascii: "4"): kind = .blockDevice
        case UInt8(ascii: "5"), UInt8(ascii: "D"): kind = .folder  // D: GNU dump folder, data is a listing
        case UInt8(ascii: "6"): kind = .fifo
        case UInt8(ascii: "x"): kind = .paxExtended
        case UInt8(ascii: "g"): kind = .paxGlobal
        case UInt8(ascii: "L"): kind = .gnuLongName
        case UInt8(ascii: "K"): kind = .gnuLongLink
        case UInt8(ascii: "V"): kind = .ignored
        case UInt8(ascii: "S"): kind = .unsupported("GNU sparse file")
        case UInt8(ascii: "M"): kind = .unsupported("multi-volume continuation")
        case let other:
            let shown =
                other >= 0x21 && other < 0x7F ? String(UnicodeScalar(other)) : "\\u{\(String(other, radix: 16))}"
            kind = .unsupported("tar entry type '\(shown)'")
        }
    }

    /// Is `block` (the first 512 bytes of a stream) a tar header? The ustar magic at byte
    /// 257 says so (POSIX and GNU); a v7 header has no magic, only a valid checksum.
    package static func identifies(_ block: UnsafeRawBufferPointer) -> Bool {
        guard block.count >= blockSize, !isZeroBlock(block) else { return false }
        return field(block, 257, 6) == Array("ustar".utf8) || checksumMatches(block)
    }

    package static func isZeroBlock(_ block: UnsafeRawBufferPointer) -> Bool {
        block.prefix(blockSize).allSatisfy { $0 == 0 }
    }

    /// The sum of the header's bytes with the checksum field read as spaces, unsigned (POSIX)
    /// or signed (some old writers), against the stored octal value.
    package static func checksumMatches(_ block: UnsafeRawBufferPointer) -> Bool {
        guard let stored = number(block, 148, 8) else { return false }
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for i in 0..<blockSize {
            let byte = (148..<156).contains(i) ? UInt8(ascii: " ") : block[i]
            unsigned += Int64(byte)
            signed += Int64(Int8(bitPattern: byte))
        }
        return stored == unsigned || stored == signed
    }

    /// A text field up to its first NUL.
    package static func field(_ block: UnsafeRawBufferPointer, _ start: Int, _ length: Int) -> [UInt8] {
        let bytes = block[start..<start + length]
        return Array(bytes.prefix { $0 != 0 })
    }

    /// A numeric field: octal digits padded with spaces or NULs, or GNU base-256 (the top bit
    /// of the first byte set) for values that do not fit. Nil when malformed or negative.
    package static func number(_ block: UnsafeRawBufferPointer, _ start: Int, _ length: Int) -> Int64? {
        let bytes = block[start..<start + length]
        if let first = bytes.first, first & 0x80 != 0 {
            guard first & 0x40 == 0 else { return nil }  // negative
            var value = Int64(first & 0x3F)
            for byte in bytes.dropFirst() {
                guard value <= Int64.max >> 8 else { return nil }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        var value: Int64 = 0
        var digits = bytes.drop { $0 == UInt8(ascii: " ") }
        while let byte = digits.first, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte) {
            guard value <= Int64.max >> 3 else { return nil }
            value = value << 3 | Int64(byte - UInt8(ascii: "0"))
            digits = digits.dropFirst()
        }
        guard digits.allSatisfy({ $0 == 0 || $0 == UInt8(ascii: " ") }) else { return nil }
        return value
    }
}

/// What pax `x` records and GNU `L`/`K` headers say about the entry that follows them.
package struct TarPendingMetadata {
    package var path: [UInt8]?
    package var linkPath: [UInt8]?
    package var size: Int64?

    package var isEmpty: Bool { path == nil && linkPath == nil && size == nil }

    /// Applies pax records (`"%d %s=%s\n"`, the length counting the whole record): `path`,
    /// `linkpath` and `size` matter here; an empty value cancels an earlier one; sparse-file
    /// records are refused; other keys (times, owners, xattrs) do not concern a record's files.
    package mutating func apply(paxRecords data: [UInt8], at offset: UnpackError.Offset) throws(UnpackError.Cause) {
        func malformed(_ detail: String) -> UnpackError.Cause {
            .corrupt("pax header", detail: detail, at: offset)
        }
        var start = 0
        while start < data.count {
            guard let space = data[start...].firstIndex(of: UInt8(ascii: " ")), space > start, space - start <= 20,
                let length = Int(String(decoding: data[start..<space], as: UTF8.self)),
                length > space - start, length <= data.count - start
            else { throw malformed("bad record length") }
            let record = data[(space + 1)..<(start + length)]
            guard record.last == UInt8(ascii: "\n"), let equals = record.firstIndex(of: UInt8(ascii: "=")) else {
                throw malformed("record without key=value")
            }
            let key = String(decoding: record[record.startIndex..<equals], as: UTF8.self)
            let value = Array(record[(equals + 1)..<(record.endIndex - 1)])
            switch key {
            case "path":
                path = value.isEmpty ? nil : value
            case "linkpath":
                linkPath = value.isEmpty ? nil : value
            case "size":
                if value.isEmpty {
                    size = nil
                } else {
                    guard value.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                        let parsed = Int64(String(decoding: value, as: UTF8.self))
                    else { throw malformed("invalid size '\(String(decoding: value.prefix(40), as: UTF8.self))'") }
                    size = parsed
                }
            case _ where key.hasPrefix("GNU.sparse."):
                throw .unsupported("GNU sparse file (pax)")
            default:
                break
            }
            start += length
        }
    }
}

/// Reads a tar stream front to back (no seeks: it may come straight out of zlib) into an
/// extraction folder: ustar, pax extended headers (path, linkpath, size) and GNU long
/// names. Regular files and folders land in the folder; links, devices and FIFOs are
/// refused; the archive must end with its zero block.
package struct TarReader<Source: ByteSource> {
    /// Extended headers are read into memory: a path or a few records, never this much.
    package static var maxMetadataBytes: Int64 { 1 << 20 }

    private enum State {
        /// The next block is a header; extended headers seen so far apply to the next entry.
        case expectingHeader(TarPendingMetadata)
        /// The end-of-archive zero block was read.
        case ended
    }

    package let reader: ByteReader<Source>
    package let folder: ExtractionFolder
    /// What the object is read as, for messages: `tar`, `tar.gz`, …
    package let container: String

    package func extract() throws(UnpackError) {
        var state = State.expectingHeader(TarPendingMetadata())
        var entry: String?
        do throws(UnpackError.Cause) {
            while true {
                switch state {
                case .ended:
                    // What follows the end is padding; a compressed stream is read to its end
                    // so its checksum is verified.
                    entry = nil
                    if reader.source.isDecompressed { try reader.drain() }
                    return
                case .expectingHeader(var pending):
                    // A broken header belongs to no entry yet, unless a long name announced it.
                    entry = pending.path.map { String(decoding: $0, as: UTF8.self) }
                    let headerOffset = reader.offset
                    let block = try reader.peek(TarHeader.blockSize)
                    guard block.count == TarHeader.blockSize else {
                        throw UnpackError.Cause.truncated("archive", at: offset(plus: block.count))
                    }
                    if TarHeader.isZeroBlock(block) {
                        reader.skip(TarHeader.blockSize)
                        guard pending.isEmpty else {
                            throw UnpackError.Cause.corrupt(
                                "archive",
                                detail: "extended header not followed by an entry",
                                at: headerOffset
                            )
                        }
                        state = .ended
                        continue
                    }
                    let header = try TarHeader(parsing: block, at: headerOffset)
                    reader.skip(TarHeader.blockSize)
                    let rawName = pending.path ?? header.name
                    entry = String(decoding: rawName, as: UTF8.self)
                    // pax `size` applies to the entry, never to the extended headers before it.
                    let size = pending.size ?? header.size
                    switch header.kind {
                    case .paxExtended:
                        try pending.apply(paxRecords: try readMetadata(header.size), at: headerOffset)
                        state = .expectingHeader(pending)
                        continue
                    case .gnuLongName:
                        pending.path = Array(try readMetadata(header.size).prefix { $0 != 0 })
                        state = .expectingHeader(pending)
                        continue
                    case .gnuLongLink:
                        pending.linkPath = Array(try readMetadata(header.size).prefix { $0 != 0 })
                        state = .expectingHeader(pending)
                        continue
                    case .paxGlobal, .ignored:
                        try readData(header.size)
                        state = .expectingHeader(pending)
                        continue
                    case .file:
                        guard let path = try EntryPath.check(rawName) else {
                            throw UnpackError.Cause.invalidName("a file named as the archive's own folder")
                        }
                        let file = try folder.createFile(path)
                        try readData(size) { (chunk) throws(UnpackError.Cause) in try folder.write(chunk, to: file) }
                        try folder.finish(file)
                    case .folder:
                        if let path = try EntryPath.check(rawName) { try folder.addFolder(path) }
                        try readData(size)
                    case .hardLink, .symbolicLink:
                        let target = String(decoding: pending.linkPath ?? header.linkName, as: UTF8.self)
                        throw UnpackError.Cause.link(hard: header.kind == .hardLink, target: target)
                    case .characterDevice:
                        throw UnpackError.Cause.specialFile("character device")
                    case .blockDevice:
                        throw UnpackError.Cause.specialFile("block device")
                    case .fifo:
                        throw UnpackError.Cause.specialFile("FIFO")
                    case .unsupported(let what):
                        throw UnpackError.Cause.unsupported(what)
                    }
                    state = .expectingHeader(TarPendingMetadata())
                }
            }
        } catch {
            throw UnpackError(container: container, entry: entry, cause: error)
        }
    }

    private func offset(plus count: Int) -> UnpackError.Offset {
        switch reader.offset {
        case .object(let byte): return .object(byte + Int64(count))
        case .decompressed(let byte): return .decompressed(byte + Int64(count))
        }
    }

    /// An extended header's data (bounded: it is read into memory).
    private func readMetadata(_ size: Int64) throws(UnpackError.Cause) -> [UInt8] {
        guard size <= Self.maxMetadataBytes else {
            throw .unsupported("extended header of \(size) bytes (more than \(Self.maxMetadataBytes))")
        }
        var data: [UInt8] = []
        data.reserveCapacity(Int(size))
        try readData(size) { data.append(contentsOf: $0) }
        return data
    }

    /// Hands an entry's data to `body` chunk by chunk, then skips the zeros padding it to a
    /// whole block.
    private func readData(
        _ size: Int64,
        into body: (UnsafeRawBufferPointer) throws(UnpackError.Cause) -> Void = { _ in }
    ) throws(UnpackError.Cause) {
        let block = Int64(TarHeader.blockSize)
        try consume(size, into: body)
        try consume((block - size % block) % block) { _ in }
    }

    private func consume(
        _ count: Int64,
        into body: (UnsafeRawBufferPointer) throws(UnpackError.Cause) -> Void
    ) throws(UnpackError.Cause) {
        var remaining = count
        while remaining > 0 {
            let chunk = try reader.next(upTo: Int(min(remaining, Int64(Int.max))))
            guard chunk.count > 0 else { throw .truncated("archive", at: reader.offset) }
            try body(chunk)
            remaining -= Int64(chunk.count)
        }
    }
}
