import Foundation
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOSharePublish
@testable import EOShareState

/// `state: postgresql://…` as libpq reads it, with the password refused; `.pgpass` as libpq
/// matches it; `spool:` required beside a PostgreSQL state.
@Suite struct PostgresURLTests {
    @Test func parsesUserHostPortDatabase() throws {
        let url = try PostgresStateURL.parse("postgresql://eoshare@db.example:6543/consortium")
        #expect(url == PostgresStateURL(user: "eoshare", host: "db.example", port: 6543, database: "consortium"))
        #expect(url.description == "postgresql://eoshare@db.example:6543/consortium")
    }

    @Test func defaultsThePortAndDecodesPercentEscapes() throws {
        let url = try PostgresStateURL.parse("postgres://ops%40hub@[::1]/my%20db")
        #expect(url.user == "ops@hub")
        #expect(url.host == "::1")
        #expect(url.port == 5432)
        #expect(url.database == "my db")
        #expect(url.sslMode == .prefer)
    }

    @Test func readsTLSParameters() throws {
        let url = try PostgresStateURL.parse("postgresql://u@h:5432/d?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(url.sslMode == .verifyFull)
        #expect(url.sslRootCert == "/etc/ca.pem")
        #expect(try PostgresStateURL.parse("postgresql://u@h/d?sslmode=require").sslMode == .require)
    }

    @Test(arguments: [
        ("postgresql://u:secret@h:5432/d", "a password does not belong in the pipeline file"),
        ("postgresql://u:@h:5432/d", "a password does not belong in the pipeline file"),
        ("postgresql://h:5432/d", "names no user"),
        ("postgresql://u@:5432/d", "names no host"),
        ("postgresql://u@h:5432/", "names no database"),
        ("postgresql://u@h:5432", "names no database"),
        ("postgresql://u@h/d?sslmode=sometimes", "sslmode 'sometimes' is not one of"),
        ("postgresql://u@h/d?connect_timeout=3", "parameter 'connect_timeout' is not supported"),
        ("postgresql://u@h/d?sslmode=require&sslmode=disable", "given twice"),
        ("postgresql://u@h/d?sslrootcert=/ca.pem", "only with sslmode=verify-ca or verify-full"),
        ("postgresql://u@h:70000/d", "out of range"),
        ("mysql://u@h/d", "not a postgresql"),
    ])
    func refuses(_ text: String, _ reason: String) {
        #expect {
            try PostgresStateURL.parse(text)
        } throws: { error in
            let e = error as? PostgresStateURL.Invalid
            return e != nil && e!.description.contains(reason) && !e!.description.contains("secret")
        }
    }

    // MARK: .pgpass

    static let url = PostgresStateURL(user: "eoshare", host: "db.example", port: 5432, database: "consortium")

    @Test func firstMatchingLineWins() {
        let file = """
            # comment: db.example:5432:consortium:eoshare:wrong
            other.example:5432:consortium:eoshare:not-this-host
            db.example:5433:consortium:eoshare:not-this-port
            db.example:5432:consortium:eoshare:first
            db.example:5432:consortium:eoshare:second
            """
        #expect(PasswordFile.match(file, for: Self.url) == "first")
    }

    @Test func wildcardsMatchAnything() {
        #expect(PasswordFile.match("*:*:*:eoshare:any", for: Self.url) == "any")
        #expect(PasswordFile.match("*:*:*:someone:any", for: Self.url) == nil)
        #expect(PasswordFile.match("db.example:*:consortium:*:pw\r\n", for: Self.url) == "pw")
    }

    @Test func escapesColonsAndBackslashes() {
        let url = PostgresStateURL(user: "a:b", host: "h", port: 5432, database: "d")
        #expect(PasswordFile.match(#"h:5432:d:a\:b:pa\:ss\\word"#, for: url) == #"pa:ss\word"#)
        // The password takes the rest of the line, colons included.
        #expect(PasswordFile.match("h:5432:d:a\\:b:x:y:z", for: url) == "x:y:z")
        // An escaped star is a star, not a wildcard.
        #expect(PasswordFile.match(#"\*:5432:d:a\:b:pw"#, for: url) == nil)
        // A line with too few fields matches nothing.
        #expect(PasswordFile.match("h:5432:d", for: url) == nil)
    }

    @Test func passwordComesFromTheEnvironmentFirst() throws {
        let folder = try Self.folder()
        let file = folder.appendingPathComponent("pgpass")
        try Data("*:*:*:*:from-file\n".utf8).write(to: file)
        chmod(file.path, 0o600)
        #expect(
            try PostgresPassword.resolve(for: Self.url, environment: ["PGPASSWORD": "env", "PGPASSFILE": file.path])
                == "env"
        )
        #expect(
            try PostgresPassword.resolve(for: Self.url, environment: ["PGPASSWORD": "", "PGPASSFILE": file.path])
                == "from-file"
        )
        // ~/.pgpass by default.
        try FileManager.default.moveItem(at: file, to: folder.appendingPathComponent(".pgpass"))
        #expect(try PostgresPassword.resolve(for: Self.url, environment: ["HOME": folder.path]) == "from-file")
        #expect(try PostgresPassword.resolve(for: Self.url, environment: ["HOME": "/nonexistent"]) == nil)
    }

    @Test func aPasswordFileOthersMayReadIsRefused() throws {
        let file = try Self.folder().appendingPathComponent("pgpass")
        try Data("*:*:*:*:pw\n".utf8).write(to: file)
        chmod(file.path, 0o640)
        #expect {
            try PostgresPassword.resolve(for: Self.url, environment: ["PGPASSFILE": file.path])
        } throws: { error in
            (error as? PostgresPassword.Unusable)?.description.contains("group or world access") == true
        }
        chmod(file.path, 0o604)
        #expect(throws: PostgresPassword.Unusable.self) {
            try PostgresPassword.resolve(for: Self.url, environment: ["PGPASSFILE": file.path])
        }
        chmod(file.path, 0o400)
        #expect(try PostgresPassword.resolve(for: Self.url, environment: ["PGPASSFILE": file.path]) == "pw")
    }

    // MARK: The pipeline file

    static func pipeline(state: String, spool: String?) -> String {
        """
        version: 1
        state: \(state)
        \(spool.map { "spool: \($0)" } ?? "")
        members:
          - {id: NASA}
        collections:
          - {id: landsat-c2-l2}
        sources:
          - {id: s, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: feeds/}
        """
    }

    @Test func aPostgresStateWithASpoolLoads() throws {
        let file = URL(fileURLWithPath: "/srv/eoshare/pipeline.yml")
        let p = try Pipeline.parse(
            Self.pipeline(state: "postgresql://eoshare@db.example:5432/consortium", spool: "/var/spool/eoshare"),
            file: file
        )
        #expect(p.postgres?.database == "consortium")
        #expect(p.workFolder.path == "/var/spool/eoshare/work")
        #expect(p.quarantineFolder.path == "/var/spool/eoshare/quarantine")
    }

    @Test func aSQLiteStateKeepsItsSpoolBesideItUnlessGiven() throws {
        let file = URL(fileURLWithPath: "/srv/eoshare/pipeline.yml")
        let beside = try Pipeline.parse(Self.pipeline(state: "state/c.sqlite", spool: nil), file: file)
        #expect(beside.postgres == nil)
        #expect(beside.workFolder.path == "/srv/eoshare/state/work")
        #expect(beside.ledgerPath.path == "/srv/eoshare/state/ledger.jsonl")
        let spooled = try Pipeline.parse(Self.pipeline(state: "state/c.sqlite", spool: "spool"), file: file)
        #expect(spooled.quarantineFolder.path == "/srv/eoshare/spool/quarantine")
        #expect(spooled.ledgerPath.path == "/srv/eoshare/state/ledger.jsonl")
    }

    @Test func aPostgresStateNeedsASpool() {
        #expect {
            try Pipeline.parse(
                Self.pipeline(state: "postgresql://eoshare@db:5432/c", spool: nil),
                file: URL(fileURLWithPath: "/srv/p.yml")
            )
        } throws: { error in
            let e = error as? ConfigError
            return e?.key == "state" && e?.line == 2 && e?.message.contains("spool") == true
        }
    }

    @Test func aPasswordInTheStateURLIsAPipelineError() {
        #expect {
            try Pipeline.parse(
                Self.pipeline(state: "postgresql://eoshare:hunter2@db:5432/c", spool: "/s"),
                file: URL(fileURLWithPath: "/srv/p.yml")
            )
        } throws: { error in
            let e = error as? ConfigError
            return e?.key == "state" && e?.line == 2 && e?.message.contains("PGPASSWORD") == true
                && e?.description.contains("hunter2") == false
        }
    }

    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pgurl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }
}
