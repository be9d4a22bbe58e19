import EOShareCore
import EOShareFetch

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
    package func unpack(
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

    /// The name of a single stream's content, as the stage has always named it: the object's
    /// name without its compression suffix (`x_MTL.txt.gz` → `x_MTL.txt`), or with `.out`
    /// added when it has none (`named_MTL.txt` → `named_MTL.txt.out`).
    package static func decompressedName(_ name: String, _ format: ZlibFormat) -> String {
        let suffixes: [String]
        switch format {
        case .gzip: suffixes = [".gz", ".gzip", ".GZ"]
        case .zlib: suffixes = [".zz", ".zlib"]
        case .rawDeflate: suffixes = []
        }
        for suffix in suffixes where name.hasSuffix(suffix) && name.count > suffix.count {
            return String(name.dropLast(suffix.count))
        }
        return name + ".out"
    }
}
