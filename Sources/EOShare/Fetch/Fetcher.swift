import Foundation

/// A verified object in the work folder, ready to unpack.
public struct FetchedObject: Sendable {
    public var ref: ObjectRef
    public var file: URL
    public var size: Int64
    public var sha256: String
    public var etag: String?
    public var lastModified: String?
}

public enum FetchOutcome: Sendable {
    case fetched(FetchedObject)
    /// Not modified since the last run (304, same listing size and time, or same bytes).
    case unchanged(ObjectRef)
    case quarantined(ObjectRef, reason: String)
}

/// Fetches one object: conditionally, with retries, streaming to a work file while the
/// SHA-256 is computed, then verified (announced size, sidecar or index checksum, error pages).
struct Fetcher {
    let worker: CurlWorker
    let source: SourceConfig
    let limits: Limits
    let state: StateStore
    let workFolder: URL

    static func request(for source: SourceConfig, url: URL, limits: Limits) -> TransferRequest {
        var r = TransferRequest(url: url, maxBytes: limits.maxObjectBytes)
        r.caFile = source.caFile
        let env = ProcessInfo.processInfo.environment
        switch source.auth {
        case .bearerTokenEnv(let name)?:
            if let token = env[name] { r.headers.append("Authorization: Bearer \(token)") }
        case .basicEnv(let user, let password)?:
            if let u = env[user], let p = env[password] { r.userPassword = "\(u):\(p)" }
        case .netrc?:
            r.useNetrc = true
        case nil:
            break
        }
        return r
    }

    func fetch(_ ref: ObjectRef) async -> FetchOutcome {
        let known = try? state.object(url: ref.url.absoluteString)
        // A local listing tells size and time: nothing to transfer when both are unchanged.
        if let known, let size = ref.size, let modified = ref.modified, known.size == size,
            known.lastModified == modified
        {
            return .unchanged(ref)
        }
        var request = Self.request(for: source, url: ref.url, limits: limits)
        if let known, known.sha256 != nil, !ref.url.isFileURL {
            if let etag = known.etag { request.headers.append("If-None-Match: \(etag)") }
            if let lm = known.lastModified { request.headers.append("If-Modified-Since: \(lm)") }
        }
        // One flat work folder per run: a unique prefix instead of a folder per object
        // (creating inodes is what costs on a busy filesystem).
        let file = workFolder.appendingPathComponent("\(UUID().uuidString.prefix(13))-\(ref.name)")
        let result: TransferResult
        let sink: FileSink
        do {
            (result, sink) = try await Retry.run(limits: limits) { () async throws(TransferError) in
                let sink = try FileSink(file)
                defer { sink.close() }
                let result = try await worker.perform(request) { sink.write($0) }
                return (result, sink)
            }
        } catch {
            WorkFiles.discard(file)
            return .quarantined(ref, reason: "fetch failed: \(error)")
        }
        func reject(_ reason: String) -> FetchOutcome {
            WorkFiles.discard(file)
            return .quarantined(ref, reason: reason)
        }
        switch result.status {
        case 304:
            WorkFiles.discard(file)
            return .unchanged(ref)
        case 200, 206:
            break
        default:
            return reject("HTTP \(result.status)")
        }
        if let announced = result.announcedLength ?? ref.size, announced != sink.bytes {
            return reject("size \(sink.bytes) bytes differs from the announced \(announced)")
        }
        if let type = result.contentType?.lowercased(), type.hasPrefix("text/html"),
            !(ref.name.hasSuffix(".html") || ref.name.hasSuffix(".htm"))
        {
            return reject("an HTML page was served with status \(result.status) (error page?)")
        }
        let sha = sink.digest.finalizeHex()
        if let expected = ref.expectedSHA256, expected != sha {
            return reject("SHA-256 \(sha) differs from the index's \(expected)")
        }
        if source.checksum == .sidecar {
            if let problem = await verifySidecar(ref, sha256: sha, md5: sink.md5.finalizeHex()) {
                return reject(problem)
            }
        }
        // Same bytes as before under new headers: nothing changed (a bad object stays quarantined once).
        if let known, known.sha256 == sha {
            WorkFiles.discard(file)
            try? state.saveObject(
                StateStore.StoredObject(
                    url: known.url, source: known.source, etag: result.etag, lastModified: ref.modified ?? result.lastModified,
                    size: sink.bytes, sha256: sha, outcome: known.outcome, reason: known.reason,
                    recordCollection: known.recordCollection, recordId: known.recordId), at: Date())
            return .unchanged(ref)
        }
        return .fetched(
            FetchedObject(
                ref: ref, file: file, size: sink.bytes, sha256: sha, etag: result.etag,
                lastModified: ref.modified ?? result.lastModified))
    }

    /// `NAME.sha256` or else `NAME.md5` beside the object must name the same digest.
    func verifySidecar(_ ref: ObjectRef, sha256: String, md5: String) async -> String? {
        for (suffix, actual) in [(".sha256", sha256), (".md5", md5)] {
            let url = ref.url.deletingLastPathComponent().appendingPathComponent(ref.name + suffix)
            let request = Self.request(for: source, url: url, limits: limits)
            guard
                let (result, body) = try? await Retry.run(
                    limits: limits, { () async throws(TransferError) in try await worker.fetchSmall(request, limit: 64 << 10) }),
                result.status == 200
            else { continue }
            let text = String(decoding: body, as: UTF8.self).lowercased()
            let digest = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "*" }).first.map(String.init)
            guard digest == actual else {
                return "checksum \(suffix.dropFirst()) mismatch: sidecar says \(digest ?? "nothing"), the bytes are \(actual)"
            }
            return nil
        }
        return "checksum sidecar \(ref.name).sha256 or .md5 not found"
    }
}

/// Writes transfer bytes to a file and digests them on the way (no second pass).
final class FileSink: @unchecked Sendable {
    // @unchecked: written only from the CurlWorker queue running the transfer; read after it.
    let fd: Int32
    let digest = StreamingDigest(.sha256)
    let md5 = StreamingDigest(.md5)
    var bytes: Int64 = 0
    var failed = false

    init(_ url: URL) throws(TransferError) {
        fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw TransferError(message: "cannot write \(url.lastPathComponent): \(String(cString: strerror(errno)))", transient: false)
        }
    }

    func write(_ b: UnsafeRawBufferPointer) -> Bool {
        var off = 0
        while off < b.count {
            let n = Glibc.write(fd, b.baseAddress! + off, b.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                failed = true
                return false
            }
            off += n
        }
        digest.update(b)
        md5.update(b)
        bytes += Int64(b.count)
        return true
    }

    func close() { Glibc.close(fd) }
}

/// The work files of one object: the fetched bytes and what unpacking made beside them.
enum WorkFiles {
    /// Where the unpacked form of a fetched file goes (same folder, so renames stay cheap):
    /// one file for a single compressed stream, a folder of entries for an archive.
    static func unpacked(_ fetched: URL) -> URL { URL(fileURLWithPath: fetched.path + ".out") }

    static func discard(_ fetched: URL) {
        unlink(fetched.path)
        removeOutput(unpacked(fetched).path)
    }
}
