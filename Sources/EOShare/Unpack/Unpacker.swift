import Foundation

/// The payload files of one object after decompression, by file name.
public struct UnpackedObject: Sendable {
    public var fetched: FetchedObject
    public var files: [UnpackedFile]
}

public struct UnpackedFile: Sendable, Hashable {
    public var name: String
    public var url: URL
    public var size: Int64
    public var sha256: String
}

public struct UnpackError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// Turns a fetched object into its files: gzip (recognised by its magic bytes, not its
/// name) is inflated as a stream through fixed buffers; anything else passes through.
struct Unpacker {
    let limits: Limits

    func unpack(_ object: FetchedObject) throws(UnpackError) -> UnpackedObject {
        let magic = Self.peek(object.file, count: 2)
        guard magic == [0x1F, 0x8B] else {
            return UnpackedObject(
                fetched: object,
                files: [UnpackedFile(name: object.ref.name, url: object.file, size: object.size, sha256: object.sha256)])
        }
        var outName = object.ref.name
        for suffix in [".gz", ".gzip", ".GZ"] where outName.hasSuffix(suffix) {
            outName = String(outName.dropLast(suffix.count))
        }
        if outName == object.ref.name { outName += ".out" }
        let outURL = WorkFiles.unpacked(object.file)
        let (size, sha) = try gunzip(object.file, to: outURL, inputSize: object.size)
        return UnpackedObject(fetched: object, files: [UnpackedFile(name: outName, url: outURL, size: size, sha256: sha)])
    }

    /// Streams `input` through zlib into `output`, stopping at max_object_bytes or
    /// max_expansion_ratio so a gzip bomb ends within a bounded number of bytes.
    func gunzip(_ input: URL, to output: URL, inputSize: Int64) throws(UnpackError) -> (Int64, String) {
        let inFD = open(input.path, O_RDONLY)
        guard inFD >= 0 else { throw UnpackError(reason: "cannot open \(input.lastPathComponent)") }
        defer { close(inFD) }
        let outFD = open(output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard outFD >= 0 else { throw UnpackError(reason: "cannot create \(output.lastPathComponent)") }
        defer { close(outFD) }
        let inflater = Inflater(format: .gzip)
        let digest = StreamingDigest(.sha256)
        let maxOut = min(limits.maxObjectBytes, Int64(Double(max(inputSize, 1)) * limits.maxExpansionRatio))
        let ratioBound = Int64(Double(max(inputSize, 1)) * limits.maxExpansionRatio) < limits.maxObjectBytes
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        do {
            while true {
                let n = read(inFD, buffer.baseAddress, buffer.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw UnpackError(reason: "read error: \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                try inflater.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { out in
                    if inflater.totalOut > maxOut {
                        throw DecompressError(
                            kind: ratioBound ? .expansionRatio(limit: limits.maxExpansionRatio) : .tooLarge(limit: limits.maxObjectBytes),
                            offset: inflater.totalIn)
                    }
                    digest.update(out)
                    var off = 0
                    while off < out.count {
                        let w = write(outFD, out.baseAddress! + off, out.count - off)
                        if w < 0 {
                            if errno == EINTR { continue }
                            throw UnpackError(reason: "write error: \(String(cString: strerror(errno)))")
                        }
                        off += w
                    }
                }
            }
            try inflater.finish()
        } catch let e as DecompressError {
            try? FileManager.default.removeItem(at: output)
            throw UnpackError(reason: "gzip: \(e)")
        } catch let e as UnpackError {
            try? FileManager.default.removeItem(at: output)
            throw e
        } catch {
            try? FileManager.default.removeItem(at: output)
            throw UnpackError(reason: "gzip: \(error)")
        }
        return (inflater.totalOut, digest.finalizeHex())
    }

    static func peek(_ url: URL, count: Int) -> [UInt8] {
        guard let h = FileHandle(forReadingAtPath: url.path) else { return [] }
        defer { try? h.close() }
        return [UInt8]((try? h.read(upToCount: count)) ?? Data())
    }
}
