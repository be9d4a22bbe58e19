import CEOShareZlib
import Foundation

/// Why a compressed stream could not be read, with the byte offset in the input.
public struct DecompressError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        case corrupt(String)
        case truncated
        case tooLarge(limit: Int64)
        case expansionRatio(limit: Double)
    }
    public var kind: Kind
    /// Bytes of compressed input consumed when the problem was found.
    public var offset: Int64

    public var description: String {
        switch kind {
        case .corrupt(let msg): return "corrupt compressed data at byte \(offset): \(msg)"
        case .truncated: return "compressed stream truncated at byte \(offset)"
        case .tooLarge(let limit): return "output exceeds max_object_bytes (\(limit) bytes) at input byte \(offset)"
        case .expansionRatio(let limit):
            return "expansion ratio exceeds max_expansion_ratio (\(JSONValue.format(limit))) at input byte \(offset)"
        }
    }
}

/// A streaming inflater over zlib. The `z_stream` lives at a stable heap address for the
/// stream's life; input and output move through fixed-size buffers, so memory does not
/// grow with the data.
public final class Inflater {
    public enum Format: Sendable {
        case gzip, zlib, rawDeflate
        var windowBits: Int32 {
            switch self {
            case .gzip: return 15 + 16
            case .zlib: return 15
            case .rawDeflate: return -15
            }
        }
    }

    private let stream: UnsafeMutablePointer<z_stream>
    private let format: Format
    public private(set) var totalIn: Int64 = 0
    public private(set) var totalOut: Int64 = 0
    /// True after the end of the last complete stream/member, with no input pending.
    public private(set) var finished = false

    public init(format: Format) {
        self.format = format
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = eoshare_inflateInit2(stream, format.windowBits)
        precondition(rc == Z_OK, "inflateInit2 failed: \(rc)")
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Feeds `input` and calls `sink` with each block of output (valid only during the call).
    /// A gzip file may hold several members: after one ends, the next is read.
    public func feed(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard input.count > 0 else { return }
        let outSize = 256 * 1024
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: outSize)
        defer { out.deallocate() }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        while stream.pointee.avail_in > 0 {
            if finished {
                // Another gzip member follows (only gzip allows that); anything else is trailing garbage.
                guard format == .gzip else {
                    throw DecompressError(kind: .corrupt("trailing data after end of stream"), offset: totalIn)
                }
                inflateReset(stream)
                finished = false
            }
            stream.pointee.next_out = out
            stream.pointee.avail_out = UInt32(outSize)
            let before = stream.pointee.avail_in
            let rc = inflate(stream, Z_NO_FLUSH)
            totalIn += Int64(before - stream.pointee.avail_in)
            let produced = outSize - Int(stream.pointee.avail_out)
            if produced > 0 {
                totalOut += Int64(produced)
                try sink(UnsafeRawBufferPointer(start: out, count: produced))
            }
            switch rc {
            case Z_OK:
                continue
            case Z_STREAM_END:
                finished = true
            case Z_BUF_ERROR:
                // No progress possible with this input; wait for more.
                return
            case Z_NEED_DICT:
                throw DecompressError(kind: .corrupt("stream needs a preset dictionary"), offset: totalIn)
            default:
                let msg = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
                throw DecompressError(kind: .corrupt(msg), offset: totalIn)
            }
        }
    }

    /// Call after the last input: a stream that did not reach its end is truncated.
    public func finish() throws {
        guard finished else { throw DecompressError(kind: .truncated, offset: totalIn) }
    }
}

/// A streaming deflater producing gzip (for archives and fixtures) or zlib data.
public final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>

    public init(gzip: Bool = true, level: Int32 = 6) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = eoshare_deflateInit2(stream, level, gzip ? 15 + 16 : 15)
        precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    public func feed(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try run(input, flush: Z_NO_FLUSH, sink: sink)
    }

    public func finish(sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, sink: sink)
    }

    private func run(_ input: UnsafeRawBufferPointer, flush: Int32, sink: (UnsafeRawBufferPointer) throws -> Void)
        rethrows
    {
        let outSize = 128 * 1024
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: outSize)
        defer { out.deallocate() }
        stream.pointee.next_in = input.baseAddress.map {
            UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: UInt8.self))
        }
        stream.pointee.avail_in = UInt32(input.count)
        repeat {
            stream.pointee.next_out = out
            stream.pointee.avail_out = UInt32(outSize)
            let rc = deflate(stream, flush)
            precondition(rc != Z_STREAM_ERROR, "deflate state clobbered")
            let produced = outSize - Int(stream.pointee.avail_out)
            if produced > 0 { try sink(UnsafeRawBufferPointer(start: out, count: produced)) }
            if flush == Z_FINISH && rc == Z_STREAM_END { return }
        } while stream.pointee.avail_out == 0 || (flush == Z_FINISH)
    }

    /// Compresses a whole byte array to gzip (small payloads: fixtures, tests).
    public static func gzip(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        let d = Deflater(gzip: true, level: level)
        var out: [UInt8] = []
        bytes.withUnsafeBytes { buf in d.feed(buf) { out.append(contentsOf: $0) } }
        d.finish { out.append(contentsOf: $0) }
        return out
    }
}
