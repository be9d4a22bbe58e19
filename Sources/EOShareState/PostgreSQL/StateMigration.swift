import EOShareCore
import EOShareEmbargo
import Foundation
import GRDB
import PostgresNIO

/// `eoshare migrate PIPELINE --to postgresql://…` (CONTRACT §7): a SQLite state copied whole
/// into an empty PostgreSQL database, in one transaction: objects, records, publications,
/// catalogs to rewrite, extents, runs, quarantine, meta, and the ledger with its chain (the
/// lines of `ledger.jsonl`, then those committed but not yet appended), so the database's
/// ledger ends at the same head as the file would.
public enum StateMigration {
    /// What was copied, for the command's one-line summary.
    public struct Copied: Sendable, Equatable {
        public var tables: [String: Int] = [:]
        public var ledgerLines: Int64 = 0
        public var ledgerHead = LedgerAnchor.genesis

        public var summary: String {
            let counts = ["objects", "records", "publications", "runs", "quarantine"].map { "\(tables[$0] ?? 0) \($0)" }
            return counts.joined(separator: ", ") + ", ledger \(ledgerLines) lines (head \(ledgerHead))"
        }
    }

    /// The target is not empty: nothing is copied into it.
    public struct NotEmpty: Error, CustomStringConvertible {
        public var url: PostgresStateURL
        public var table: String
        public var description: String {
            "\(url) is not empty (its table \(table) has rows): migrate copies into an empty database only"
        }
    }

    /// The ledger cannot be carried over as one chain.
    public struct BrokenLedger: Error, CustomStringConvertible {
        public var description: String
    }

    /// Tables copied column for column, in an order that suits their references.
    static let tables: [(name: String, columns: [String])] = [
        (
            "objects",
            [
                "url", "source", "etag", "last_modified", "size", "sha256", "outcome", "reason", "record_collection",
                "record_id", "fetched_at", "listed",
            ]
        ),
        (
            "records",
            [
                "collection", "id", "owner", "source", "object_url", "start_time", "end_time", "acquired", "processed",
                "ingested", "west", "south", "east", "north", "item", "assets", "next_change", "updated_at", "day",
                "folder",
            ]
        ),
        (
            "publications",
            [
                "collection", "record_id", "viewer", "status", "published_at", "day", "folder", "failures", "error",
            ]
        ),
        ("dirty_catalogs", ["viewer", "collection", "day"]),
        ("extents", ["viewer", "collection", "west", "south", "east", "north", "start_time", "end_time", "stale"]),
        ("runs", ["id", "started_at", "finished_at", "at", "status", "summary"]),
        ("quarantine", ["id", "run_id", "source", "object", "reason", "at"]),
    ]

    /// Copies the SQLite state at `sqlite` (its ledger file at `ledgerFile`) into the empty
    /// database `target`. The caller holds the pipeline's lock, so nothing writes meanwhile.
    /// `flush` appends the lines committed but not yet in the file (the publish stage's
    /// ledger writer), so the file is the whole chain.
    public static func copy(
        from sqlite: SQLiteStateStore,
        ledgerFile: URL,
        to target: PostgresStateStore,
        flush: () async throws -> Void
    ) async throws -> Copied {
        try await flush()
        let anchor = try await sqlite.ledgerAnchor()
        let lines = try ledgerLines(ledgerFile, anchor: anchor)
        let url = target.database.url
        return try await target.database.write { s in
            for table in tables.map(\.name) + ["meta", "ledger"] {
                if try await s.one("SELECT EXISTS (SELECT 1 FROM \(unescaped: table)) AS taken")?.bool("taken") == true
                {
                    throw NotEmpty(url: url, table: table)
                }
            }
            var copied = Copied()
            for (name, columns) in tables {
                copied.tables[name] = try await copyTable(name, columns: columns, from: sqlite, to: s)
            }
            let meta = try metaRows(sqlite)
            for pair in meta {
                try await s.execute("INSERT INTO meta (key, value) VALUES (\(pair[0]), \(pair[1]))")
            }
            var previous = LedgerAnchor.genesis
            for batch in stride(from: 0, to: lines.count, by: 500) {
                var binds = PostgresBindings()
                var values: [String] = []
                for (offset, line) in lines[batch..<min(batch + 500, lines.count)].enumerated() {
                    let hash = Digest.sha256Hex(line)
                    binds.append(Int64(batch + offset + 1))
                    try binds.append(Data(line))
                    binds.append(hash)
                    let n = binds.count
                    values.append("($\(n - 2), $\(n - 1), $\(n))")
                    previous = hash
                }
                try await s.execute(
                    PostgresQuery(
                        unsafeSQL: "INSERT INTO ledger (seq, line, hash) VALUES " + values.joined(separator: ", "),
                        binds: binds
                    )
                )
            }
            if !lines.isEmpty {
                try await s.execute(
                    """
                    INSERT INTO meta (key, value)
                    VALUES ('ledger_lines', \(String(lines.count))), ('ledger_head', \(previous))
                    """
                )
            }
            // Identities continue after the copied ids.
            for table in ["runs", "quarantine"] {
                try await s.execute(
                    """
                    SELECT setval(pg_get_serial_sequence(\(table), 'id'),
                                  (SELECT coalesce(max(id), 0) + 1 FROM \(unescaped: table)), false)
                    """
                )
            }
            copied.ledgerLines = Int64(lines.count)
            copied.ledgerHead = previous
            return copied
        }
    }

    /// The ledger file's lines, checked: a whole chain from genesis that ends where the state
    /// anchored it (a broken ledger is refused, not carried into a state that would vouch for it).
    static func ledgerLines(_ file: URL, anchor: LedgerAnchor) throws -> [[UInt8]] {
        let bytes = (try? FileBytes.read(file)) ?? []
        func broken(_ why: String) -> BrokenLedger {
            BrokenLedger(description: "\(file.path): \(why); run `eoshare ledger --verify` and mend it first")
        }
        if !bytes.isEmpty, bytes.last != 0x0A { throw broken("the last line is torn") }
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map(Array.init)
        var previous = LedgerAnchor.genesis
        for (n, line) in lines.enumerated() {
            guard let prev = (try? JSONValue.parse(line))?["prev"]?.stringValue, prev == previous else {
                throw broken("line \(n + 1) does not follow the line before")
            }
            previous = Digest.sha256Hex(line)
        }
        guard Int64(lines.count) == anchor.lines, previous == anchor.head else {
            throw broken("it does not end where the state anchored it (\(anchor.lines) lines)")
        }
        return lines
    }

    /// One table, a page of 500 rows per statement.
    static func copyTable(
        _ name: String,
        columns: [String],
        from sqlite: SQLiteStateStore,
        to s: PostgresSession
    ) async throws -> Int {
        let list = columns.joined(separator: ", ")
        var total = 0
        var offset = 0
        while true {
            let page = try rows(sqlite, table: name, columns: columns, offset: offset)
            guard !page.isEmpty else { return total }
            var binds = PostgresBindings()
            var values: [String] = []
            for row in page {
                var placeholders: [String] = []
                for value in row {
                    switch value {
                    case .null: binds.appendNull()
                    case .int64(let v): binds.append(v)
                    case .double(let v): binds.append(v)
                    case .string(let v): binds.append(v)
                    case .blob(let v): try binds.append(v)
                    }
                    placeholders.append("$\(binds.count)")
                }
                values.append("(" + placeholders.joined(separator: ", ") + ")")
            }
            try await s.execute(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO \(name) (\(list)) VALUES " + values.joined(separator: ", "),
                    binds: binds
                )
            )
            total += page.count
            offset += page.count
        }
    }

    /// A page of a SQLite table's rows, as SQLite stores their values (read outside any task:
    /// GRDB's synchronous access).
    static func rows(
        _ sqlite: SQLiteStateStore,
        table: String,
        columns: [String],
        offset: Int
    ) throws
        -> [[DatabaseValue.Storage]]
    {
        try sqlite.db.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(columns.joined(separator: ", ")) FROM \(table) ORDER BY rowid LIMIT 500 OFFSET ?",
                arguments: [offset]
            ).map { row in columns.indices.map { (row[$0] as DatabaseValue).storage } }
        }
    }

    /// `meta` but the ledger's anchor: rebuilt from the lines copied (and the file's
    /// bookkeeping has no meaning where the ledger is a table).
    static func metaRows(_ sqlite: SQLiteStateStore) throws -> [[String]] {
        try sqlite.db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT key, value FROM meta
                    WHERE key NOT IN ('ledger_lines', 'ledger_head', 'ledger_file_lines', 'ledger_file_bytes')
                    ORDER BY key
                    """
            ).map { [$0["key"] as String, $0["value"] as String] }
        }
    }
}
