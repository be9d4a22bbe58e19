import Foundation
import Testing

/// A server written in Python (Tests/Servers/*.py) run from the repository's `.venv`, which
/// `make venv` (and so `make test`) prepares. It listens on 127.0.0.1 only, prints
/// `PORT <n>` once ready, and ends when `stop()` closes its standard input or kills it.
final class PythonServer: Sendable {
    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    let port: Int
    private let process: Process
    private let input: Pipe

    /// Starts `Tests/Servers/<script>` with `arguments`; waits up to 20 s for its port.
    init(script: String, arguments: [String]) throws {
        let python = RepoPaths.root.appendingPathComponent(".venv/bin/python3")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw Missing(description: "\(python.path) is missing: run `make venv` (make test does)")
        }
        let process = Process()
        process.executableURL = python
        process.arguments = ["-u", RepoPaths.root.appendingPathComponent("Tests/Servers/\(script)").path] + arguments
        let output = Pipe()
        let input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        // The first line says the port; read it byte by byte so nothing else is consumed.
        var line: [UInt8] = []
        let reader = output.fileHandleForReading
        let deadline = Date(timeIntervalSinceNow: 20)
        while Date() < deadline {
            guard let byte = try reader.read(upToCount: 1), let b = byte.first else { break }
            if b == 10 { break }
            line.append(b)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5)) else {
            process.terminate()
            process.waitUntilExit()
            throw Missing(description: "\(script) did not start: '\(text)'")
        }
        self.port = port
        self.process = process
        self.input = input
    }

    deinit { stop() }

    /// Ends the server (closing its standard input, then SIGTERM) and waits for it.
    func stop() {
        guard process.isRunning else { return }
        try? input.fileHandleForWriting.close()
        process.terminate()
        process.waitUntilExit()
    }
}
