/// What an object is, told by its first bytes, never by its name.
enum ContainerFormat: Equatable {
    case plain, gzip, zlib, tar, zip

    /// Bytes of input the zlib check inflates before believing two header bytes, and how
    /// much output they must yield before an error if they fail.
    static let zlibTrialBytes = 64 << 10
    static let zlibTrialOutput = 256

    static func detect(_ file: InputFile, buffers: UnpackBuffers) throws(UnpackError.Cause) -> ContainerFormat {
        let head = try file.read(at: 0, count: TarHeader.blockSize)
        if head.starts(with: [0x1F, 0x8B]) { return .gzip }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return .zip }
        if head.withUnsafeBytes({ TarHeader.identifies($0) }) { return .tar }
        if hasZlibHeader(head), try looksLikeZlibStream(file, buffers: buffers) { return .zlib }
        return .plain
    }

    /// RFC 1950: deflate with a window of at most 32 KiB, the two bytes a multiple of 31, and
    /// no preset dictionary (which nobody could supply).
    static func hasZlibHeader(_ head: [UInt8]) -> Bool {
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
    static func looksLikeZlibStream(_ file: InputFile, buffers: UnpackBuffers) throws(UnpackError.Cause) -> Bool {
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

/// The unpack stage's work on one object file, apart from the pipeline's types (so the
/// fuzz targets build it alone): recognise the format, then stream it through fixed
/// buffers into its files, under the output limits, refusing whatever is unsafe.
///
/// - plain data stays as it is: the object is its own single file;
/// - gzip (every member) and zlib become one file, or, when what they hold is a tar, the
///   tar's entries (streamed straight out of zlib, no intermediate file);
/// - tar and zip become their entries, in a folder.
public struct Unpacking: Sendable {
    public let limits: UnpackLimits

    public init(limits: UnpackLimits) {
        self.limits = limits
    }

    public enum Result: Equatable, Sendable {
        /// Nothing to unpack: the object file is the record's one file.
        case asFetched
        /// The files made under the output path: the path itself for a single stream, files
        /// inside it (a folder) for an archive.
        case files([UnpackedFile])
    }

    /// Unpacks the object at `path`, called `name` by its feed, into `output` (a path that
    /// does not exist yet, or holds what an earlier attempt left). Nothing stays at `output`
    /// when it fails.
    public func unpack(file path: String, name: String, into output: String) throws(UnpackError) -> Result {
        let buffers = UnpackBuffers()
        let input: InputFile
        let format: ContainerFormat
        do {
            input = try InputFile(path: path)
            format = try ContainerFormat.detect(input, buffers: buffers)
        } catch {
            throw UnpackError(container: "object", cause: error)
        }
        return try unpack(input, as: format, name: name, into: output, buffers: buffers)
    }

    /// Unpacks `input` read as `format` (the fuzz targets pick the format themselves).
    func unpack(
        _ input: InputFile,
        as format: ContainerFormat,
        name: String,
        into output: String,
        buffers: UnpackBuffers
    ) throws(UnpackError) -> Result {
        let budget = OutputBudget(limits: limits, inputSize: input.size)
        let writer = FileWriter()
        do throws(UnpackError) {
            switch format {
            case .plain:
                return .asFetched
            case .tar:
                let reader = ByteReader(FileRange(file: input), buffer: buffers.output)
                return try extractArchive(into: output, writer: writer, container: "tar") {
                    (folder) throws(UnpackError) in
                    try TarReader(reader: reader, folder: folder, container: "tar").extract()
                }
            case .zip:
                return try extractArchive(into: output, writer: writer, container: "zip") {
                    (folder) throws(UnpackError) in
                    try ZipReader(file: input, folder: folder, buffers: buffers, budget: budget).extract()
                }
            case .gzip, .zlib:
                let compression: ZlibFormat = format == .gzip ? .gzip : .zlib
                let source = InflatingSource(
                    FileRange(file: input),
                    inflater: Inflater(format: compression),
                    input: buffers.input,
                    budget: budget
                )
                let reader = ByteReader(source, buffer: buffers.output)
                let head: UnsafeRawBufferPointer
                do { head = try reader.peek(TarHeader.blockSize) } catch {
                    throw UnpackError(container: compression.name, cause: error)
                }
                guard TarHeader.identifies(head) else {
                    return try decompressSingle(
                        reader,
                        name: Self.decompressedName(name, compression),
                        into: output,
                        writer: writer,
                        container: compression.name
                    )
                }
                let container = compression == .gzip ? "tar.gz" : "tar.zlib"
                return try extractArchive(into: output, writer: writer, container: container) {
                    (folder) throws(UnpackError) in
                    try TarReader(reader: reader, folder: folder, container: container).extract()
                }
            }
        } catch {
            writer.abandon()
            removeOutput(output)
            throw error
        }
    }

    /// An archive's entries go into a folder at `output`.
    private func extractArchive(
        into output: String,
        writer: FileWriter,
        container: String,
        _ read: (ExtractionFolder) throws(UnpackError) -> Void
    ) throws(UnpackError) -> Result {
        let folder: ExtractionFolder
        do { folder = try ExtractionFolder(root: output, maxEntries: limits.maxEntries, writer: writer) } catch {
            throw UnpackError(container: "object", cause: error)
        }
        try read(folder)
        do { return .files(try writer.finish()) } catch { throw UnpackError(container: container, cause: error) }
    }

    /// A single compressed stream becomes the file at `output`.
    private func decompressSingle<Source: ByteSource>(
        _ reader: ByteReader<Source>,
        name: String,
        into output: String,
        writer: FileWriter,
        container: String
    ) throws(UnpackError) -> Result {
        do throws(UnpackError.Cause) {
            removeOutput(output)
            let file = try writer.create(output, name: name)
            while true {
                let chunk = try reader.next(upTo: .max)
                guard chunk.count > 0 else { break }
                try writer.write(chunk, to: file)
            }
            try writer.close(file)
            return .files(try writer.finish())
        } catch {
            throw UnpackError(container: container, cause: error)
        }
    }

    /// The name of a single stream's content: the object's name without its compression
    /// suffix (`x_MTL.txt.gz` → `x_MTL.txt`, `b.tgz` → `b.tar`), or the same name when it has none.
    static func decompressedName(_ name: String, _ format: ZlibFormat) -> String {
        let suffixes: [(String, String)]
        switch format {
        case .gzip: suffixes = [(".tgz", ".tar"), (".gz", ""), (".gzip", ""), (".GZ", "")]
        case .zlib: suffixes = [(".zz", ""), (".zlib", "")]
        case .rawDeflate: suffixes = []
        }
        for (suffix, replacement) in suffixes where name.hasSuffix(suffix) && name.count > suffix.count {
            return String(name.dropLast(suffix.count)) + replacement
        }
        return name
    }
}
