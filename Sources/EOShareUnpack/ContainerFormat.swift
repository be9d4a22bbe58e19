import EOShareCore
import EOShareFetch

/// What an object is, told by its first bytes, never by its name.
package enum ContainerFormat: Equatable {
    case plain, gzip, zlib, tar, zip

    /// Bytes of input the zlib check inflates before believing two header bytes, and how
    /// much output they must yield before an error if they fail.
    package static let zlibTrialBytes = 64 << 10
    package static let zlibTrialOutput = 256

    package static func detect(_ file: InputFile, buffers: UnpackBuffers) throws(UnpackError.Cause) -> ContainerFormat {
        let head = try file.read(at: 0, count: TarHeader.blockSize)
        if head.starts(with: [0x1F, 0x8B]) { return .gzip }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return .zip }
        if head.withUnsafeBytes({ TarHeader.identifies($0) }) { return .tar }
        if hasZlibHeader(head), try looksLikeZlibStream(file, buffers: buffers) { return .zlib }
        return .plain
    }

    /// RFC 1950: deflate with a window of at most 32 KiB, the two bytes a multiple of 31, and
    /// no preset dictionary (which nobody could supply).
    package static func hasZlibHeader(_ head: [UInt8]) -> Bool {
        guard head.count >= 2 else { return false }
        let (cmf, flg) = (head[0], head[1])
        return cmf & 0x0F == 8 && cmf >> 4 <= 7 && (UInt16(cmf) << 8 | UInt16(flg)) % 31 == 0 && flg & 0x20 == 0
    }

    /// One text file in a thousand or so starts with two bytes that pass the zlib header check
    /// (`x^`, `HK`), and so do CCSDS packets of some APIDs. Such data read as deflate fails
    /// within its first few bytes (bad block type, lengths, a distance before the start), so
    /// a stream is taken for zlib unless it fails before yielding `zlibTrialOutput` bytes.
    /// Failing the Adler-32 check does not count: the deflate data was sound to its end, so
    /// that is a corrupt zlib stream, to be refused as one.
    package static func looksLikeZlibStream(_ file: InputFile, buffers: UnpackBuffers) throws(UnpackError.Cause) -> Bool
    {
        let head = try file.read(at: 0, count: zlibTrialBytes)
        let inflater = Inflater(format: .zlib)
        return head.withUnsafeBytes { input in
            var consumed = 0
            var produced = 0
            while consumed < input.count {
                let step: Inflater.Step
                do throws(Inflater.Failure) {
                    step = try inflater.inflate(
                        from: UnsafeRawBufferPointer(rebasing: input[consumed...]),
                        into: buffers.output
                    )
                } catch {
                    // zlib's own words for a failed Adler-32 (stable since zlib 1.0).
                    return produced >= zlibTrialOutput || error.message == "incorrect data check"
                }
                produced += step.produced
                if step.streamEnded || (step.consumed == 0 && step.produced == 0) { return true }
                consumed += step.consumed
            }
            return true
        }
    }
}
