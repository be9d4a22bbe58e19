import EOShare
import Foundation

/// stac-fastapi-pgstac on PostgreSQL 15 with PostGIS, serving the items of the same state:
/// a database of the benchmark's private cluster, pgstac's schema by `pypgstac migrate`, the
/// items by `pypgstac load`, the API by uvicorn with one worker per core, stopped at the end.
enum PgSTACPeer {
    static func run(python: String, state p: Pipeline, root: URL, cluster: PrivateCluster) async throws -> Wrk.Result {
        let folder = root.appendingPathComponent("pgstac")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // The items as pgstac loads them: one JSON object a line, with their collection.
        let itemsFile = folder.appendingPathComponent("items.ndjson")
        FileManager.default.createFile(atPath: itemsFile.path, contents: nil)
        let out = try FileHandle(forWritingTo: itemsFile)
        guard let store = try await existingState(p) else { throw Shell.Failure(description: "no state") }
        var written = 0
        try await store.forEachRecord { r in
            guard case .object(var o) = try JSONValue.parse(r.item) else { return }
            o["collection"] = .string(r.subject.collection)
            o["links"] = .array([])
            try out.write(contentsOf: Data(JSONValue.object(o).serialized(pretty: false) + [0x0A]))
            written += 1
        }
        try out.close()
        let collection: JSONValue = .object([
            "type": "Collection", "stac_version": "1.1.0", "id": "landsat-c2-l2", "description": "Landsat",
            "license": "proprietary",
            "extent": .object([
                "spatial": .object(["bbox": .array([.array([-180, -90, 180, 90].map(JSONValue.number))])]),
                "temporal": .object(["interval": .array([.array([.string("2026-01-01T00:00:00Z"), .null])])]),
            ]),
            "links": .array([]),
        ])
        try Data(collection.serialized()).write(to: folder.appendingPathComponent("collection.json"))

        try cluster.createDatabase("pgstac")
        let port = cluster.port
        let dsn = cluster.url("pgstac")
        let pypgstac = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("pypgstac").path
        let t0 = Date()
        try Shell.run(pypgstac, ["migrate", "--dsn", dsn])
        try Shell.run(
            pypgstac,
            [
                "load", "collections", folder.appendingPathComponent("collection.json").path, "--dsn", dsn, "--method",
                "upsert",
            ]
        )
        try Shell.run(pypgstac, ["load", "items", itemsFile.path, "--dsn", dsn, "--method", "upsert"])
        say(
            String(
                format: "peer setup: pgstac migrated and %d items loaded in %.1f s",
                written,
                Date().timeIntervalSince(t0)
            )
        )

        let apiPort = freePort()
        let env = [
            "PGUSER": "postgres", "PGPASSWORD": "", "PGHOST": "127.0.0.1", "PGPORT": String(port),
            "PGDATABASE": "pgstac",
            "POSTGRES_USER": "postgres", "POSTGRES_PASS": "", "POSTGRES_HOST_READER": "127.0.0.1",
            "POSTGRES_HOST_WRITER": "127.0.0.1", "POSTGRES_PORT": String(port), "POSTGRES_DBNAME": "pgstac",
            "DB_MIN_CONN_SIZE": "4", "DB_MAX_CONN_SIZE": "16",
        ]
        let uvicorn = Process()
        uvicorn.executableURL = URL(fileURLWithPath: python)
        uvicorn.arguments = [
            "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory", "--host", "127.0.0.1", "--port",
            String(apiPort),
            "--workers", "2", "--log-level", "warning", "--no-access-log",
        ]
        uvicorn.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        uvicorn.standardOutput = FileHandle.nullDevice
        uvicorn.standardError = try FileHandle(
            forWritingTo: {
                let log = folder.appendingPathComponent("uvicorn.log")
                FileManager.default.createFile(atPath: log.path, contents: nil)
                return log
            }()
        )
        try uvicorn.run()
        defer {
            uvicorn.terminate()
            uvicorn.waitUntilExit()
        }
        let url = "http://127.0.0.1:\(apiPort)/search?collections=landsat-c2-l2&\(ServeBench.query)"
        var ready = false
        for _ in 0..<120 where !ready {
            try await Task.sleep(for: .milliseconds(500))
            ready = (try? Wrk.features(url, token: nil)) != nil
        }
        guard ready else {
            let log = (try? String(contentsOf: folder.appendingPathComponent("uvicorn.log"), encoding: .utf8)) ?? ""
            throw Shell.Failure(description: "stac-fastapi-pgstac did not answer: \(log.suffix(1500))")
        }
        let returned = try Wrk.features(url, token: nil)
        say("peer: \(returned) features a page")
        return try Wrk.run(url, token: nil)
    }

    /// A port nothing listens on now (bound to port 0, then released).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
