import CEOShareZlib
import EOShareCore
import EOShareFetch

/// The three framings zlib reads and writes; the window bits tell zlib which one.
public enum ZlibFormat: Sendable {
    /// RFC 1952: header fields, CRC-32 and ISIZE trailer (zlib checks both); members may follow one another.
    case gzip
    /// RFC 1950: two header bytes and an Adler-32 trailer (zlib checks it).
    case zlib
    /// RFC 1951 with no framing at all, as zip entries hold it.
    case rawDeflate

    /// The format's name in messages.
    public var name: String {
        switch self {
        case .gzip: return "gzip"
        case .zlib: return "zlib"
        case .rawDeflate: return "deflate"
        }
    }

    package var windowBits: Int32 {
        switch self {
        case .gzip: return 15 + 16
        case .zlib: return 15
        case .rawDeflate: return -15
        }
    }
}

/// A streaming inflater over zlib. The `z_stream` lives at a stable heap address for the
/// inflater's life; the caller owns the input and output buffers, so memory stays flat
/// however long the stream is, and one inflater serves many streams through `reset()`.
public final class Inflater {
    public typealias Format = ZlibFormat

    /// What one call of zlib's `inflate` did.
    public struct Step: Sendable {
        public var consumed: Int
        public var produced: Int
        /// The stream (or the current gzip member) ended with its trailer checked.
        public var streamEnded: Bool
    }

    /// zlib refused the data, in its own words ("incorrect data check" is a bad CRC-32 or
    /// Adler-32, "incorrect length check" a bad ISIZE), after consuming `consumed` bytes.
    public struct Failure: Error, Sendable {
        public var message: String
        public var consumed: Int
    }

    public let format: Format
    private let stream: UnsafeMutablePointer<z_stream>

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

    /// Starts a new stream with the same format: the next gzip member, or the next zip entry.
    public func reset() {
        inflateReset(stream)
    }

    /// Inflates from `input` into `output` in one call of zlib's `inflate` (`Z_NO_FLUSH`).
    /// Neither buffer may be larger than 4 GiB. A step that neither consumes nor produces
    /// means zlib needs more input (or more room) to go on.
    public func inflate(
        from input: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(Failure) -> Step {
        stream.pointee.next_in = input.baseAddress.map {
            UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: UInt8.self))
        }
        stream.pointee.avail_in = UInt32(input.count)
        stream.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = UInt32(output.count)
        let rc = CEOShareZlib.inflate(stream, Z_NO_FLUSH)
        let consumed = input.count - Int(stream.pointee.avail_in)
        let produced = output.count - Int(stream.pointee.avail_out)
        switch rc {
        case Z_OK, Z_BUF_ERROR:
            return Step(consumed: consumed, produced: produced, streamEnded: false)
        case Z_STREAM_END:
            return Step(consumed: consumed, produced: produced, streamEnded: true)
        case Z_NEED_DICT:
            throw Failure(message: "stream needs a preset dictionary", consumed: consumed)
        default:
            let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
            throw Failure(message: message, consumed: consumed)
        }
    }
}

/// A streaming deflater producing gzip, zlib or raw deflate data (archives written by
/// eoshare, fixtures and tests).
public final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let output: UnsafeMutableRawBufferPointer

    public init(format: ZlibFormat = .gzip, level: Int32 = 6) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        output = .allocate(byteCount: 128 * 1024, alignment: 16)
        let rc = eoshare_deflateInit2(stream, level, format.windowBits)
        precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    /// Compresses `input`; `sink` receives each block of output (valid only during the call).
    public func feed(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try run(input, flush: Z_NO_FLUSH, sink: sink)
    }

    /// Ends the stream, writing what zlib still holds and the format's trailer.
    public func finish(sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, sink: sink)
    }

    private func run(
        _ input: UnsafeRawBufferPointer,
        flush: Int32,
        sink: (UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        stream.pointee.next_in = input.baseAddress.map {
            UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: UInt8.self))
        }
        stream.pointee.avail_in = UInt32(input.count)
        while true {
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(output.count)
            let rc = deflate(stream, flush)
            precondition(rc != Z_STREAM_ERROR, "deflate state clobbered")
            let produced = output.count - Int(stream.pointee.avail_out)
            if produced > 0 { try sink(UnsafeRawBufferPointer(start: output.baseAddress, count: produced)) }
            if flush == Z_FINISH ? rc == Z_STREAM_END : stream.pointee.avail_out != 0 { return }
        }
    }

    /// Compresses a whole byte array (small payloads: fixtures, tests).
    public static func compress(_ bytes: [UInt8], format: ZlibFormat, level: Int32 = 6) -> [UInt8] {
        let deflater = Deflater(format: format, level: level)
        var out: [UInt8] = []
        bytes.withUnsafeBytes { buffer in deflater.feed(buffer) { out.append(contentsOf: $0) } }
        deflater.finish { out.append(contentsOf: $0) }
        return out
    }

    /// Compresses a whole byte array to one gzip member.
    public static func gzip(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        compress(bytes, format: .gzip, level: level)
    }
}

/// CRC-32 as gzip and zip use it, by zlib's table-driven (braided) implementation.
public struct CRC32: Sendable, Equatable {
    public private(set) var value: UInt32 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var remaining = bytes.count
        var crc = UInt(value)
        while remaining > 0 {
            let step = min(remaining, 1 << 30)
            crc = crc32(crc, base, UInt32(step))
            base += step
            remaining -= step
        }
        value = UInt32(truncatingIfNeeded: crc)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32()
        bytes.withUnsafeBytes { crc.update($0) }
        return crc.value
    }
}
