import EOShare
import Foundation

/// An asset's bytes from the store, whole or one byte range (RFC 9110 §14), once the record
/// was found visible to the viewer.
enum Assets {
    static func response(
        for asset: StoredAsset,
        store path: URL,
        range: String?,
        head: Bool
    ) throws -> APIResponse {
        var s = stat()
        guard stat(path.path, &s) == 0 else {
            return .error(404, "NotFound", "the asset's bytes are not in the store")
        }
        let size = Int64(s.st_size)
        var headers: [(String, String)] = [
            ("Content-Type", mediaType(asset.file)), ("Accept-Ranges", "bytes"),
            ("ETag", "\"\(asset.sha256)\""),
        ]
        guard let range, size > 0 else {
            headers.append(("Content-Length", String(size)))
            return APIResponse(status: 200, headers: headers, file: head ? nil : (path.path, nil, size))
        }
        guard let r = parse(range, size: size) else {
            return APIResponse(
                status: 416,
                headers: [("Content-Range", "bytes */\(size)"), ("Content-Type", "application/json")],
                body: JSONValue.object(["code": "RangeNotSatisfiable", "description": .string("range '\(range)'")])
                    .serialized(pretty: false)
            )
        }
        headers.append(("Content-Range", "bytes \(r.lowerBound)-\(r.upperBound)/\(size)"))
        headers.append(("Content-Length", String(r.upperBound - r.lowerBound + 1)))
        return APIResponse(status: 206, headers: headers, file: head ? nil : (path.path, r, size))
    }

    /// One range: `bytes=a-b`, `bytes=a-` or `bytes=-n` (the last n bytes); several ranges
    /// are answered with the first. Nil when it is not satisfiable.
    static func parse(_ header: String, size: Int64) -> ClosedRange<Int64>? {
        guard header.hasPrefix("bytes=") else { return nil }
        let first = header.dropFirst(6).split(separator: ",").first?.trimmingCharacters(in: .whitespaces) ?? ""
        let parts = first.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        if parts[0].isEmpty {
            guard let n = Int64(parts[1]), n > 0 else { return nil }
            return max(0, size - n)...(size - 1)
        }
        guard let a = Int64(parts[0]), a >= 0, a < size else { return nil }
        if parts[1].isEmpty { return a...(size - 1) }
        guard let b = Int64(parts[1]), b >= a else { return nil }
        return a...min(b, size - 1)
    }

    static func mediaType(_ file: String) -> String {
        let lower = file.lowercased()
        if lower.hasSuffix(".tif") || lower.hasSuffix(".tiff") { return "image/tiff; application=geotiff" }
        if lower.hasSuffix(".json") { return "application/json" }
        if lower.hasSuffix(".xml") { return "application/xml" }
        if lower.hasSuffix(".txt") { return "text/plain" }
        if lower.hasSuffix(".jp2") { return "image/jp2" }
        if lower.hasSuffix(".png") { return "image/png" }
        if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") { return "image/jpeg" }
        return "application/octet-stream"
    }
}
