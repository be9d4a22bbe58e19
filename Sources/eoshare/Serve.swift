import ArgumentParser
import EOShare
import EOShareServe
import Foundation

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A read-only STAC API per member (and public), exact at the second of each request."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Where to listen: HOST:PORT (port 0 picks a free one).") var listen = "127.0.0.1:8080"
    @Option(help: "Decide every request at this instant (RFC 3339) instead of its own. For tests and reproductions.")
    var at: String?

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65_535).contains(port), colon > listen.startIndex
        else { throw UsageError(description: "--listen '\(listen)' is not HOST:PORT") }
        let written = String(listen[..<colon])
        let host = written.hasPrefix("[") && written.hasSuffix("]") ? String(written.dropFirst().dropLast()) : written
        var instant: Date?
        if let at {
            guard let d = Timestamp.parse(at) else {
                throw UsageError(description: "--at '\(at)' is not an RFC 3339 instant (e.g. 2026-09-02T00:00:00Z)")
            }
            instant = d
        }
        let log: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let served: ServedPipeline
        do {
            served = try ServedPipeline(file: URL(fileURLWithPath: common.pipeline), log: log)
        } catch let e as TokenFile.Error {
            throw ConfigFileError(description: e.description)
        }
        // SIGHUP re-reads the pipeline file and the tokens at the next request.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { served.requestReload() }
        hangup.resume()
        let secure = (try? served.snapshot().get().pipeline.serve?.certificate) != nil
        try await STACServer.run(
            served: served,
            options: .init(host: host, port: port, at: instant),
            accessLog: log,
            onRunning: { bound in
                let shown = host.contains(":") ? "[\(host)]" : host
                log("eoshare serve: listening on \(secure ? "https" : "http")://\(shown):\(bound)/")
            }
        )
        hangup.cancel()
    }
}

/// The token file named by `serve:` is invalid (exit 78, like the pipeline file itself).
struct ConfigFileError: Error, CustomStringConvertible {
    var description: String
}
