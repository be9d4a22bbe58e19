import EOShareCore
import EOShareFetch
import Foundation

/// A fetched object and the record's files that came out of it.
public struct UnpackedObject: Sendable {
    public var fetched: FetchedObject
    public var files: [UnpackedFile]

    public init(fetched: FetchedObject, files: [UnpackedFile]) {
        self.fetched = fetched
        self.files = files
    }
}

/// The unpack stage: turns a fetched object into its files beside it in the work folder
/// (`WorkFiles.unpacked`), under the pipeline's `max_object_bytes` and
/// `max_expansion_ratio`. A plain object is its own single file, with the size and SHA-256
/// measured while it was fetched; a refusal is an `UnpackError` the pipeline quarantines with.
package struct Unpacker {
    package let limits: Limits

    package func unpack(_ object: FetchedObject) throws(UnpackError) -> UnpackedObject {
        let unpacking = Unpacking(limits: UnpackLimits(limits))
        let output = WorkFiles.unpacked(object.file)
        switch try unpacking.unpack(file: object.file.path, name: object.ref.name, into: output.path) {
        case .asFetched:
            let file = UnpackedFile(name: object.ref.name, url: object.file, size: object.size, sha256: object.sha256)
            return UnpackedObject(fetched: object, files: [file])
        case .files(let files):
            return UnpackedObject(fetched: object, files: files)
        }
    }

    public init(limits: Limits) {
        self.limits = limits
    }
}

extension UnpackLimits {
    /// The pipeline's `max_object_bytes` and `max_expansion_ratio`.
    public init(_ limits: Limits) {
        self.init(maxObjectBytes: limits.maxObjectBytes, maxExpansionRatio: limits.maxExpansionRatio)
    }
}
