import Foundation
import Synchronization
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOShareEmbargo
@testable import EOShareFeedGeneration
@testable import EOShareState

/// CONTRACT §7 with real processes: several `eoshare ingest` of one pipeline over one
/// PostgreSQL state at once, over a feed served by the tests' HTTP server with faults, some of
/// them killed, cut off from the database or paused past their lease. Whatever happens, the
/// trees end equal to a single SQLite process's, each publication has exactly one ledger
/// line, the audit passes, and an observer polling the trees while the workers run never
/// sees an item where it may not be.
@Suite(.enabled(if: TestPostgres.enabled), .serialized) struct ScaleOutTests {
    static let at = "2026-11-21T12:00:00Z"
    /// Records in the four workers' feed, as the issue asks (about 80 s on a quiet 2-core
    /// machine, the SQLite reference included; `EOSHARE_SCALEOUT_RECORDS` changes it).
    static let records = Int(ProcessInfo.processInfo.environment["EOSHARE_SCALEOUT_RECORDS"] ?? "") ?? 2000
    /// Records in the feeds of the partition, pause and network tests, which look at one
    /// worker's fate rather than at volume.
    static let fewer = 400

    /// A feed served over HTTP, a SQLite pipeline (the reference) and a PostgreSQL one.
    struct Hub {
        let folder: URL
        let server: TestHTTPServer
        let names: [String]
        let database: PostgresStateURL
        /// Where the pipelines read the feed: over HTTP, or the folder itself (shared storage).
        var feed: String
        /// Holds added to the embargo (a YAML line), for a second phase.
        var holds = ""

        init(_ name: String = #function, records: Int) async throws {
            folder = RepoPaths.temporaryFolder(name)
            var generator = LandsatFeedGenerator(start: Timestamp.parse("2026-01-01T00:00:00Z")!)
            generator.seed = 23
            generator.gzip = true
            generator.days = 320
            names = try generator.write(count: records, to: folder.appendingPathComponent("www/feed"))
            server = try TestHTTPServer(root: folder.appendingPathComponent("www"))
            database = try await TestPostgres.freshDatabase("scale")
            feed = server.url("/feed/").absoluteString
        }

        /// Transient faults on every seventh object, each retried and then served whole.
        func injectFaults() {
            let faults: [TestHTTPServer.Fault] = [
                .status(503), .resetAfter(bytes: 200), .status(429, retryAfter: 0), .truncate(bytes: 100),
            ]
            for (n, name) in names.enumerated() where n % 7 == 0 {
                server.inject(path: "/feed/\(name)", faults: [faults[(n / 7) % faults.count]])
            }
        }

        func pipeline(_ label: String, state: String, file name: String = "p.yml") throws -> URL {
            let yaml = """
                version: 1
                state: \(state)
                spool: spool/
                shared: shared/
                members: [{id: NASA}, {id: ESA}, {id: JAXA}]
                collections: [{id: landsat-c2-l2}]
                sources:
                  - {id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: "\(feed)"}
                limits: {fetch_workers: 4, retries: 5}
                embargo:
                  rules: [{match: {owner: NASA}, clock: acquired, period: P60D, grants: {ESA: P20D}, public: P1Y}]
                \(holds)
                """
            let folder = self.folder.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let file = folder.appendingPathComponent(name)
            try Data(yaml.utf8).write(to: file)
            return file
        }

        var reference: URL { folder.appendingPathComponent("sqlite") }
        var postgres: URL { folder.appendingPathComponent("postgres") }

        /// The single SQLite process's run, the trees every scale-out run must end equal to.
        func runReference() async throws -> ScaleOutTests.Ledger {
            injectFaults()
            let file = try pipeline("sqlite", state: "state/ref.sqlite")
            let run = try await ScaleOutTests.eoshare(["ingest", file.path, "--at", ScaleOutTests.at])
            #expect(run.status == 0, "\(run.stderr)")
            let text = try String(contentsOf: reference.appendingPathComponent("state/ledger.jsonl"), encoding: .utf8)
            return ScaleOutTests.Ledger(text)
        }

        func postgresPipeline() throws -> URL { try pipeline("postgres", state: "\(database)") }

        /// The SQLite reference run, then `count` workers over the PostgreSQL pipeline on the
        /// feed with faults again, watched by an observer.
        func startWorkers(_ count: Int) async throws -> (ScaleOutTests.Ledger, TreeObserver, [Process]) {
            let reference = try await runReference()
            injectFaults()
            let file = try postgresPipeline()
            let observer = try TreeObserver(shared: postgres.appendingPathComponent("shared"), pipeline: file)
            return (reference, observer, try (0..<count).map { try start(file, worker: $0) })
        }

        /// Environment of a worker: the password, and a short lease so that work returns quickly.
        var environment: [String: String] {
            var env = ProcessInfo.processInfo.environment.merging(TestPostgres.passwordEnvironment) { $1 }
            env["EOSHARE_WORK_LEASE_SECONDS"] = "2"
            return env
        }

        /// Worker `n`: on this machine, or on host `h` of `hosts`.
        func start(
            _ file: URL,
            worker n: Int,
            on hosts: NetworkHosts? = nil,
            _ h: Int = 0,
            at: String = ScaleOutTests.at
        ) throws -> Process {
            let arguments = ["ingest", file.path, "--at", at, "-v"]
            let p: Process
            if let hosts {
                p = hosts.process(in: h, RepoPaths.executable("eoshare"), arguments)
            } else {
                p = Process()
                p.executableURL = RepoPaths.executable("eoshare")
                p.arguments = arguments
            }
            p.environment = environment
            for name in ["worker\(n).log", "worker\(n).out"] {
                FileManager.default.createFile(atPath: folder.appendingPathComponent(name).path, contents: nil)
            }
            p.standardOutput = try FileHandle(forWritingTo: folder.appendingPathComponent("worker\(n).out"))
            p.standardError = try FileHandle(forWritingTo: folder.appendingPathComponent("worker\(n).log"))
            try p.run()
            return p
        }

        func log(_ n: Int) -> String {
            (try? String(contentsOf: folder.appendingPathComponent("worker\(n).log"), encoding: .utf8)) ?? ""
        }

        /// How many open objects a worker process holds claims on.
        func claimsHeld(by worker: Process) async throws -> Int {
            let pid = worker.processIdentifier
            return
                (try? await TestPostgres.query(
                    database,
                    "SELECT count(*) FROM work w JOIN workers k ON k.id = w.claimed_by WHERE k.pid = \(pid) AND w.done_at IS NULL"
                )[0].decode(Int.self)) ?? 0
        }

        /// How long the ledger is now (0 until the first worker made the schema).
        func ledgerLines() async throws -> Int {
            (try? await TestPostgres.query(database, "SELECT count(*) FROM ledger")[0].decode(Int.self)) ?? 0
        }

        /// One more run after the others, then every check of the suite's promise.
        func finishAndCheck(reference expectedLedger: ScaleOutTests.Ledger, observer: TreeObserver) async throws {
            let file = try postgresPipeline()
            // The one more run comes once the killed workers are seen gone (no heartbeat for a
            // lease), as the next cron slot would: it then finishes what they left.
            while try await TestPostgres.query(
                database,
                "SELECT count(*) FROM workers WHERE heartbeat_at > now() - interval '2.5 seconds'"
            )[0].decode(Int.self) > 0 {
                try await Task.sleep(for: .milliseconds(100))
            }
            let last = try await ScaleOutTests.eoshare(
                ["ingest", file.path, "--at", ScaleOutTests.at],
                environment: environment
            )
            #expect(last.status == 0, "\(last.stderr)")
            let seen = await observer.stop()
            #expect(seen.problems.isEmpty, "the observer saw: \(seen.problems.prefix(5))")
            #expect(seen.polls > 0)

            // The trees equal the SQLite process's, file by file, byte for byte (the items carry
            // the same instant: `consortium:ingested` is the run's `--at`).
            let trees = try CrashSafetyTests.tree(postgres.appendingPathComponent("shared"))
            let expected = try CrashSafetyTests.tree(reference.appendingPathComponent("shared"))
            #expect(trees.count == expected.count && trees.count > names.count)
            let differing = Set(trees.keys).union(expected.keys).filter { trees[$0] != expected[$0] }.sorted()
            #expect(differing.isEmpty, "\(differing.count) files differ: \(differing.prefix(5))")

            // Exactly one ledger line per publication: the same events as the reference's.
            let ledger = try await ScaleOutTests.eoshare(["ledger", file.path, "--verify"], environment: environment)
            #expect(ledger.status == 0, "\(ledger.stdout)\(ledger.stderr)")
            let lines = ScaleOutTests.Ledger(
                try await ScaleOutTests.eoshare(["ledger", file.path], environment: environment).stdout
            )
            #expect(lines.duplicates.isEmpty, "published twice: \(lines.duplicates.prefix(5))")
            #expect(lines.events == expectedLedger.events)

            let audit = try await ScaleOutTests.eoshare(
                ["audit", file.path, "--at", ScaleOutTests.at],
                environment: environment
            )
            #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
            // No work is left open.
            let open = try await TestPostgres.query(database, "SELECT count(*) FROM work WHERE done_at IS NULL")
            #expect(try open[0].decode(Int.self) == 0)
        }
    }

    /// `eoshare` run to its end on a thread of its own: waiting for it on the tests' few
    /// concurrency threads would starve the other tests' polls (a kill switch that never
    /// fires in time on a 2-core machine).
    static func eoshare(
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws -> CommandLineTests.Result {
        try await withCheckedThrowingContinuation { done in
            Thread { done.resume(with: Result { try OperatorTests.run(arguments, environment: environment) }) }.start()
        }
    }

    /// Ledger lines as events without their chain (`prev`), sorted; and those seen twice.
    struct Ledger {
        var events: [String]
        var duplicates: [String]

        init(_ text: String) {
            events = text.split(separator: "\n").map { String($0.split(separator: ",\"prev\":")[0]) }.sorted()
            var seen = Set<String>()
            duplicates = events.filter { !seen.insert($0).inserted }
        }
    }

    /// Polls the trees while workers run, judging every item and catalog link against the
    /// embargo at the run's instant (the test's own oracle, `TrustUnderFaultsTests.forbidden`).
    /// It reads on a thread of its own, off the tests' concurrency threads.
    final class TreeObserver: Sendable {
        let stopping = Atomic<Bool>(false)
        let result = Mutex<(problems: [String], polls: Int)?>(nil)

        init(shared: URL, pipeline: URL) throws {
            let loaded = try Pipeline.load(from: pipeline)
            let at = Timestamp.parse(ScaleOutTests.at)!
            Thread { [self] in
                var problems: [String] = []
                var polls = 0
                while !stopping.load(ordering: .relaxed) {
                    problems += (try? TrustUnderFaultsTests.forbidden(shared: shared, pipeline: loaded, at: at)) ?? []
                    polls += 1
                }
                result.withLock { $0 = (problems, polls) }
            }.start()
        }

        func stop() async -> (problems: [String], polls: Int) {
            stopping.store(true, ordering: .relaxed)
            while true {
                if let done = result.withLock({ $0 }) { return done }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Waits until every process has ended, acting on each poll (the tests' kill switches).
    static func waitAll(_ processes: [Process], each poll: () async throws -> Void = {}) async throws {
        while processes.contains(where: \.isRunning) {
            try await poll()
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func fourWorkersTwoKilledThenOneMoreRunEqualASingleSQLiteProcess() async throws {
        let hub = try await Hub(records: Self.records)
        defer { hub.server.stop() }
        let (reference, observer, workers) = try await hub.startWorkers(4)
        // Two of them die by SIGKILL at random moments: when the ledger reaches a random length.
        let publications = reference.events.count
        var killAt = [Int.random(in: publications / 20...publications / 3), Int.random(in: 1...publications / 2)]
        var killed: [Int32] = []
        try await Self.waitAll(workers) {
            guard let next = killAt.first, try await hub.ledgerLines() >= next else { return }
            killAt.removeFirst()
            let victim = workers[killed.count]
            if victim.isRunning {
                kill(victim.processIdentifier, SIGKILL)
                killed.append(victim.processIdentifier)
            }
        }
        // The others cooperated: none exited 75, each finished its share.
        for (n, w) in workers.enumerated().dropFirst(killed.count) {
            #expect(w.terminationStatus == 0, "worker \(n): \(hub.log(n).suffix(2000))")
        }
        try await hub.finishAndCheck(reference: reference, observer: observer)
        // The killed workers' runs are marked died, not left running.
        let running = try await TestPostgres.query(hub.database, "SELECT count(*) FROM runs WHERE status = 'running'")
        #expect(try running[0].decode(Int.self) == 0)
    }

    /// Workers on two other hosts (network namespaces joined to this machine by veth links):
    /// they reach the database over the network only, never over loopback, and share the run
    /// with a worker on this machine. The feed is on shared storage, as on a real cluster.
    @Test func workersOnOtherHostsShareTheRunOverTheNetwork() async throws {
        var hub = try await Hub(records: Self.fewer / 2)
        defer { hub.server.stop() }
        hub.feed = hub.folder.appendingPathComponent("www/feed").path + "/"
        let reference = try await hub.runReference()
        let hosts = try NetworkHosts(count: 2)
        defer { hosts.remove() }
        let local = try hub.postgresPipeline()
        let observer = try TreeObserver(shared: hub.postgres.appendingPathComponent("shared"), pipeline: local)
        // Each host names the database by this machine's address on its own link.
        var files: [URL] = []
        for address in hosts.machineAddresses {
            var url = hub.database
            url.host = address
            files.append(try hub.pipeline("postgres", state: "\(url)", file: "p-\(address).yml"))
        }
        let workers = [
            try hub.start(files[0], worker: 0, on: hosts, 0), try hub.start(files[1], worker: 1, on: hosts, 1),
            try hub.start(local, worker: 2),
        ]
        try await Self.waitAll(workers)
        for (n, w) in workers.enumerated() {
            #expect(w.terminationStatus == 0, "worker \(n): \(hub.log(n).suffix(2000))")
        }
        // Those hosts reach the database only over their link: by loopback, they find none.
        let isolated = hosts.process(in: 0, RepoPaths.executable("eoshare"), ["status", local.path])
        isolated.environment = hub.environment
        isolated.standardOutput = FileHandle.nullDevice
        isolated.standardError = FileHandle.nullDevice
        try isolated.run()
        try await Self.waitAll([isolated])
        #expect(isolated.terminationStatus != 0)
        try await hub.finishAndCheck(reference: reference, observer: observer)
    }

    /// A second run of three workers after time moved on (releases fall due) and a hold was
    /// added (every record is evaluated again, the held ones retracted): the convergence's
    /// re-evaluation, one worker at a time, and the others' publishing meet under the
    /// records' claims, and the trees and the ledger end equal to a single SQLite process's.
    @Test func dueReleasesAndAHoldOverSeveralWorkersEqualASingleSQLiteProcess() async throws {
        var hub = try await Hub(records: Self.fewer)
        defer { hub.server.stop() }
        _ = try await hub.runReference()
        let first = try (0..<2).map { try hub.start(try hub.postgresPipeline(), worker: $0) }
        try await Self.waitAll(first)
        #expect(first.allSatisfy { $0.terminationStatus == 0 }, "\(hub.log(0).suffix(1000))")

        hub.holds = "  holds: [{id: review, records: [\"LC09_*\"], reason: review}]"
        let later = "2027-01-15T00:00:00Z"
        let reference = try hub.pipeline("sqlite", state: "state/ref.sqlite")
        let run = try await Self.eoshare(["ingest", reference.path, "--at", later])
        #expect(run.status == 0, "\(run.stderr)")
        let file = try hub.postgresPipeline()
        let second = try (2..<5).map { try hub.start(file, worker: $0, at: later) }
        try await Self.waitAll(second)
        for (n, w) in second.enumerated() {
            #expect(w.terminationStatus == 0, "worker \(n + 2): \(hub.log(n + 2).suffix(2000))")
        }
        let summaries = (2..<5).map {
            (try? String(contentsOf: hub.folder.appendingPathComponent("worker\($0).out"), encoding: .utf8)) ?? ""
        }
        #expect(summaries.contains { !$0.contains("retracted=0") }, "the hold retracted nothing: \(summaries)")
        #expect(summaries.contains { !$0.contains("released=0") }, "nothing fell due: \(summaries)")
        // Shared out, and never done twice: the workers' releases add up to the single process's.
        func released(_ summary: String) -> Int {
            summary.firstRange(of: /released=(\d+)/).flatMap { Int(summary[$0].dropFirst(9)) } ?? 0
        }
        #expect(summaries.map(released).reduce(0, +) == released(run.stdout), "\(summaries) against \(run.stdout)")

        let trees = try CrashSafetyTests.tree(hub.postgres.appendingPathComponent("shared"))
        let expected = try CrashSafetyTests.tree(hub.reference.appendingPathComponent("shared"))
        let differing = Set(trees.keys).union(expected.keys).filter { trees[$0] != expected[$0] }.sorted()
        #expect(!trees.isEmpty && differing.isEmpty, "\(differing.count) files differ: \(differing.prefix(5))")
        let ledger = Ledger(try await Self.eoshare(["ledger", file.path], environment: hub.environment).stdout)
        let referenceLedger = Ledger(
            try String(contentsOf: hub.reference.appendingPathComponent("state/ledger.jsonl"), encoding: .utf8)
        )
        #expect(ledger.duplicates.isEmpty && ledger.events == referenceLedger.events)
        let audit = try await Self.eoshare(["audit", file.path, "--at", later], environment: hub.environment)
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
        let open = try await TestPostgres.query(hub.database, "SELECT count(*) FROM work WHERE done_at IS NULL")
        #expect(try open[0].decode(Int.self) == 0)
    }

    /// A worker cut off from the database mid-run (every connection of it terminated by the
    /// server, as a lost network would): it fails what was in flight, or reconnects; nothing is
    /// lost (its claims return, its intents are finished by the others or the next run) and
    /// nothing is done twice. (It once hung here: see `CutConnectionTests`.)
    @Test
    func aWorkerCutOffFromTheDatabaseLosesNothingAndDuplicatesNothing() async throws {
        let hub = try await Hub(records: Self.fewer / 2)
        defer { hub.server.stop() }
        let (reference, observer, workers) = try await hub.startWorkers(3)
        // Cut while it holds claims, once a random part of the objects has been taken (claims
        // come early; ledger lines only with each batch's confirmation, when the claims are
        // done): checked and done in one statement on one connection.
        let cutAt = Int.random(in: 1...hub.names.count / 3)
        let pid = workers[0].processIdentifier
        var cut = 0
        try await TestPostgres.withConnection(hub.database) { connection in
            try await Self.waitAll(workers) {
                guard cut < 3, workers[0].isRunning else { return }
                // Cut three times, so that some cut falls in the middle of a batch.
                let rows = try? await connection.query(
                    """
                    WITH now AS (
                        SELECT (SELECT count(*) FROM work WHERE attempt > 0) AS taken,
                               (SELECT count(*) FROM work w JOIN workers k ON k.id = w.claimed_by
                                WHERE k.pid = \(Int(pid)) AND w.done_at IS NULL) AS held)
                    SELECT CASE WHEN taken >= \(cutAt + cut * 10) AND held > 0
                        THEN (SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                              WHERE application_name = \("eoshare[\(pid)]"))
                        ELSE -1 END
                    FROM now
                    """,
                    logger: .init(label: "test")
                ).collect()
                if let ended = try rows?.first?.decode(Int.self), ended >= 0 { cut += 1 }
            }
        }
        #expect(cut > 0, "the worker finished before it could be cut off")
        for (n, w) in workers.enumerated().dropFirst() {
            #expect(w.terminationStatus == 0, "worker \(n): \(hub.log(n).suffix(2000))")
        }
        // The cut worker ends with 0, or 74 when a change could not be finished: never 75.
        #expect([0, 74].contains(workers[0].terminationStatus), "\(hub.log(0).suffix(2000))")
        try await hub.finishAndCheck(reference: reference, observer: observer)
    }

    /// A worker paused (SIGSTOP) past its lease while it holds claims, then resumed
    /// (SIGCONT): its claims went to the others, and what it then tries to commit for them is
    /// refused (fenced) and counted, never applied.
    @Test
    func aWorkerPausedPastItsLeaseIsFencedOnResuming() async throws {
        let hub = try await Hub(records: Self.fewer)
        defer { hub.server.stop() }
        let (reference, observer, workers) = try await hub.startWorkers(3)
        let paused = workers[0]
        let pid = paused.processIdentifier
        var held: [String] = []
        // Paused once it holds claims, after a random part of the work.
        let pauseAt = Int.random(in: reference.events.count / 20...reference.events.count / 5)
        while paused.isRunning && held.isEmpty {
            if try await hub.ledgerLines() >= pauseAt {
                kill(pid, SIGSTOP)
                held = try await TestPostgres.query(
                    hub.database,
                    """
                    SELECT w.url FROM work w JOIN workers k ON k.id = w.claimed_by
                    WHERE k.pid = \(pid) AND w.done_at IS NULL
                    """
                ).map { try $0.decode(String.self) }
                if held.isEmpty { kill(pid, SIGCONT) }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(!held.isEmpty, "the worker finished before it could be paused with claims")
        // Resumed once its lease ran out and another worker took one of its objects (or all the
        // others ended, or a catalog lock it holds keeps them waiting).
        var retaken = 0
        for _ in 0..<1500 {
            let rows = try await TestPostgres.query(
                hub.database,
                """
                SELECT count(*) FROM work w LEFT JOIN workers k ON k.id = w.claimed_by
                WHERE w.url = ANY('{\(held.map { "\"\($0)\"" }.joined(separator: ","))}'::text[])
                    AND (k.pid IS DISTINCT FROM \(pid) OR w.done_at IS NOT NULL)
                """
            )
            retaken = try rows[0].decode(Int.self)
            if retaken > 0 || !workers.dropFirst().contains(where: \.isRunning) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(pid, SIGCONT)
        try await Self.waitAll(workers)
        for (n, w) in workers.enumerated().dropFirst() {
            #expect(w.terminationStatus == 0, "worker \(n): \(hub.log(n).suffix(2000))")
        }
        #expect([0, 74].contains(paused.terminationStatus), "\(hub.log(0).suffix(2000))")
        if retaken > 0 {
            // What it then tried for objects another worker had taken was refused: fenced by its
            // claim, or cut off with its session (the server ends a transaction idle past a lease).
            let summary = (try? String(contentsOf: hub.folder.appendingPathComponent("worker0.out"), encoding: .utf8))
            #expect(
                summary?.contains("fenced=") == true || summary?.contains("failed=0 ") == false,
                "\(summary ?? "")\n\(hub.log(0).suffix(2000))"
            )
        }
        try await hub.finishAndCheck(reference: reference, observer: observer)
    }
}
