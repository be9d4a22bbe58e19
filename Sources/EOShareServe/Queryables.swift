import EOShare

/// The properties eoshare writes into items, as filters and sorts may name them.
enum Queryables {
    static let numbers = [
        "eo:cloud_cover", "gsd", "view:off_nadir", "view:sun_azimuth", "view:sun_elevation", "landsat:cloud_cover_land",
        "s2:mgrs_tile",
    ]
    static let strings = [
        "platform", "constellation", "mission", "proj:code", "landsat:wrs_type", "landsat:wrs_path", "landsat:wrs_row",
        "landsat:collection_category", "landsat:collection_number", "landsat:correction", "landsat:scene_id",
        "sci:doi", "consortium:owner", "consortium:source",
    ]
    static let instants = ["consortium:ingested", "consortium:processed", "created", "updated"]

    /// Sortable besides datetime, id and collection (each is one value per item).
    static let sortable = Set(numbers + strings + instants)

    /// The JSON Schema of `/queryables` (OGC API Features part 3).
    static func schema(id: String) -> JSONValue {
        var properties = JSONObject()
        properties["id"] = .object(["description": "the record's id", "type": "string"])
        properties["collection"] = .object(["description": "the collection's id", "type": "string"])
        properties["geometry"] = .object([
            "description": "the footprint", "$ref": "https://geojson.org/schema/Geometry.json",
        ])
        properties["datetime"] = .object([
            "description": "acquisition time (the range of start_datetime and end_datetime when it has one)",
            "type": "string", "format": "date-time",
        ])
        properties["start_datetime"] = .object(["type": "string", "format": "date-time"])
        properties["end_datetime"] = .object(["type": "string", "format": "date-time"])
        for name in numbers { properties[name] = .object(["type": "number"]) }
        for name in strings { properties[name] = .object(["type": "string"]) }
        for name in instants { properties[name] = .object(["type": "string", "format": "date-time"]) }
        return .object([
            "$schema": "https://json-schema.org/draft/2019-09/schema", "$id": .string(id), "type": "object",
            "title": "Queryables", "properties": .object(properties), "additionalProperties": .bool(true),
        ])
    }
}
