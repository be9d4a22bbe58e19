import EOShare
import EOShareFeedGeneration
import EOShareServe
import Foundation
import Logging
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A pipeline ingested for real (generated Landsat records owned by NASA, a policy with a
/// grant, a period, a public delay, an early release and a hold), and `eoshare serve`'s
/// application started in-process on a free 127.0.0.1 port, at a fixed instant.
enum ServeHarness {
    static let ingestAt = Timestamp.parse("2026-11-21T12:00:00Z")!
    static let tokens = ["NASA": "nasa-token-7f3a", "ESA": "esa-token-19bc", "JAXA": "jaxa-token-c0de"]
    static let holdUntil = Timestamp.parse("2026-12-01T00:00:00Z")!
    static let releaseAt = Timestamp.parse("2026-09-02T00:00:00Z")!
    static let releaseBox: [Double] = [-60, -30, 60, 30]

    static func policy(holdPattern: String = "LC09_*_2026*") -> String {
        """
        embargo:
          rules:
            - match: {owner: NASA}
              clock: acquired
              period: P90D
              grants: {ESA: P30D}
              public: P1Y
          releases:
            - {id: charter, effective: 2026-09-02T00:00:00Z, bbox: [-60, -30, 60, 30], to: [JAXA]}
          holds:
            - {id: review, records: ["\(holdPattern)"], until: 2026-12-01T00:00:00Z}
        """
    }

    /// The state a served pipeline keeps: the serve tests run on both.
    enum Store: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sqlite, postgresql
        var testDescription: String { rawValue }
    }

    /// SQLite always; PostgreSQL wherever the test cluster is (always under CI, where its
    /// absence fails the tests rather than skipping them).
    static let stores: [Store] = TestPostgres.enabled ? [.sqlite, .postgresql] : [.sqlite]

    /// The pipeline folder, ingested once per process (tests only read it, or copy it).
    static let ingested: Task<URL, Error> = Task { try await makePipeline(.sqlite) }
    /// The same records ingested into a PostgreSQL state (a database of its own).
    static let ingestedPostgres: Task<URL, Error> = Task { try await makePipeline(.postgresql) }

    static func ingested(_ store: Store) async throws -> URL {
        switch store {
        case .sqlite: return try await ingested.value
        case .postgresql: return try await ingestedPostgres.value
        }
    }

    static func makePipeline(_ store: Store) async throws -> URL {
        let folder = RepoPaths.temporaryFolder("serve")
        if store == .postgresql {
            let url = try await TestPostgres.freshDatabase("serve")
            try Data("state: \(url)\nspool: spool/\n".utf8).write(to: folder.appendingPathComponent("serve.yml"))
        }
        var g = LandsatFeedGenerator(start: Timestamp.parse("2025-06-01T00:00:00Z")!)
        g.seed = 7
        g.days = 530
        g.processedWithin = 5
        try g.write(count: 60, to: folder.appendingPathComponent("feed"))
        let lines = tokens.sorted { $0.key < $1.key }.map { "\($0.key) \(Digest.sha256Hex(Array($0.value.utf8)))" }
        try Data(("# member tokens, hashed\n" + lines.joined(separator: "\n") + "\n").utf8)
            .write(to: folder.appendingPathComponent("api-tokens"))
        try writePipeline(folder)
        let p = try Pipeline.load(from: folder.appendingPathComponent("serve.yml"))
        let s = try await IngestRun(pipeline: p, at: ingestAt, logger: Logger(label: "test")).run()
        #expect(s.records == 60 && s.quarantined == 0)
        return folder
    }

    /// Writes `serve.yml`, keeping the `state:` and `spool:` lines a PostgreSQL pipeline has.
    static func writePipeline(_ folder: URL, policy: String = policy()) throws {
        let file = folder.appendingPathComponent("serve.yml")
        let kept = ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n")
            .filter { $0.hasPrefix("state:") || $0.hasPrefix("spool:") }.map { $0 + "\n" }.joined()
        let yaml =
            kept + """
                version: 1
                members: [{id: NASA}, {id: ESA}, {id: JAXA}]
                collections: [{id: landsat-c2-l2, title: Landsat}]
                sources: [{id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: feed/}]
                serve: {tokens: api-tokens}
                \(policy)
                """
        try Data(yaml.utf8).write(to: file)
    }

    /// A running server; `stop()` ends it.
    struct Running {
        var port: Int
        var task: Task<Void, Error>
        var base: String { "http://127.0.0.1:\(port)" }
        func stop() async {
            task.cancel()
            _ = try? await task.value
        }
    }

    static func start(
        _ folder: URL,
        at: Date?,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> Running {
        let served = try ServedPipeline(file: folder.appendingPathComponent("serve.yml"))
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task {
            try await STACServer.run(
                served: served,
                options: .init(host: "127.0.0.1", port: 0, at: at),
                accessLog: log,
                handleSignals: false,
                onRunning: { continuation.yield($0) }
            )
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ServeTestError(description: "the server did not start") }
        return Running(port: port, task: task)
    }

    struct ServeTestError: Error, CustomStringConvertible {
        var description: String
    }

    /// One HTTP exchange: status, headers (lowercased names) and body.
    static func get(
        _ url: String,
        token: String? = nil,
        method: String = "GET",
        body: [UInt8]? = nil,
        headers: [String: String] = [:]
    ) async throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        if let body {
            request.httpBody = Data(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (k, v) in http.allHeaderFields {
            if let k = k as? String, let v = v as? String { fields[k.lowercased()] = v }
        }
        return (http.statusCode, fields, [UInt8](data))
    }

    static func json(_ bytes: [UInt8]) throws -> JSONValue { try JSONValue.parse(bytes) }

    /// Every record of the state, with the facts the oracle needs.
    static func subjects(_ folder: URL) async throws -> [EmbargoSubject] {
        let p = try Pipeline.load(from: folder.appendingPathComponent("serve.yml"))
        guard let state = try await existingState(p) else { return [] }
        var out: [EmbargoSubject] = []
        try await state.forEachSubject { out.append($0) }
        return out
    }

    /// Runs a peer script from the venv with its arguments; its stdout lines as JSON.
    static func peer(_ script: String, _ arguments: [String]) async -> [JSONValue] {
        (try? await blocking { PeerTools.run(script, arguments) }) ?? []
    }

    /// Runs blocking work (waiting for a process) on a thread of its own: the in-process
    /// server answers on Swift's cooperative pool, which on two cores has two threads, and a
    /// test that blocked them while waiting for a client of that server would wait forever.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}
