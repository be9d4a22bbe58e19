import EOShareCore
import EOShareFetch
import Foundation

/// Where the unpacker's bytes come from: the object file, a range of it, or zlib's output.
/// Each source reads into a buffer its caller owns, so no layer keeps more than one buffer.
package protocol ByteSource {
    /// Reads up to `buffer.count` bytes; 0 means the source has ended for good.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(UnpackError.Cause) -> Int
    /// How far into the object file this source has read (for limits and error offsets).
    var objectOffset: Int64 { get }
    /// True when the bytes are decompressed, so offsets in them are not offsets in the file.
    var isDecompressed: Bool { get }
}

/// The two fixed buffers of one unpack: compressed input and the bytes handed to readers.
/// Every layer borrows these, so memory stays the same however large the object is.
package final class UnpackBuffers {
    /// 1 MiB of compressed input per `read(2)`: few system calls, zlib's inner loop stays hot.
    package static let inputSize = 1 << 20
    /// 256 KiB of output per step: large enough for few `write(2)` calls, small enough to stay
    /// in the CPU cache between inflate, SHA-256 and the copy into the page cache.
    package static let outputSize = 256 << 10

    package let input: UnsafeMutableRawBufferPointer
    package let output: UnsafeMutableRawBufferPointer

    package init(inputSize: Int = UnpackBuffers.inputSize, outputSize: Int = UnpackBuffers.outputSize) {
        input = .allocate(byteCount: inputSize, alignment: 64)
        output = .allocate(byteCount: outputSize, alignment: 64)
    }

    deinit {
        input.deallocate()
        output.deallocate()
    }
}

/// The object file, open for reading; closed when the last reference goes.
package final class InputFile {
    package let fd: Int32
    package let size: Int64

    package init(path: String) throws(UnpackError.Cause) {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io("cannot open \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw .io("cannot stat \(path): \(message)")
        }
        size = Int64(info.st_size)
    }

    deinit { close(fd) }

    /// Reads `count` bytes at `offset` (fewer at the end of the file).
    package func read(at offset: Int64, count: Int) throws(UnpackError.Cause) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var range = FileRange(file: self, from: offset, to: min(size, offset + Int64(count)))
        var filled = 0
        while filled < count {
            let n = try bytes.withUnsafeMutableBytes { buffer in
                Result { () throws(UnpackError.Cause) in
                    try range.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                }
            }.get()
            if n == 0 { break }
            filled += n
        }
        return Array(bytes.prefix(filled))
    }
}

/// A byte range of the object file, read with `pread(2)` (the zip reader seeks; tar and
/// gzip read the whole file front to back).
package struct FileRange: ByteSource {
    package let file: InputFile
    private(set) var position: Int64
    package let end: Int64

    package init(file: InputFile, from start: Int64 = 0, to end: Int64? = nil) {
        self.file = file
        position = start
        self.end = end ?? file.size
    }

    package var objectOffset: Int64 { position }
    package var isDecompressed: Bool { false }

    package mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(UnpackError.Cause) -> Int {
        let wanted = Int(min(Int64(buffer.count), end - position))
        guard wanted > 0 else { return 0 }
        while true {
            let n = pread(file.fd, buffer.baseAddress, wanted, off_t(position))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("read error at byte \(position): \(String(cString: strerror(errno)))")
            }
            position += Int64(n)
            return n
        }
    }
}

/// Decompresses another source through zlib: gzip (every member, one after another), zlib,
/// or raw deflate. Each byte it produces is charged to the output budget first, so a bomb
/// stops at the limit; a stream that ends early fails as truncated, with the file offset.
package struct InflatingSource<Compressed: ByteSource>: ByteSource {
    private enum State {
        /// Inside a stream (or gzip member) whose end zlib has not seen yet.
        case inStream
        /// A gzip member ended: the input may end here or hold another member.
        case betweenMembers
        /// A zlib or raw deflate stream ended: nothing may follow it.
        case ended
    }

    private var compressed: Compressed
    private let inflater: Inflater
    private let budget: OutputBudget
    private let input: UnsafeMutableRawBufferPointer
    private var inputStart = 0
    private var inputEnd = 0
    private var compressedEnded = false
    private var state = State.inStream

    /// `inflater` must be fresh or reset; `input` is a buffer this source may fill.
    package init(
        _ compressed: Compressed,
        inflater: Inflater,
        input: UnsafeMutableRawBufferPointer,
        budget: OutputBudget
    ) {
        self.compressed = compressed
        self.inflater = inflater
        self.input = input
        self.budget = budget
    }

    package var objectOffset: Int64 { compressed.objectOffset - Int64(inputEnd - inputStart) }
    package var isDecompressed: Bool { true }

    /// True once the stream (or last member) ended and no compressed input is left unread.
    package var streamHasEnded: Bool {
        switch state {
        case .inStream: return false
        case .betweenMembers, .ended: return inputStart == inputEnd && compressedEnded
        }
    }

    package mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(UnpackError.Cause) -> Int {
        while true {
            switch state {
            case .ended:
                if inputStart == inputEnd { try refill() }
                guard inputStart == inputEnd else {
                    throw .corrupt(
                        "compressed data",
                        detail: "data follows the end of the \(inflater.format.name) stream",
                        at: .object(objectOffset)
                    )
                }
                return 0
            case .betweenMembers:
                if inputStart == inputEnd { try refill() }
                guard inputStart < inputEnd else { return 0 }
                inflater.reset()
                state = .inStream
            case .inStream:
                if inputStart == inputEnd {
                    try refill()
                    guard inputStart < inputEnd else {
                        throw .truncated("compressed stream", at: .object(objectOffset))
                    }
                }
                // At most one byte past the budget: enough to know the limit is passed, no more.
                let room = Int(min(Int64(buffer.count), max(budget.remaining, 0) + 1))
                let step: Inflater.Step
                do {
                    step = try inflater.inflate(
                        from: UnsafeRawBufferPointer(rebasing: input[inputStart..<inputEnd]),
                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<room])
                    )
                } catch {
                    inputStart += error.consumed
                    throw .corrupt("compressed data", detail: error.message, at: .object(objectOffset))
                }
                inputStart += step.consumed
                if step.streamEnded { state = inflater.format == .gzip ? .betweenMembers : .ended }
                if step.produced > 0 {
                    try budget.charge(step.produced, inputOffset: objectOffset)
                    return step.produced
                }
                if !step.streamEnded && step.consumed == 0 && inputStart < inputEnd {
                    throw .corrupt("compressed data", detail: "zlib makes no progress", at: .object(objectOffset))
                }
            }
        }
    }

    private mutating func refill() throws(UnpackError.Cause) {
        guard !compressedEnded else { return }
        let n = try compressed.read(into: input)
        inputStart = 0
        inputEnd = n
        if n == 0 { compressedEnded = true }
    }
}

/// Reads a source through one fixed buffer: headers are peeked at, entry data is handed over
/// in place, so zlib's output reaches `write(2)` without another copy.
package final class ByteReader<Source: ByteSource> {
    private(set) var source: Source
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var sourceEnded = false
    /// Bytes of the source consumed so far (handed over or skipped).
    private(set) var position: Int64 = 0

    package init(_ source: Source, buffer: UnsafeMutableRawBufferPointer) {
        self.source = source
        self.buffer = buffer
    }

    /// Where the reader stands, as an error message should name it.
    package var offset: UnpackError.Offset {
        source.isDecompressed ? .decompressed(position) : .object(position)
    }

    /// How far into the object file the source has read.
    package var objectOffset: Int64 { source.objectOffset }

    /// The next `count` bytes (at most the buffer's size) without consuming them; fewer only
    /// at the end of the source.
    package func peek(_ count: Int) throws(UnpackError.Cause) -> UnsafeRawBufferPointer {
        precondition(count <= buffer.count)
        while end - start < count && !sourceEnded {
            if start > 0 {
                let kept = end - start
                if kept > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: kept) }
                start = 0
                end = kept
            }
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            if n == 0 { sourceEnded = true } else { end += n }
        }
        return UnsafeRawBufferPointer(rebasing: buffer[start..<start + min(count, end - start)])
    }

    /// Consumes `count` bytes already returned by `peek`.
    package func skip(_ count: Int) {
        precondition(count <= end - start)
        start += count
        position += Int64(count)
    }

    /// Hands over the next bytes in place, at most `limit` of them; empty only at the end of
    /// the source. The bytes stay valid until the next call on this reader.
    package func next(upTo limit: Int) throws(UnpackError.Cause) -> UnsafeRawBufferPointer {
        if start == end {
            start = 0
            end = 0
            guard !sourceEnded else { return UnsafeRawBufferPointer(start: nil, count: 0) }
            let n = try source.read(into: buffer)
            guard n > 0 else {
                sourceEnded = true
                return UnsafeRawBufferPointer(start: nil, count: 0)
            }
            end = n
        }
        let count = min(limit, end - start)
        let chunk = UnsafeRawBufferPointer(rebasing: buffer[start..<start + count])
        start += count
        position += Int64(count)
        return chunk
    }

    /// Reads to the end of the source, discarding the bytes (a gzip trailer still gets checked).
    package func drain() throws(UnpackError.Cause) {
        while try next(upTo: .max).count > 0 {}
    }
}
