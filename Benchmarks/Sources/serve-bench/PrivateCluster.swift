import Foundation

/// A private PostgreSQL 15 cluster for the benchmark (with PostGIS available for pgstac):
/// initdb into a temporary folder as the `postgres` user (initdb refuses root), trust on
/// loopback, a free port, the same settings for eoshare's state and for pgstac. `stop()` ends it.
struct PrivateCluster {
    static let bin = "/usr/lib/postgresql/15/bin"
    let folder: URL
    let port: Int

    static func start(in folder: URL) throws -> PrivateCluster {
        let data = folder.appendingPathComponent("data").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try Shell.run("/bin/chown", ["-R", "postgres:postgres", folder.path])
        var parent = folder
        while parent.path != "/" && parent.path != FileManager.default.temporaryDirectory.path {
            try Shell.run("/bin/chmod", ["755", parent.path])
            parent = parent.deletingLastPathComponent()
        }
        let cluster = PrivateCluster(folder: folder, port: PgSTACPeer.freePort())
        try cluster.asPostgres("\(bin)/initdb -D \(data) -A trust -U postgres > /dev/null")
        // Waited for by hand: Foundation's Process never saw this one end (its server lives on).
        try spawnAndWait([
            "/usr/sbin/runuser", "-u", "postgres", "--", "/bin/sh", "-c",
            "\(bin)/pg_ctl -D \(data) -l \(folder.path)/pg.log -w -o '-p \(cluster.port) -k /tmp"
                + " -c max_connections=200 -c shared_buffers=512MB' start > /dev/null 2>&1",
        ])
        return cluster
    }

    /// posix_spawn and waitpid, nothing between.
    static func spawnAndWait(_ argv: [String]) throws {
        var pid: pid_t = 0
        let arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let environment: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { for p in arguments + environment { free(p) } }
        guard posix_spawn(&pid, argv[0], nil, nil, arguments, environment) == 0 else {
            throw Shell.Failure(description: "cannot start \(argv[0])")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else { throw Shell.Failure(description: "\(argv.last ?? "") exited with status \(status)") }
    }

    func asPostgres(_ command: String) throws {
        try Shell.run("/usr/sbin/runuser", ["-u", "postgres", "--", "/bin/sh", "-c", command])
    }

    func createDatabase(_ name: String) throws {
        try asPostgres("\(Self.bin)/createdb -h 127.0.0.1 -p \(port) -U postgres \(name)")
    }

    func url(_ database: String) -> String { "postgresql://postgres@127.0.0.1:\(port)/\(database)" }

    func stop() {
        try? asPostgres("\(Self.bin)/pg_ctl -D \(folder.appendingPathComponent("data").path) -m fast stop > /dev/null")
    }
}
