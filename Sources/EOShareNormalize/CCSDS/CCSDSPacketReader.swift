import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file of CCSDS space packets (CCSDS 133.0-B-2) into one record: every primary
/// header is parsed, per APID the packet count, first/last sequence count and gaps (the
/// 14-bit count wraps at 16384), and the time span from each packet's secondary header as the
/// source's `packets:` settings describe it (CDS or CUC, CCSDS 301.0-B-4). Idle packets
/// (APID 2047) are counted, never read as data.
///
/// The file streams through one fixed buffer: memory stays flat whatever its size.
public enum CCSDSPacketReader {
    /// The APID of idle packets (133.0-B-2 §4.1.3.3.4.4).
    public static let idleAPID = 2047

    /// Statistics of one APID.
    public struct APIDStats: Sendable, Hashable {
        public var apid: Int
        public var packets = 0
        public var firstSequenceCount = 0
        public var lastSequenceCount = 0
        /// Breaks in the sequence count, and the packets they leave out (modulo 16384).
        public var gaps = 0
        public var missingPackets = 0
        public var firstTime: Date?
        public var lastTime: Date?
        public var minTime: Date?
        public var maxTime: Date?
    }

    /// What one pass over a packet file finds.
    public struct Statistics: Sendable, Hashable {
        public var packets = 0
        public var idlePackets = 0
        public var bytes: Int64 = 0
        public var apids: [Int: APIDStats] = [:]

        /// Earliest and latest packet time over the time-carrying APIDs.
        public var start: Date? { apids.values.compactMap(\.minTime).min() }
        public var end: Date? { apids.values.compactMap(\.maxTime).max() }
    }

    /// Reads the packet file at `file` into a record named after `name` (its extension dropped).
    public static func read(
        file: URL,
        name: String,
        settings: PacketTimeConfig,
        context: ReaderContext
    ) throws(NormalizeError) -> Record {
        let stats = try statistics(of: file, settings: settings)
        guard stats.packets > 0 else { throw NormalizeError(field: "packets", "the file holds no packet") }
        guard let start = stats.start, let end = stats.end else {
            throw NormalizeError(field: "time", "no packet of the configured APIDs carries a time code")
        }
        var stem = name
        if let dot = stem.lastIndex(of: "."), dot > stem.startIndex { stem = String(stem[..<dot]) }
        let id = stem

        var p = JSONObject()
        p["ccsds:packets"] = .int(Int64(stats.packets))
        p["ccsds:idle_packets"] = .int(Int64(stats.idlePackets))
        p["ccsds:bytes"] = .int(stats.bytes)
        p["ccsds:time_code"] = .string(settings.timeCode.rawValue)
        p["ccsds:epoch"] = .string(Timestamp.format(settings.epoch))
        p["ccsds:apids"] = .array(
            stats.apids.keys.sorted().map { apid in
                let s = stats.apids[apid]!
                var o: JSONObject = [
                    "apid": .int(Int64(apid)), "packets": .int(Int64(s.packets)),
                    "first_sequence_count": .int(Int64(s.firstSequenceCount)),
                    "last_sequence_count": .int(Int64(s.lastSequenceCount)), "gaps": .int(Int64(s.gaps)),
                    "missing_packets": .int(Int64(s.missingPackets)),
                ]
                if let t = s.firstTime { o["first_time"] = .string(Timestamp.format(t, fractionDigits: 6)) }
                if let t = s.lastTime { o["last_time"] = .string(Timestamp.format(t, fractionDigits: 6)) }
                return .object(o)
            }
        )
        let asset = Asset(
            key: "data",
            href: name,
            title: "CCSDS space packets",
            mediaType: "application/octet-stream",
            roles: ["data"],
            localFile: context.localFiles[name] ?? file
        )
        return Record(
            id: id,
            collection: context.collection,
            owner: context.owner,
            source: context.source,
            startDatetime: start,
            endDatetime: end,
            properties: p,
            assets: [asset]
        )
    }

    /// One streaming pass over the file. Throws, naming the packet and byte, on a truncated
    /// packet or a time code that does not fit its packet or cannot be a time.
    public static func statistics(of file: URL, settings: PacketTimeConfig) throws(NormalizeError) -> Statistics {
        let fd = open(file.path, O_RDONLY)
        guard fd >= 0 else { throw NormalizeError("cannot open \(file.lastPathComponent)") }
        defer { close(fd) }
        var stream = PacketStream(fd: fd)
        var stats = Statistics()
        let timed = settings.apids.map(Set.init)
        var header = [UInt8](repeating: 0, count: 6)
        var timeBytes: [UInt8] = []
        while true {
            let offset = stream.consumed
            let got = try stream.read(into: &header, count: 6)
            if got == 0 { break }
            guard got == 6 else {
                throw NormalizeError(
                    field: "packets",
                    "truncated primary header of packet \(stats.packets + 1) at byte \(offset)"
                )
            }
            let apid = Int(header[0] & 0x07) << 8 | Int(header[1])
            let secondaryHeader = header[0] & 0x08 != 0
            let sequence = Int(header[2] & 0x3F) << 8 | Int(header[3])
            let dataLength = (Int(header[4]) << 8 | Int(header[5])) + 1
            stats.packets += 1
            stats.bytes += Int64(6 + dataLength)
            let index = stats.packets

            var time: Date?
            if apid != idleAPID, secondaryHeader, timed?.contains(apid) ?? true {
                let need = settings.offset + CCSDSTimeCode.maxLength(settings)
                let take = min(need, dataLength)
                if timeBytes.count < take { timeBytes = [UInt8](repeating: 0, count: take) }
                guard try stream.read(into: &timeBytes, count: take) == take else {
                    throw NormalizeError(field: "packets", "packet \(index) at byte \(offset) is truncated")
                }
                do throws(CCSDSTimeCode.Failure) {
                    let decoded = try CCSDSTimeCode.decode(timeBytes[0..<take], settings: settings)
                    // A 7-byte CUC counter or a 24-bit CDS day count reaches far past year 9999.
                    guard Timestamp.writable.contains(decoded) else {
                        throw CCSDSTimeCode.Failure(
                            detail: "time code is \(decoded.timeIntervalSince(settings.epoch)) s "
                                + "after the epoch, past year 9999"
                        )
                    }
                    time = decoded
                } catch {
                    throw NormalizeError(
                        field: "time",
                        "packet \(index) (APID \(apid)) at byte \(offset): \(error.detail)"
                    )
                }
                guard try stream.skip(dataLength - take) else {
                    throw NormalizeError(field: "packets", "packet \(index) at byte \(offset) is truncated")
                }
            } else {
                guard try stream.skip(dataLength) else {
                    throw NormalizeError(field: "packets", "packet \(index) at byte \(offset) is truncated")
                }
            }
            if apid == idleAPID {
                stats.idlePackets += 1
                continue
            }
            var s = stats.apids[apid] ?? APIDStats(apid: apid)
            if s.packets == 0 {
                s.firstSequenceCount = sequence
            } else {
                let step = (sequence - s.lastSequenceCount + 16384) % 16384
                if step != 1 {
                    s.gaps += 1
                    // A repeated count (step 0) leaves nothing out; otherwise step − 1 are missing.
                    if step > 1 { s.missingPackets += step - 1 }
                }
            }
            s.lastSequenceCount = sequence
            s.packets += 1
            if let time {
                if s.firstTime == nil { s.firstTime = time }
                s.lastTime = time
                s.minTime = min(s.minTime ?? time, time)
                s.maxTime = max(s.maxTime ?? time, time)
            }
            stats.apids[apid] = s
        }
        return stats
    }
}

/// `read(2)`, named apart from the stream's own `read`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// Reads a file descriptor through one 256 KiB buffer.
private struct PacketStream {
    package let fd: Int32
    package var buffer = [UInt8](repeating: 0, count: 256 * 1024)
    package var start = 0
    package var end = 0
    /// Bytes handed out or skipped so far.
    package var consumed: Int64 = 0

    package init(fd: Int32) { self.fd = fd }

    /// Refills the buffer when empty; false at end of file.
    private mutating func fill() throws(NormalizeError) -> Bool {
        guard start == end else { return true }
        while true {
            let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw NormalizeError("read error: \(String(cString: strerror(errno)))")
            }
            start = 0
            end = n
            return n > 0
        }
    }

    /// Copies up to `count` bytes into `out`; returns how many (fewer only at end of file).
    package mutating func read(into out: inout [UInt8], count: Int) throws(NormalizeError) -> Int {
        var done = 0
        while done < count {
            guard try fill() else { break }
            let take = min(count - done, end - start)
            for k in 0..<take { out[done + k] = buffer[start + k] }
            start += take
            done += take
        }
        consumed += Int64(done)
        return done
    }

    /// Skips `count` bytes; false when the file ends first.
    package mutating func skip(_ count: Int) throws(NormalizeError) -> Bool {
        var left = count
        while left > 0 {
            guard try fill() else { return false }
            let take = min(left, end - start)
            start += take
            left -= take
            consumed += Int64(take)
        }
        return true
    }
}

/// CCSDS 301.0-B-4 time codes in a packet's secondary header.
package enum CCSDSTimeCode {
    package struct Failure: Error { var detail: String }

    /// The most bytes a time code of these settings can take (with its P-field).
    package static func maxLength(_ s: PacketTimeConfig) -> Int {
        switch s.timeCode {
        case .cds: return s.pField ? 1 + 3 + 4 + 4 : 2 + 4 + (s.microseconds ? 2 : 0)
        case .cuc: return s.pField ? 2 + 7 + 10 : (s.coarseBytes ?? 4) + (s.fineBytes ?? 0)
        }
    }

    /// Decodes the time code found `s.offset` bytes into `bytes` (the packet's data field).
    package static func decode(_ bytes: ArraySlice<UInt8>, settings s: PacketTimeConfig) throws(Failure) -> Date {
        var p = bytes.startIndex + s.offset
        func take(_ n: Int, _ what: String) throws(Failure) -> UInt64 {
            guard p + n <= bytes.endIndex else {
                throw Failure(detail: "the packet ends inside the \(what) (\(bytes.count) bytes after the header)")
            }
            var v: UInt64 = 0
            for k in 0..<n { v = v << 8 | UInt64(bytes[p + k]) }
            p += n
            return v
        }
        switch s.timeCode {
        case .cds:
            var dayBytes = 2
            var subMillisecond = s.microseconds ? 2 : 0
            if s.pField {
                let pf = try take(1, "CDS P-field")
                guard (pf >> 4) & 0x7 == 0b100 else {
                    throw Failure(detail: "P-field 0x\(String(pf, radix: 16)) is not CDS")
                }
                dayBytes = (pf >> 2) & 0x1 == 1 ? 3 : 2
                switch pf & 0x3 {
                case 0: subMillisecond = 0
                case 1: subMillisecond = 2
                case 2: subMillisecond = 4
                default: throw Failure(detail: "P-field 0x\(String(pf, radix: 16)) has a reserved resolution")
                }
            }
            let days = try take(dayBytes, "CDS day segment")
            let ms = try take(4, "CDS milliseconds")
            guard ms < 86_401_000 else { throw Failure(detail: "CDS milliseconds of day \(ms) out of range") }
            var seconds = Double(days) * 86_400 + Double(ms) / 1000
            if subMillisecond == 2 {
                let us = try take(2, "CDS microseconds")
                guard us < 1000 else { throw Failure(detail: "CDS microseconds \(us) out of range") }
                seconds += Double(us) / 1_000_000
            } else if subMillisecond == 4 {
                let ps = try take(4, "CDS picoseconds")
                guard ps < 1_000_000_000 else { throw Failure(detail: "CDS picoseconds \(ps) out of range") }
                seconds += Double(ps) / 1e12
            }
            return s.epoch.addingTimeInterval(seconds)
        case .cuc:
            var coarse = s.coarseBytes ?? 4
            var fine = s.fineBytes ?? 0
            if s.pField {
                let pf = try take(1, "CUC P-field")
                let id = (pf >> 4) & 0x7
                guard id == 0b001 || id == 0b010 else {
                    throw Failure(detail: "P-field 0x\(String(pf, radix: 16)) is not CUC")
                }
                coarse = Int((pf >> 2) & 0x3) + 1
                fine = Int(pf & 0x3)
                if pf & 0x80 != 0 {
                    let ext = try take(1, "CUC P-field extension")
                    coarse += Int((ext >> 5) & 0x3)
                    fine += Int((ext >> 2) & 0x7)
                }
            }
            guard coarse <= 7, fine <= 10 else { throw Failure(detail: "CUC of \(coarse)+\(fine) octets") }
            let whole = try take(coarse, "CUC coarse time")
            var fraction = 0.0
            if fine > 0 {
                // Fine octets beyond 6 are below a picosecond: read, then ignored.
                let used = min(fine, 6)
                let f = try take(used, "CUC fine time")
                fraction = Double(f) / pow(256, Double(used))
                if fine > used { _ = try take(fine - used, "CUC fine time") }
            }
            return s.epoch.addingTimeInterval(Double(whole) + fraction)
        }
    }
}
