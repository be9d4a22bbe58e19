import BenchSupport
import EOShare
import EOShareFeedGeneration
import EOShareServe
import Foundation
import Logging

/// Item Search over N records (bbox + datetime, limit 100) with wrk: requests/s and p99
/// latency of `eoshare serve` for the owner (sees every record), a member with a grant and
/// the public (both filtered by the embargo at each request), on the SQLite state and then on
/// the same state migrated into PostgreSQL (a private PostgreSQL 15 cluster). With
/// EOSHARE_BENCH_PEER_PYTHON (a Python with stac-fastapi-pgstac, pypgstac and uvicorn) and
/// PostGIS, the same items and the same search on stac-fastapi-pgstac in that cluster, as a ratio.
@main
struct ServeBench {
    static let query = "bbox=-10,35,30,60&datetime=2026-03-01T00:00:00Z/2026-06-30T23:59:59Z&limit=100"
    static let seconds = Int(ProcessInfo.processInfo.environment["EOSHARE_BENCH_SECONDS"] ?? "") ?? 20
    static let connections = 16

    static func main() async throws {
        // `serve-bench serve FOLDER PORT`: only the server, on a folder an earlier run ingested.
        let args = CommandLine.arguments
        if args.count == 4, args[1] == "serve", let port = Int(args[3]) {
            let served = try ServedPipeline(file: URL(fileURLWithPath: args[2]).appendingPathComponent("serve.yml"))
            try await STACServer.run(
                served: served,
                options: .init(host: "127.0.0.1", port: port, at: Timestamp.parse("2026-11-21T00:00:00Z")!),
                accessLog: { _ in },
                onRunning: { say("listening on \($0)") }
            )
            return
        }
        let count = Int(ProcessInfo.processInfo.environment["EOSHARE_BENCH_RECORDS"] ?? "") ?? 100_000
        // EOSHARE_BENCH_FOLDER: measure a folder an earlier run ingested (kept afterwards).
        let reused = ProcessInfo.processInfo.environment["EOSHARE_BENCH_FOLDER"].map { URL(fileURLWithPath: $0) }
        let root =
            reused ?? FileManager.default.temporaryDirectory.appendingPathComponent("serve-bench-\(getpid())")
        defer { if reused == nil { try? FileManager.default.removeItem(at: root) } }
        let tokens = ["NASA": "bench-nasa", "ESA": "bench-esa"]
        let file = root.appendingPathComponent("serve.yml")
        if reused == nil {
            var generator = LandsatFeedGenerator(start: Timestamp.parse("2026-01-01T00:00:00Z")!)
            generator.days = 300
            try generator.write(count: count, to: root.appendingPathComponent("feed"))
            try Data(
                tokens.map { "\($0.key) \(Digest.sha256Hex(Array($0.value.utf8)))" }.joined(separator: "\n").utf8
            )
            .write(to: root.appendingPathComponent("tokens"))
            try Data(
                """
                version: 1
                members: [{id: NASA}, {id: ESA}]
                collections: [{id: landsat-c2-l2, title: Landsat Collection 2 Level-2}]
                sources: [{id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: feed/}]
                serve: {tokens: tokens}
                embargo:
                  rules: [{match: {owner: NASA}, clock: acquired, period: P1Y, grants: {ESA: P180D}, public: P2Y}]
                """.utf8
            ).write(to: file)
        }
        let p = try Pipeline.load(from: file)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let at = Timestamp.parse("2026-11-21T00:00:00Z")!
        if reused == nil {
            let t0 = Date()
            let ingest = try await IngestRun(pipeline: p, at: at, logger: logger).run()
            say(String(format: "setup: ingested %d records in %.1f s", ingest.records, Date().timeIntervalSince(t0)))
            sync()
        }

        var ours: [(String, Wrk.Result)] = []
        Memory.resetPeak()
        let before = Memory.currentRSS()
        if let r = try await measure(file, label: "eoshare serve, SQLite state", at: at, count: count, tokens: tokens) {
            ours.append(("eoshare (SQLite)", r))
        }
        say(
            String(
                format: "  resident memory: %.0f MB before, peak %.0f MB",
                Double(before) / 1e6,
                Double(Memory.peakRSS()) / 1e6
            )
        )

        // One private PostgreSQL cluster: eoshare's state migrated into it, and pgstac beside it.
        let cluster: PrivateCluster
        do { cluster = try await startCluster(root.appendingPathComponent("postgres")) } catch {
            say("PostgreSQL: not run (\(error))")
            return
        }
        defer { cluster.stop() }
        do {
            try cluster.createDatabase("eoshare")
            let t1 = Date()
            let target = try PostgresStateURL.parse(cluster.url("eoshare") + "?sslmode=disable")
            let copied = try await migrate(p, to: target)
            let seconds = String(format: "%.1f", Date().timeIntervalSince(t1))
            say("setup: migrated to PostgreSQL in \(seconds) s (\(copied))")
            let pgFile = root.appendingPathComponent("serve-postgresql.yml")
            let yaml = try String(contentsOf: file, encoding: .utf8)
            try Data(("state: \(target)\nspool: spool/\n" + yaml).utf8).write(to: pgFile)
            if let r = try await measure(
                pgFile,
                label: "eoshare serve, PostgreSQL state",
                at: at,
                count: count,
                tokens: tokens
            ) {
                ours.append(("eoshare (PostgreSQL)", r))
            }
        } catch {
            say("eoshare on PostgreSQL: failed: \(error)")
        }

        guard let python = ProcessInfo.processInfo.environment["EOSHARE_BENCH_PEER_PYTHON"] else {
            say(
                "peer: not run (set EOSHARE_BENCH_PEER_PYTHON to a Python with stac-fastapi-pgstac, pypgstac, uvicorn)"
            )
            return
        }
        do {
            let peer = try await PgSTACPeer.run(python: python, state: p, root: root, cluster: cluster)
            say("stac-fastapi-pgstac (PostgreSQL 15 + PostGIS, same items, same search, no embargo):")
            say("  all items: \(peer)")
            for (name, r) in ours {
                say(
                    "ratio \(name) NASA / stac-fastapi-pgstac: "
                        + String(
                            format: "%.2f× requests/s, p99 %.1f ms vs %.1f ms",
                            r.requestsPerSecond / peer.requestsPerSecond,
                            r.p99Milliseconds,
                            peer.p99Milliseconds
                        )
                )
            }
        } catch {
            say("peer: failed: \(error)")
        }
    }

    /// Off the main thread, where the cluster's commands may block.
    nonisolated static func startCluster(_ folder: URL) async throws -> PrivateCluster {
        try PrivateCluster.start(in: folder)
    }

    /// The SQLite state copied into the empty database at `target`, as `eoshare migrate` does.
    nonisolated static func migrate(_ p: Pipeline, to target: PostgresStateURL) async throws -> String {
        guard let sqlite = try SQLiteStateStore.existing(at: p.statePath) else { fatalError("no state") }
        let store = try await PostgresStateStore.open(target)
        let copied = try await StateMigration.copy(from: sqlite, ledgerFile: p.ledgerPath, to: store) {
            try await Ledger.flush(state: sqlite, to: p.ledgerPath)
        }
        await store.close()
        return copied.summary
    }

    /// The server on `file`'s pipeline in this process, and wrk per viewer; the owner's result.
    static func measure(
        _ file: URL,
        label: String,
        at: Date,
        count: Int,
        tokens: [String: String]
    ) async throws -> Wrk.Result? {
        let served = try ServedPipeline(file: file)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = Task.detached {
            do {
                try await STACServer.run(
                    served: served,
                    options: .init(host: "127.0.0.1", port: 0, at: at),
                    accessLog: { _ in },
                    handleSignals: false,
                    onRunning: { continuation.yield($0) }
                )
            } catch {
                FileHandle.standardError.write(Data("the server stopped: \(error)\n".utf8))
            }
            continuation.finish()
        }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { fatalError("the server did not start") }
        say(
            "\(label) (in this process, --at \(Timestamp.format(at))), \(count) records, \(connections) connections, \(seconds) s each:"
        )
        var owner: Wrk.Result?
        for (viewer, token) in [("NASA", tokens["NASA"]), ("ESA", tokens["ESA"]), ("public", nil)] {
            let url = "http://127.0.0.1:\(port)/\(viewer)/search?\(query)"
            let returned = try Wrk.features(url, token: token)
            let r = try Wrk.run(url, token: token)
            if viewer == "NASA" { owner = r }
            say("  \(viewer): \(r) (\(returned) features a page)")
        }
        server.cancel()
        _ = try? await server.value
        return owner
    }
}

/// A line on stdout at once, unbuffered (a redirected stdout would keep it until the end).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// wrk (Debian's) over loopback, its summary read back.
enum Wrk {
    struct Result: CustomStringConvertible {
        var requestsPerSecond: Double
        var p99Milliseconds: Double
        var p50Milliseconds: Double
        var errors: String?
        var description: String {
            String(
                format: "%.0f requests/s, p50 %.1f ms, p99 %.1f ms",
                requestsPerSecond,
                p50Milliseconds,
                p99Milliseconds
            )
                + (errors.map { ", \($0)" } ?? "")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func features(_ url: String, token: String?) throws -> Int {
        var args = ["-s", url]
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        let out = try Shell.run("/usr/bin/curl", args)
        let json = try JSONValue.parse(Array(out.utf8))
        guard let features = json["features"]?.arrayValue else {
            throw Failure(description: "not a search answer: \(out.prefix(300))")
        }
        return features.count
    }

    static func run(_ url: String, token: String?) throws -> Result {
        var args = ["-t2", "-c\(ServeBench.connections)", "-d\(ServeBench.seconds)s", "--latency"]
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        let out = try Shell.run("/usr/bin/wrk", args + [url])
        func value(_ prefix: String) -> String? {
            out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { $0.hasPrefix(prefix) }
                .map { String($0.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces) }
        }
        func milliseconds(_ s: String?) -> Double {
            guard let s else { return .nan }
            if s.hasSuffix("ms") { return Double(s.dropLast(2)) ?? .nan }
            if s.hasSuffix("us") { return (Double(s.dropLast(2)) ?? .nan) / 1000 }
            if s.hasSuffix("s") { return (Double(s.dropLast(1)) ?? .nan) * 1000 }
            return .nan
        }
        guard let rps = value("Requests/sec:").flatMap(Double.init) else {
            throw Failure(description: "wrk said: \(out)")
        }
        let non2xx = value("Non-2xx or 3xx responses:")
        return Result(
            requestsPerSecond: rps,
            p99Milliseconds: milliseconds(value("99%")),
            p50Milliseconds: milliseconds(value("50%")),
            errors: non2xx.map { "\($0) non-2xx answers" }
        )
    }
}

enum Shell {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> String
    {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe()
        p.standardOutput = out
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errFile) }
        p.standardError = try FileHandle(forWritingTo: errFile)
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let err = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
            throw Failure(
                description:
                    "\(executable) \(arguments.prefix(3).joined(separator: " ")) exited \(p.terminationStatus): \(err.suffix(1500))"
            )
        }
        return String(decoding: data, as: UTF8.self)
    }
}
