import EOShareCore
import EOShareEmbargo
import Foundation
import Logging
import PostgresNIO

/// Reading and writing through one leased connection: statements with their bindings, rows
/// read by column name, errors turned into `PostgresStateError` naming the database.
struct PostgresSession {
    let connection: PostgresConnection
    let url: PostgresStateURL

    @discardableResult
    func execute(_ query: PostgresQuery) async throws -> [PostgresColumns] {
        do {
            // See `PostgresConnection.statement`: never a query on a closed connection.
            guard !connection.isClosed else { throw PostgresStateError(url: url, PostgresConnectionClosed()) }
            return try await connection.query(query, logger: PostgresDatabase.logger).collect().map(
                PostgresColumns.init
            )
        } catch let error as PSQLError {
            throw PostgresStateError(url: url, error)
        }
    }

    func one(_ query: PostgresQuery) async throws -> PostgresColumns? { try await execute(query).first }
}

/// One row, its cells read by column name.
struct PostgresColumns: Sendable {
    let row: PostgresRandomAccessRow

    init(_ row: PostgresRow) { self.row = row.makeRandomAccess() }

    func string(_ column: String) throws -> String { try row[column].decode(String.self) }
    func optionalString(_ column: String) throws -> String? { try row[column].decode(String?.self) }
    func int64(_ column: String) throws -> Int64 { try row[column].decode(Int64.self) }
    func optionalInt64(_ column: String) throws -> Int64? { try row[column].decode(Int64?.self) }
    func int(_ column: String) throws -> Int { try row[column].decode(Int.self) }
    func double(_ column: String) throws -> Double? { try row[column].decode(Double?.self) }
    func date(_ column: String) throws -> Date? { try double(column).map(Date.init(timeIntervalSince1970:)) }
    func bytes(_ column: String) throws -> [UInt8] { [UInt8](try row[column].decode(Data.self)) }
    func bool(_ column: String) throws -> Bool { try row[column].decode(Bool.self) }
}

extension PostgresDatabase {
    /// Statements on one connection of the pool, outside a transaction.
    @discardableResult
    func read<R: Sendable>(_ body: (PostgresSession) async throws -> R) async throws -> R {
        do {
            return try await withOpenConnection { connection in
                try await body(PostgresSession(connection: connection, url: url))
            }
        } catch let error as PSQLError {
            throw PostgresStateError(url: url, error)
        }
    }

    /// Statements in one transaction: all committed, or none. Under a current `WorkFence`,
    /// only if the claims it names are still this worker's (and those it completes, done).
    @discardableResult
    func write<R: Sendable>(_ body: (PostgresSession) async throws -> R) async throws -> R {
        let fence = WorkFence.current
        // Workers' transactions that still meet in a deadlock: PostgreSQL aborts one, which is
        // run again, as the server's manual advises.
        for attempt in 1...3 {
            do {
                return try await withOpenConnection { connection in
                    try await PostgresTransaction.run(connection) { c in
                        let session = PostgresSession(connection: c, url: url)
                        try await fence?.apply(session)
                        return try await body(session)
                    }
                }
            } catch let error as PostgresStateError where error.sqlState == "40P01" && attempt < 3 {
                continue
            } catch let error as PSQLError {
                let e = PostgresStateError(url: url, error)
                if e.sqlState == "40P01" && attempt < 3 { continue }
                throw e
            }
        }
        preconditionFailure("unreachable: the last attempt returns or throws")
    }

    /// `body` on a pooled connection that is open when it starts. Right after the server
    /// ended sessions (a partition), the pool can still lend one it has not yet seen close;
    /// nothing was sent on it, so another is taken, as many times as the pool has connections.
    private func withOpenConnection<R: Sendable>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
        for _ in 0..<Self.maximumConnections {
            // One element: the body ran (its value may itself be nil); none: the connection was closed.
            let done: [R] = try await client.withConnection { connection in
                connection.isClosed ? [] : [try await body(connection)]
            }
            if let value = done.first { return value }
        }
        throw PostgresStateError(url: url, PostgresConnectionClosed())
    }
}
