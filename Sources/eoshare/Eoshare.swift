import ArgumentParser
import EOShare
import Foundation
import Logging

@main
struct Eoshare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eoshare",
        abstract: "Move consortium members' satellite records into embargo-aware shared STAC catalogs.",
        version: EOShareVersion.current,
        subcommands: [
            Ingest.self, Export.self, Audit.self, Explain.self, Status.self, LedgerCommand.self, Serve.self,
            Validate.self, Migrate.self,
        ]
    )

    /// Runs the command and maps every failure to the contract's exit codes in one place.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let unknown = CommandSuggestion.unknownSubcommand(
            arguments,
            known: configuration.subcommands.map { $0._commandName }
        ) {
            fatal(unknown, status: ExitStatus.usage, arguments: arguments)
        }
        do {
            var command = try parseAsRoot()
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            guard let status = ExitStatus.of(error) else {
                exit(withError: error)  // argument-parser's own: usage errors (64) and help
            }
            fatal("\(error)", status: status, arguments: arguments)
        }
    }

    /// The last words of a run on stderr, as a JSON line under `--log-format json` (a
    /// collector reading JSON lines must not drop the one that says why it stopped).
    static func fatal(_ message: String, status: Int32, arguments: [String]) -> Never {
        if CommonOptions.wantsJSON(arguments) {
            let line: JSONValue = .object([
                "time": .string(Timestamp.format(Date())), "level": "critical", "message": .string(message),
                "event": "fatal", "exit_code": .int(Int64(status)),
            ])
            FileHandle.standardError.write(Data((line.serializedString() + "\n").utf8))
        } else {
            FileHandle.standardError.write(Data("eoshare: \(message)\n".utf8))
        }
        Foundation.exit(status)
    }
}

/// The sysexits codes of CONTRACT §2.
enum ExitStatus {
    static let findings: Int32 = 1
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
    static let ioError: Int32 = 74
    static let locked: Int32 = 75
    static let config: Int32 = 78

    /// The exit status for one of our errors; nil for the argument parser's own.
    static func of(_ error: Error) -> Int32? {
        switch error {
        case is ConfigError, is ConfigFileError: return config
        case is LockBusy: return locked
        case is UsageError, is ExportError, is StateMigration.NotEmpty: return usage
        case is DataError: return dataError
        case is POSIXIOError, is CocoaError, is StateOpenError: return ioError
        default:
            // Parse errors and help belong to the argument parser; anything else is I/O
            // (the state, the shared root or the disk).
            let parser = Eoshare.exitCode(for: error)
            return parser == .validationFailure || parser == .success ? nil : ioError
        }
    }
}

struct UsageError: Error, CustomStringConvertible {
    var description: String
}

/// A record or file named on the command line is unknown or malformed (exit 65).
struct DataError: Error, CustomStringConvertible {
    var description: String
}

/// Options every command shares: the pipeline file and how to log.
struct CommonOptions: ParsableArguments {
    @Argument(help: "The pipeline file (YAML).", completion: .file(extensions: ["yml", "yaml"]))
    var pipeline: String

    @Option(help: "Log format on stderr: text or json (JSON lines with event, record, member, object, reason, run).")
    var logFormat: LogFormat = .text

    @Flag(name: .shortAndLong, help: "Log each record, not only warnings.")
    var verbose = false

    enum LogFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

    func load() throws -> Pipeline {
        try Pipeline.load(from: URL(fileURLWithPath: pipeline))
    }

    /// Whether the command line asks for JSON logs; read from the raw arguments, so errors
    /// the parser or the loading raise come out in the same format.
    static func wantsJSON(_ arguments: [String]) -> Bool {
        for (i, a) in arguments.enumerated() {
            if a == "--log-format=json" { return true }
            if a == "--log-format", i + 1 < arguments.count, arguments[i + 1] == "json" { return true }
        }
        return false
    }

    func logger(_ label: String) -> Logger {
        let format = logFormat
        let level: Logger.Level = verbose ? .info : .notice
        var logger = Logger(label: label) { label in StderrLogHandler(label: label, json: format == .json) }
        logger.logLevel = level
        return logger
    }
}

/// An instant option (`--at`), RFC 3339 with `Z` or an offset; default: now.
struct InstantOption: ParsableArguments {
    @Option(help: "The instant to evaluate the policy at (RFC 3339). Default: now.")
    var at: String?

    func instant() throws -> Date {
        guard let at else { return Date() }
        guard let d = Timestamp.parse(at) else {
            throw UsageError(description: "--at '\(at)' is not an RFC 3339 instant (e.g. 2026-09-02T00:00:00Z)")
        }
        return d
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check the pipeline file and policy; silent when valid.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        _ = try common.load()
    }
}

enum CommandSuggestion {
    /// The message for a first argument that names no command, or nil when it does (or is
    /// an option, which the parser handles).
    static func unknownSubcommand(_ arguments: [String], known: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-"), first != "help", !known.contains(first) else {
            return nil
        }
        return
            "unknown command '\(first)'\(Suggestion.hint(for: first, in: known)); commands: \(known.joined(separator: ", "))"
    }
}
