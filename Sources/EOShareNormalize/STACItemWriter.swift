import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// Turns a normalized `Record` into a STAC 1.1.0 Item (without links: each published
/// tree adds its own relative links).
public enum STACItemWriter {
    public static let stacVersion = "1.1.0"
    public static let fileExtension = "https://stac-extensions.github.io/file/v2.1.0/schema.json"

    /// `ingested` is when the pipeline first published the record (CONTRACT §6).
    public static func item(for r: Record, ingested: Date) -> JSONValue {
        var props = JSONObject()
        if let dt = r.datetime {
            props["datetime"] = .string(Timestamp.format(dt))
        } else {
            props["datetime"] = .null
        }
        if let s = r.startDatetime { props["start_datetime"] = .string(Timestamp.format(s)) }
        if let e = r.endDatetime { props["end_datetime"] = .string(Timestamp.format(e)) }
        for (k, v) in r.properties.entries { props[k] = v }
        props["consortium:owner"] = .string(r.owner)
        props["consortium:source"] = .string(r.source)
        props["consortium:ingested"] = .string(Timestamp.format(ingested))
        if let p = r.processed { props["consortium:processed"] = .string(Timestamp.format(p)) }

        var assets = JSONObject()
        var usesFile = false
        for a in r.assets {
            var o = JSONObject()
            o["href"] = .string(a.href)
            if let t = a.mediaType { o["type"] = .string(t) }
            if let t = a.title { o["title"] = .string(t) }
            if !a.roles.isEmpty { o["roles"] = .array(a.roles.map(JSONValue.string)) }
            for (k, v) in a.extra.entries { o[k] = v }
            if let size = a.size {
                o["file:size"] = .int(size)
                usesFile = true
            }
            if let sha = a.sha256 {
                o["file:checksum"] = .string(Digest.multihashSHA256(hex: sha))
                usesFile = true
            }
            assets[a.key] = .object(o)
        }
        var extensions = r.stacExtensions
        if usesFile, !extensions.contains(fileExtension) { extensions.append(fileExtension) }

        var item = JSONObject()
        item["type"] = .string("Feature")
        item["stac_version"] = .string(stacVersion)
        item["stac_extensions"] = .array(extensions.sorted().map(JSONValue.string))
        item["id"] = .string(r.id)
        item["geometry"] = r.geometry ?? .null
        if r.geometry != nil, let bbox = r.bbox { item["bbox"] = .array(bbox.map(JSONValue.number)) }
        item["properties"] = .object(props)
        item["links"] = .array([])
        item["assets"] = .object(assets)
        item["collection"] = .string(r.collection)
        return .object(item)
    }
}
