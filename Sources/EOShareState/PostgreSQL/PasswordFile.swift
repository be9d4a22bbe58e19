import EOShareCore
import EOShareEmbargo
import Foundation

/// The password of a PostgreSQL state, found as libpq finds it: `PGPASSWORD` when set and
/// not empty, else the first matching line of the password file (`PGPASSFILE`, by default
/// `~/.pgpass`). Never from the pipeline file (`PostgresStateURL` refuses one there).
public enum PostgresPassword {
    /// A password file that exists but must not be read (libpq ignores such a file with a
    /// warning; a clear error is kinder to an operator than a failed login).
    public struct Unusable: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    public static func resolve(
        for url: PostgresStateURL,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(Unusable) -> String? {
        if let password = environment["PGPASSWORD"], !password.isEmpty { return password }
        let file =
            environment["PGPASSFILE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["HOME"].map { $0 + "/.pgpass" }
            ?? (NSHomeDirectory() + "/.pgpass")
        return try PasswordFile.password(at: file, for: url)
    }
}

/// libpq's password file: lines `hostname:port:database:username:password`, `#` comments,
/// `*` matching anything in the first four fields, `\:` and `\\` escaping within a field.
/// The first line that matches wins.
public enum PasswordFile {
    /// The password the file at `path` holds for `url`; nil when there is no such file or no
    /// line matches. A file that group or others may read is refused, as libpq refuses it.
    public static func password(at path: String, for url: PostgresStateURL) throws(PostgresPassword.Unusable) -> String?
    {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        if st.st_mode & (S_IRWXG | S_IRWXO) != 0 {
            throw PostgresPassword.Unusable(
                description: "password file \(path) has group or world access: it is not read (chmod 0600 it)"
            )
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PostgresPassword.Unusable(description: "password file \(path) cannot be read")
        }
        return match(String(decoding: data, as: UTF8.self), for: url)
    }

    /// The password of the first line matching `url` among `contents`.
    public static func match(_ contents: String, for url: PostgresStateURL) -> String? {
        let wanted = [url.host, String(url.port), url.database, url.user]
        // "\r\n" is one Character: split on any line break, as libpq reads either ending.
        for rawLine in contents.split(whereSeparator: \.isNewline) {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.hasPrefix("#") || line.isEmpty { continue }
            let fields = split(line)
            guard fields.count == 5 else { continue }
            let matches = zip(fields.prefix(4), wanted).enumerated().allSatisfy { index, pair in
                let (field, value) = pair
                if field.text == "*" && !field.escaped { return true }
                // libpq lets "localhost" stand for a connection through the local socket; a
                // TCP connection to 127.0.0.1 is matched by its own spelling only.
                return field.text == value || (index == 0 && field.text == "localhost" && value.hasPrefix("/"))
            }
            if matches { return fields[4].text }
        }
        return nil
    }

    /// A field's text with its escapes resolved, and whether any was used (an escaped `\*`
    /// is a literal star, not a wildcard). The fifth field takes the rest of the line.
    struct Field {
        var text = ""
        var escaped = false
    }

    static func split(_ line: Substring) -> [Field] {
        var fields: [Field] = [Field()]
        var iterator = line.makeIterator()
        while let ch = iterator.next() {
            if ch == "\\" {
                if let next = iterator.next() {
                    fields[fields.count - 1].text.append(next)
                    fields[fields.count - 1].escaped = true
                }
            } else if ch == ":" && fields.count < 5 {
                fields.append(Field())
            } else {
                fields[fields.count - 1].text.append(ch)
            }
        }
        return fields
    }
}
