import EOShareCore
import EOShareFetch
import Foundation

/// What a listing knew of an object, as the `work` table keeps it for the worker that claims
/// it (which may not have listed the source). No secret is ever written: an object whose
/// transfer needs a query string (a signature, a key) is kept without it, and the worker
/// that claims it lists the source itself to learn it (CONTRACT §5: query strings are never
/// stored).
enum ObjectRefRow {
    static func encode(_ ref: ObjectRef) -> String {
        var o = JSONObject()
        o["name"] = .string(ref.name)
        if ref.transferURL.query == nil {
            o["transfer"] = .string(ref.transferURL.absoluteString)
        }
        if let size = ref.size { o["size"] = .int(size) }
        if let modified = ref.modified { o["modified"] = .string(modified) }
        if let approximate = ref.approximateSize { o["approximate_size"] = .int(approximate) }
        if let sha = ref.expectedSHA256 { o["sha256"] = .string(sha) }
        if ref.listed { o["listed"] = .bool(true) }
        if let sidecar = ref.sidecar {
            guard sidecar.url.query == nil else { return "{}" }
            o["sidecar"] = .object(["kind": .string(sidecar.kind.rawValue), "url": .string(sidecar.url.absoluteString)])
        }
        if let entry = ref.listingEntry { o["entry"] = .string(entry) }
        return JSONValue.object(o).serializedString()
    }

    /// The object again; nil when the row lacks what a transfer needs (the claimer lists).
    static func decode(source: String, url: String, row: String?) -> ObjectRef? {
        guard let row, let json = try? JSONValue.parse(Array(row.utf8)),
            let transfer = json["transfer"]?.stringValue.flatMap(URL.init(string:)),
            let name = json["name"]?.stringValue
        else { return nil }
        var ref = ObjectRef(
            source: source,
            url: transfer,
            name: name,
            size: json["size"]?.doubleValue.flatMap { Int64(exactly: $0) },
            modified: json["modified"]?.stringValue,
            approximateSize: json["approximate_size"]?.doubleValue.flatMap { Int64(exactly: $0) },
            expectedSHA256: json["sha256"]?.stringValue
        )
        guard ref.url.absoluteString == url else { return nil }
        if case .bool(true)? = json["listed"] { ref.listed = true }
        if let sidecar = json["sidecar"], let kind = sidecar["kind"]?.stringValue.flatMap(Sidecar.Kind.init),
            let sidecarURL = sidecar["url"]?.stringValue.flatMap(URL.init(string:))
        {
            ref.sidecar = Sidecar(kind: kind, url: sidecarURL)
        }
        ref.listingEntry = json["entry"]?.stringValue
        return ref
    }
}
