import Foundation
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOShareEmbargo
@testable import EOShareFeedGeneration
@testable import EOShareFetch
@testable import EOShareNormalize
@testable import EOShareOperations
@testable import EOSharePublish
@testable import EOShareState
@testable import EOShareUnpack

/// Runs the unpack stage on bytes the test made, as the pipeline does: the bytes become a
/// fetched file in a fresh folder, the stage unpacks it beside itself.
struct UnpackBench {
    let folder = RepoPaths.temporaryFolder()

    /// Writes `bytes` as the fetched object `name`.
    func fetched(_ bytes: [UInt8], name: String) throws -> FetchedObject {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return try Self.object(url)
    }

    static func object(_ url: URL) throws -> FetchedObject {
        let size = Int64(try Data(contentsOf: url).count)
        let ref = ObjectRef(source: "s", url: url, name: url.lastPathComponent)
        return FetchedObject(ref: ref, file: url, size: size, sha256: try Digest.sha256Hex(ofFile: url))
    }

    func unpack(_ bytes: [UInt8], name: String, limits: Limits = Limits()) throws -> UnpackedObject {
        try Unpacker(limits: limits).unpack(try fetched(bytes, name: name))
    }

    /// The refusal of `bytes`, after checking that nothing of the object's output is left.
    func refusal(
        _ bytes: [UInt8],
        name: String,
        limits: Limits = Limits(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> UnpackError? {
        let object = try fetched(bytes, name: name)
        let error = #expect(throws: UnpackError.self, sourceLocation: sourceLocation) {
            try Unpacker(limits: limits).unpack(object)
        }
        #expect(
            !FileManager.default.fileExists(atPath: WorkFiles.unpacked(object.file).path),
            "output left behind",
            sourceLocation: sourceLocation
        )
        if let error {
            #expect(!error.description.contains("\n"), "a reason is one line", sourceLocation: sourceLocation)
        }
        return error
    }

    /// The unpacked files by name, with their bytes (checked against their size and digest).
    static func contents(_ object: UnpackedObject) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for file in object.files {
            let bytes = [UInt8](try Data(contentsOf: file.url))
            #expect(Int64(bytes.count) == file.size, "size of \(file.name)")
            #expect(Digest.sha256Hex(bytes) == file.sha256, "SHA-256 of \(file.name)")
            out[file.name] = bytes
        }
        return out
    }

    /// Runs a system tool (tar, zip, python3) in the bench's folder and waits for it.
    @discardableResult
    func run(_ tool: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.currentDirectoryURL = folder
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(tool) \(arguments): \(message)", sourceLocation: sourceLocation)
        return process.terminationStatus
    }

    /// Reads a file the bench's folder holds.
    func bytes(of name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
    }

    /// Deterministic, compressible, text-like bytes.
    static func text(_ count: Int, seed: Int = 0) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + 64)
        var i = seed
        while out.count < count {
            out += Array("    REFLECTANCE_ADD_BAND_\(i % 11) = \(Double(i) * 0.000_731)\n".utf8)
            i += 1
        }
        return Array(out.prefix(count))
    }
}
