import Foundation
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOSharePublish
@testable import EOShareState

/// Every command on a PostgreSQL state, through the built `eoshare` as an operator runs it
/// (the password in `PGPASSWORD`): the same trees, ledger and answers as on SQLite.
@Suite(.enabled(if: TestPostgres.enabled)) struct PostgresEndToEndTests {
    typealias CLI = CommandLineTests
    static let at = CommandLineTests.at

    static func run(_ args: [String]) throws -> CLI.Result { try OperatorTests.run(args) }

    /// The demo pipeline, its state moved to `url` with a spool beside it.
    static func postgresDemo(_ url: PostgresStateURL) throws -> (folder: URL, pipeline: URL) {
        let (folder, file) = try CLI.demoCopy()
        var yaml = try String(contentsOf: file, encoding: .utf8)
        let state = try #require(yaml.components(separatedBy: "\n").first { $0.hasPrefix("state:") })
        yaml = yaml.replacingOccurrences(of: state, with: "state: \(url)\nspool: spool/")
        try Data(yaml.utf8).write(to: file)
        return (folder, file)
    }

    /// Every file under a folder with its bytes, by relative path.
    static func files(_ root: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let paths = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []
        for path in paths {
            let url = root.appendingPathComponent(path)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                out[path] = try Data(contentsOf: url)
            }
        }
        return out
    }

    /// Paths whose bytes differ between two trees, or that only one holds.
    static func differing(_ a: [String: Data], _ b: [String: Data]) -> [String] {
        Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }

    /// Ledger lines without their chain field, sorted.
    static func events(_ text: String) -> [String] {
        text.split(separator: "\n").map { String($0.split(separator: ",\"prev\":")[0]) }.sorted()
    }

    @Test func everyCommandWorksOnAPostgresStateAsOnSQLite() async throws {
        // The reference: the demo on SQLite.
        let (sqliteFolder, sqliteFile) = try CLI.demoCopy()
        let reference = try Self.run(["ingest", sqliteFile.path, "--at", Self.at])
        #expect(reference.status == 0, "\(reference.stderr)")

        let url = try await TestPostgres.freshDatabase("e2e")
        let (folder, file) = try Self.postgresDemo(url)
        let ingest = try Self.run(["ingest", file.path, "--at", Self.at])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        #expect(ingest.stdout.hasPrefix("discovered=5 fetched=5 unchanged=0 bytes=16311 records=5 published=17 "))

        // The same trees, byte for byte (items carry the run's instant, the same in both).
        let trees = try Self.files(folder.appendingPathComponent("out/shared"))
        let referenceTrees = try Self.files(sqliteFolder.appendingPathComponent("out/shared"))
        #expect(trees.count == referenceTrees.count && trees.count > 30)
        // `.store/identity` names the state the trees belong to: one per state, by design.
        #expect(Self.differing(trees, referenceTrees) == [".store/identity"])

        // The ledger is the table: the same lines as the SQLite pipeline's ledger.jsonl, no file.
        let ledger = try Self.run(["ledger", file.path])
        #expect(ledger.status == 0)
        let referenceLedger = try String(
            contentsOf: sqliteFolder.appendingPathComponent("out/state/ledger.jsonl"),
            encoding: .utf8
        )
        // The same events; their order (so the chain) follows which worker finished first.
        #expect(Self.events(ledger.stdout) == Self.events(referenceLedger))
        #expect(ledger.stdout.split(separator: "\n").count == 17)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("spool/ledger.jsonl").path))
        let verify = try Self.run(["ledger", file.path, "--verify"])
        #expect(verify.status == 0 && verify.stdout.contains("ledger intact"), "\(verify.stdout)\(verify.stderr)")

        let audit = try Self.run(["audit", file.path, "--at", Self.at, "--json"])
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
        #expect(try OperatorTests.json(audit.stdout)["compliant"] == .bool(true))

        let status = try Self.run(["status", file.path, "--at", Self.at])
        let referenceStatus = try Self.run(["status", sqliteFile.path, "--at", Self.at])
        #expect(status.status == 0)
        #expect(status.stdout.contains("landsat-c2-l2: 5 records; CSA 2, ESA 3, JAXA 4, NASA 5, ROSCOSMOS 2, public 1"))
        #expect(
            status.stdout.components(separatedBy: "Releases due")[1]
                == referenceStatus.stdout.components(separatedBy: "Releases due")[1]
        )

        let explain = try Self.run(["explain", file.path, "LC09_L2SP_053109_20261119_02_T2", "--at", Self.at])
        let referenceExplain = try Self.run([
            "explain", sqliteFile.path, "LC09_L2SP_053109_20261119_02_T2", "--at", Self.at,
        ])
        #expect(explain.status == 0 && explain.stdout == referenceExplain.stdout)

        // Export: the same file as from SQLite, and its line in the ledger table.
        let out = folder.appendingPathComponent("esa.geojson")
        let export = try Self.run([
            "export", file.path, "--member", "ESA", "--out", out.path, "--format", "geojson", "--at", Self.at,
        ])
        #expect(export.status == 0, "\(export.stderr)")
        let referenceOut = sqliteFolder.appendingPathComponent("esa.geojson")
        _ = try Self.run([
            "export", sqliteFile.path, "--member", "ESA", "--out", referenceOut.path, "--format", "geojson", "--at",
            Self.at,
        ])
        #expect(try Data(contentsOf: out) == (try Data(contentsOf: referenceOut)))
        let after = try Self.run(["ledger", file.path])
        #expect(after.stdout.split(separator: "\n").count == 18)
        #expect(after.stdout.split(separator: "\n").last?.contains("\"event\":\"export\"") == true)
        #expect(try Self.run(["ledger", file.path, "--verify"]).status == 0)

        // Nothing new: nothing changes.
        let again = try Self.run(["ingest", file.path, "--at", Self.at])
        #expect(again.status == 0)
        #expect(
            again.stdout.contains("fetched=0 unchanged=5")
                && again.stdout.contains("published=0 released=0 retracted=0")
        )
        // The identity moves on at the end of every run; nothing else changes.
        #expect(
            Self.differing(try Self.files(folder.appendingPathComponent("out/shared")), trees) == [".store/identity"]
        )
    }

    /// Workers share the work (CONTRACT §7): a second ingest of a PostgreSQL pipeline started
    /// beside the first does not exit 75; both finish, and the trees are the SQLite run's.
    @Test func twoIngestsAtOnceCooperate() async throws {
        let (sqliteFolder, sqliteFile) = try CLI.demoCopy()
        #expect(try Self.run(["ingest", sqliteFile.path, "--at", Self.at]).status == 0)
        let url = try await TestPostgres.freshDatabase("two")
        let (folder, file) = try Self.postgresDemo(url)
        let results = try await withThrowingTaskGroup(of: CLI.Result.self) { group in
            for _ in 0..<2 { group.addTask { try Self.run(["ingest", file.path, "--at", Self.at]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for r in results { #expect(r.status == 0, "\(r.stderr)") }
        // Each object was done by one of them.
        let fetched = results.map { r in
            r.stdout.split(separator: " ").first { $0.hasPrefix("fetched=") }.flatMap { Int($0.dropFirst(8)) } ?? -1
        }
        #expect(fetched.reduce(0, +) == 5, "\(results.map(\.stdout))")
        let trees = try Self.files(folder.appendingPathComponent("out/shared"))
        let referenceTrees = try Self.files(sqliteFolder.appendingPathComponent("out/shared"))
        #expect(Self.differing(trees, referenceTrees) == [".store/identity"])
        let ledger = try Self.run(["ledger", file.path])
        #expect(ledger.stdout.split(separator: "\n").count == 17)
        #expect(try Self.run(["audit", file.path, "--at", Self.at]).status == 0)
    }

    @Test func readOnlyCommandsCreateNoSchemaInAnEmptyDatabase() async throws {
        let url = try await TestPostgres.freshDatabase("ro")
        let (_, file) = try Self.postgresDemo(url)
        let status = try Self.run(["status", file.path, "--at", Self.at])
        #expect(status.status == 0)
        let tables = try await TestPostgres.query(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        #expect(try tables[0].decode(Int.self) == 0)
    }

    @Test func aPasswordInThePipelineFileExits78() throws {
        let (_, file) = try Self.postgresDemo(
            PostgresStateURL(user: "eoshare", host: "127.0.0.1", port: 5432, database: "x")
        )
        let text = try String(contentsOf: file, encoding: .utf8)
            .replacingOccurrences(of: "postgresql://eoshare@", with: "postgresql://eoshare:s3cret@")
        try Data(text.utf8).write(to: file)
        let r = try Self.run(["validate", file.path])
        #expect(r.status == 78)
        #expect(r.stderr.contains("state: a password does not belong in the pipeline file"))
        #expect(!r.stderr.contains("s3cret"))
    }

    /// `eoshare migrate`, then the pipeline pointed at the database: audit passes before and
    /// after, the ledger verifies and ends at the same head, and ingest goes on from there.
    @Test func migrateThenEveryCommandReadsTheDatabase() async throws {
        let (folder, file) = try CLI.demoCopy()
        #expect(try Self.run(["ingest", file.path, "--at", Self.at]).status == 0)
        let later = "2026-12-20T00:00:00Z"  // ESA's grant on the newest scene has run out
        #expect(try Self.run(["ingest", file.path, "--at", later]).status == 0)
        let before = try Self.run(["audit", file.path, "--at", later])
        #expect(before.status == 0, "\(before.stdout)")
        let headBefore = try await SQLiteStateStore(path: folder.appendingPathComponent("out/state/demo.sqlite"))
            .ledgerAnchor()

        let url = try await TestPostgres.freshDatabase("cli_migrate")
        let migrate = try Self.run(["migrate", file.path, "--to", url.description])
        #expect(migrate.status == 0, "\(migrate.stderr)")
        #expect(migrate.stdout.contains("ledger \(headBefore.lines) lines (head \(headBefore.head))"))
        // Again: the database is no longer empty.
        let twice = try Self.run(["migrate", file.path, "--to", url.description])
        #expect(twice.status == 64 && twice.stderr.contains("is not empty"), "\(twice.stderr)")

        let ledgerFile = try String(
            contentsOf: folder.appendingPathComponent("out/state/ledger.jsonl"),
            encoding: .utf8
        )
        var yaml = try String(contentsOf: file, encoding: .utf8)
        let state = try #require(yaml.components(separatedBy: "\n").first { $0.hasPrefix("state:") })
        yaml = yaml.replacingOccurrences(of: state, with: "state: \(url)\nspool: spool/")
        try Data(yaml.utf8).write(to: file)

        let after = try Self.run(["audit", file.path, "--at", later])
        #expect(after.status == 0, "\(after.stdout)\(after.stderr)")
        let verify = try Self.run(["ledger", file.path, "--verify"])
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(try Self.run(["ledger", file.path]).stdout == ledgerFile)
        let store = try await PostgresStateStore.open(url, environment: TestPostgres.passwordEnvironment)
        let headAfter = try await store.ledgerAnchor()
        await store.close()
        #expect(headAfter.lines == headBefore.lines && headAfter.head == headBefore.head)
        let next = try Self.run(["ingest", file.path, "--at", later])
        #expect(next.status == 0 && next.stdout.contains("fetched=0 unchanged=5"), "\(next.stdout)\(next.stderr)")
        #expect(try Self.run(["status", file.path, "--at", later]).stdout.contains("#3 "))
    }
}
