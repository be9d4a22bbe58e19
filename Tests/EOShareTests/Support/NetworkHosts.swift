import Foundation

/// Other "hosts" on this machine for the tests: network namespaces (`ip netns`), each joined
/// to the machine by a veth pair on a /30 of its own, 10.(200+k).n.0 with the machine at .1
/// and the namespace at .2. A process started in one reaches the machine's services only
/// over that link, as a worker on another host would (never over loopback). Needs root, as
/// CI has; removed on `remove()`.
struct NetworkHosts {
    /// The namespaces' names, and for each, the machine's address on its link and its own.
    let names: [String]
    let machineAddresses: [String]
    let hostAddresses: [String]

    static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    struct Failed: Error, CustomStringConvertible { var description: String }

    init(count: Int) throws {
        guard let ip = Self.ip else { throw Failed(description: "no `ip` (iproute2): make deps installs it") }
        // Unique per test process, so that test runs on one machine never share a link.
        let tag = Int(getpid()) % 100_000
        let second = 200 + tag % 8
        var names: [String] = []
        var machine: [String] = []
        var host: [String] = []
        for n in 0..<count {
            let name = "eoshare-\(tag)-\(n)"
            let (outer, inner) = ("eo\(tag)m\(n)", "eo\(tag)h\(n)")
            let subnet = "10.\(second).\((tag / 8) % 64 * 4 + n).0"
            let (a, b) = (subnet.dropLast() + "1", subnet.dropLast() + "2")
            try? Self.run(ip, ["netns", "del", name])
            try? Self.run(ip, ["link", "del", outer])
            try Self.run(ip, ["netns", "add", name])
            names.append(name)
            try Self.run(ip, ["link", "add", outer, "type", "veth", "peer", "name", inner])
            try Self.run(ip, ["link", "set", inner, "netns", name])
            try Self.run(ip, ["addr", "add", "\(a)/30", "dev", outer])
            try Self.run(ip, ["link", "set", outer, "up"])
            try Self.run(ip, ["netns", "exec", name, ip, "addr", "add", "\(b)/30", "dev", inner])
            try Self.run(ip, ["netns", "exec", name, ip, "link", "set", inner, "up"])
            try Self.run(ip, ["netns", "exec", name, ip, "link", "set", "lo", "up"])
            machine.append(String(a))
            host.append(String(b))
        }
        self.names = names
        machineAddresses = machine
        hostAddresses = host
    }

    /// A process that runs `executable` in namespace `n`.
    func process(in n: Int, _ executable: URL, _ arguments: [String]) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.ip!)
        p.arguments = ["netns", "exec", names[n], executable.path] + arguments
        return p
    }

    /// Removes the namespaces (their veth pairs go with them).
    func remove() {
        for name in names { try? Self.run(Self.ip!, ["netns", "del", name]) }
    }

    static func run(_ executable: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw Failed(description: "ip \(arguments.joined(separator: " ")): \(message)")
        }
    }
}
