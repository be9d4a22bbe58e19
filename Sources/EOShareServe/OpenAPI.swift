import EOShare

/// The service description the landing page's `service-desc` names: the API's paths, so
/// generic clients and the validator know what is offered.
enum OpenAPI {
    static func document(root: String) -> JSONValue {
        func operation(_ summary: String, _ type: String, parameters: [String] = []) -> JSONValue {
            .object([
                "summary": .string(summary),
                "parameters": .array(
                    parameters.map { name in
                        .object([
                            "name": .string(name), "in": "query", "required": .bool(false),
                            "schema": .object(["type": "string"]),
                        ])
                    }
                ),
                "responses": .object([
                    "200": .object(["description": "OK", "content": .object([type: .object([:])])]),
                    "401": .object(["description": "a member's endpoint without that member's bearer token"]),
                ]),
            ])
        }
        func itemParameter(_ name: String) -> JSONValue {
            .object([
                "name": .string(name), "in": "path", "required": .bool(true), "schema": .object(["type": "string"]),
            ])
        }
        let search = [
            "bbox", "intersects", "datetime", "ids", "collections", "limit", "sortby", "filter", "filter-lang", "token",
        ]
        var paths = JSONObject()
        paths["/"] = .object(["get": operation("landing page", "application/json")])
        paths["/conformance"] = .object(["get": operation("conformance classes", "application/json")])
        paths["/queryables"] = .object(["get": operation("queryable properties", "application/schema+json")])
        paths["/collections"] = .object(["get": operation("collections", "application/json")])
        paths["/collections/{collectionId}"] = .object([
            "get": operation("a collection", "application/json"), "parameters": .array([itemParameter("collectionId")]),
        ])
        paths["/collections/{collectionId}/items"] = .object([
            "get": operation("the collection's items", "application/geo+json", parameters: search),
            "parameters": .array([itemParameter("collectionId")]),
        ])
        paths["/collections/{collectionId}/items/{itemId}"] = .object([
            "get": operation("an item", "application/geo+json"),
            "parameters": .array([itemParameter("collectionId"), itemParameter("itemId")]),
        ])
        paths["/search"] = .object([
            "get": operation("item search", "application/geo+json", parameters: search),
            "post": operation("item search", "application/geo+json"),
        ])
        return .object([
            "openapi": "3.0.3",
            "info": .object(["title": "eoshare STAC API", "version": .string(EOShareVersion.current)]),
            "servers": .array([.object(["url": .string(root)])]),
            "components": .object([
                "securitySchemes": .object(["bearer": .object(["type": "http", "scheme": "bearer"])])
            ]),
            "paths": .object(paths),
        ])
    }
}
