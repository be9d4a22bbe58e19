import EOShareCore
import EOShareState
import Foundation
import Synchronization

/// A `.netrc` file's logins, read by eoshare rather than by libcurl: libcurl looks the file
/// up again for every host a redirect leads to (by host name alone, whatever the port), so
/// its netrc would send a password where the source's credentials do not belong. Read here,
/// the login goes to libcurl as `user:password`, which it never sends to another origin.
package struct Netrc: Sendable, Equatable {
    package struct Login: Sendable, Equatable {
        package var user: String
        package var password: String?
    }

    package var machines: [(host: String, login: Login)] = []
    package var fallback: Login?

    package static func == (a: Netrc, b: Netrc) -> Bool {
        a.fallback == b.fallback && a.machines.elementsEqual(b.machines) { $0.host == $1.host && $0.login == $1.login }
    }

    /// The login for `host`: its first `machine` entry, else the `default` entry.
    package func login(for host: String) -> Login? {
        let host = host.lowercased()
        return machines.first { $0.host == host }?.login ?? fallback
    }

    /// Parses netrc text as libcurl does: whitespace-separated tokens (double quotes around
    /// one with spaces), `machine NAME` or `default` starts an entry, `login` and `password`
    /// fill it, `macdef` skips its macro up to the next empty line.
    package init(parsing text: String) {
        enum Entry {
            case none
            case machine(String)
            case fallback
        }
        var entry = Entry.none
        var user: String?
        var password: String?
        func close() {
            if let user {
                switch entry {
                case .machine(let host): machines.append((host, Login(user: user, password: password)))
                case .fallback: if fallback == nil { fallback = Login(user: user, password: password) }
                case .none: break
                }
            }
            (entry, user, password) = (.none, nil, nil)
        }
        // A keyword (`machine`, `login`, `password`, `account`) waiting for its value, which
        // may be on a later line.
        var pending: String?
        var inMacro = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if inMacro {
                // A macro's body runs to the next empty line.
                if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { inMacro = false }
                continue
            }
            for token in Self.tokens(line) {
                if let keyword = pending {
                    pending = nil
                    switch keyword {
                    case "machine":
                        close()
                        entry = .machine(token.lowercased())
                    case "login": user = token
                    case "password": password = token
                    default: break
                    }
                    continue
                }
                if ["machine", "login", "password", "account"].contains(token) {
                    pending = token
                } else if token == "default" {
                    close()
                    entry = .fallback
                } else if token == "macdef" {
                    inMacro = true
                    break
                }
            }
        }
        close()
    }

    private static func tokens(_ line: Substring) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        var inToken = false
        var escaped = false
        for c in line {
            if quoted {
                if escaped {
                    current.append(c)
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    quoted = false
                } else {
                    current.append(c)
                }
            } else if c == " " || c == "\t" || c == "\r" {
                if inToken { out.append(current) }
                (current, inToken) = ("", false)
            } else if c == "\"", !inToken {
                (quoted, inToken) = (true, true)
            } else {
                current.append(c)
                inToken = true
            }
        }
        if inToken { out.append(current) }
        return out
    }

    /// The file `$NETRC` names, else `~/.netrc`; nil when there is none to read.
    package static func load(environment: [String: String]) -> Netrc? {
        guard let path = environment["NETRC"] ?? environment["HOME"].map({ $0 + "/.netrc" }),
            let data = FileManager.default.contents(atPath: path)
        else { return nil }
        return Netrc(parsing: String(decoding: data, as: UTF8.self))
    }
}

/// The netrc of a run, read once, when the first source that uses it makes a request.
package final class NetrcCache: Sendable {
    private let environment: [String: String]
    private let loaded = Mutex<Netrc??>(nil)

    package init(environment: [String: String]) { self.environment = environment }

    package var netrc: Netrc? {
        loaded.withLock { loaded in
            if let netrc = loaded { return netrc }
            let netrc = Netrc.load(environment: environment)
            loaded = .some(netrc)
            return netrc
        }
    }
}
