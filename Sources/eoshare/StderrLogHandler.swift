import EOShare
import Foundation
import Logging

/// Logs to stderr as human text or JSON lines (`--log-format json`); results stay on stdout.
struct StderrLogHandler: LogHandler {
    let label: String
    let json: Bool
    var logLevel: Logger.Level = .notice
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let now = Timestamp.format(Date())
        let line: String
        if json {
            var o = JSONObject()
            o["time"] = .string(now)
            o["level"] = .string(event.level.rawValue)
            o["message"] = .string("\(event.message)")
            for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { o[k] = .string("\(v)") }
            line = JSONValue.object(o).serializedString()
        } else {
            line = "\(now) \(event.level.rawValue.uppercased()) \(event.message)"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
