import BenchSupport
import EOShare
import Foundation
import Logging
import Synchronization

/// The fetch stage against `curl` over loopback HTTP, both served by the same nginx in the
/// same run, reported as ratios:
///
/// 1. one 1 GiB object: eoshare (streamed to a work file while SHA-256 is computed) vs `curl -o`;
/// 2. 10,000 objects of 20 KiB, 16 at once: eoshare (reading the index that lists them, as an
///    ingest run does) vs `curl --parallel --parallel-max 16` (reading a config that lists them);
/// 3. peak memory (VmHWM above idle) while eoshare fetches 16 × 256 MiB at once.
///
/// Sizes shrink with EOSHARE_BENCH_BIG_MIB, EOSHARE_BENCH_MANY, EOSHARE_BENCH_WIDE_MIB.
@main
struct FetchBench {
    static func main() async throws {
        let env = ProcessInfo.processInfo.environment
        let bigMiB = Int(env["EOSHARE_BENCH_BIG_MIB"] ?? "") ?? 1024
        let many = Int(env["EOSHARE_BENCH_MANY"] ?? "") ?? 10_000
        let wideMiB = Int(env["EOSHARE_BENCH_WIDE_MIB"] ?? "") ?? 256
        // Best of several, the clients taking turns: on a small virtual machine single runs
        // vary by 2× or more (memory the guest freed goes back to the host, and the next
        // write to fresh pages waits for the host); every run is printed too.
        let rounds = Int(env["EOSHARE_BENCH_ROUNDS"] ?? "") ?? 9
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("eoshare-fetch-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        let www = root.appendingPathComponent("www")
        // Both clients write to the same place: tmpfs when there is one, so the comparison is
        // about fetching, not about ext4 allocating inodes next to ones just deleted.
        let scratch =
            FileManager.default.fileExists(atPath: "/dev/shm")
            ? URL(fileURLWithPath: "/dev/shm/eoshare-fetch-bench-\(getpid())") : root.appendingPathComponent("scratch")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out")
        for folder in ["big", "many", "wide"] {
            try FileManager.default.createDirectory(
                at: www.appendingPathComponent(folder),
                withIntermediateDirectories: true
            )
        }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        print("preparing: 1 × \(bigMiB) MiB, \(many) × 20 KiB, 16 × \(wideMiB) MiB under \(root.path)")
        try Data.pseudoRandomFile(www.appendingPathComponent("big/big.bin"), mebibytes: bigMiB, seed: 1)
        for i in 0..<many {
            try Data.pseudoRandom(count: 20 << 10, seed: UInt64(i + 2)).write(
                to: www.appendingPathComponent("many/o\(i).bin")
            )
        }
        try Data.pseudoRandomFile(www.appendingPathComponent("wide/w0.bin"), mebibytes: wideMiB, seed: 99)
        for i in 1..<16 {
            try FileManager.default.linkItem(
                at: www.appendingPathComponent("wide/w0.bin"),
                to: www.appendingPathComponent("wide/w\(i).bin")
            )
        }

        // The 1.5 GB just written would otherwise go to disk during the first timed turns.
        sync()
        let nginx = try Nginx(root: www, folder: root.appendingPathComponent("nginx"))
        defer { nginx.stop() }
        let base = "http://127.0.0.1:\(nginx.port)"
        print("serving with \(nginx.version) on 127.0.0.1:\(nginx.port) (sendfile, keep-alive)")
        var logger = Logger(label: "fetch-bench")
        logger.logLevel = .error
        // eoshare finds the small objects as an ingest run does: listed in an index file.
        let manyURLs = (0..<many).map { URL(string: "\(base)/many/o\($0).bin")! }
        try Data(manyURLs.map { $0.absoluteString + "\n" }.joined().utf8).write(
            to: www.appendingPathComponent("many/index.txt")
        )
        let stage = try Stage(
            root: root,
            work: scratch.appendingPathComponent("work"),
            fetchWorkers: 16,
            index: "\(base)/many/index.txt",
            logger: logger
        )
        print("writing to \(scratch.path) (both clients)")

        // 1. One big object.
        let bigURL = URL(string: "\(base)/big/big.bin")!
        let bigBytes = Double(bigMiB << 20)
        let gibibytes = bigBytes / 1_073_741_824
        // One untimed transfer first, so both clients find the served file in the page cache
        // and the first timed run writes to pages just freed, as every later one does.
        _ = try Curl.time(["-o", out.appendingPathComponent("big.bin").path, bigURL.absoluteString])
        try FileManager.default.removeItem(at: out.appendingPathComponent("big.bin"))
        var eoshareBig: [Double] = []
        var curlBig: [Double] = []
        var eoshareCPU: [Double] = []
        var curlCPU: [Double] = []
        for _ in 0..<rounds {
            let cpu0 = CPU.seconds(RUSAGE_SELF)
            eoshareBig.append(try await stage.time([bigURL]))
            eoshareCPU.append(CPU.seconds(RUSAGE_SELF) - cpu0)
            try stage.clear()
            let cpu1 = CPU.seconds(RUSAGE_CHILDREN)
            curlBig.append(try Curl.time(["-o", out.appendingPathComponent("big.bin").path, bigURL.absoluteString]))
            curlCPU.append(CPU.seconds(RUSAGE_CHILDREN) - cpu1)
            try? FileManager.default.removeItem(at: out.appendingPathComponent("big.bin"))
        }
        let eoshareMBs = bigBytes / eoshareBig.min()! / 1e6
        let curlMBs = bigBytes / curlBig.min()! / 1e6

        // 2. Many small objects, 16 at once.
        let config = root.appendingPathComponent("curl-many.cfg")
        try Data(
            manyURLs.enumerated().map { "url = \"\($1.absoluteString)\"\noutput = \"\(out.path)/m\($0)\"\n" }
                .joined().utf8
        ).write(to: config)
        var eoshareMany: [Double] = []
        var curlMany: [Double] = []
        var eoshareManyCPU = 0.0
        var curlManyCPU = 0.0
        for _ in 0..<rounds {
            let cpu0 = CPU.seconds(RUSAGE_SELF)
            eoshareMany.append(try await stage.timeIndexed(expecting: many))
            eoshareManyCPU += CPU.seconds(RUSAGE_SELF) - cpu0
            try stage.clear()
            // EOSHARE_BENCH_PROFILE=1 runs only eoshare's side here (for a profiler).
            if env["EOSHARE_BENCH_PROFILE"] != nil { continue }
            let cpu1 = CPU.seconds(RUSAGE_CHILDREN)
            curlMany.append(try Curl.time(["--parallel", "--parallel-max", "16", "-K", config.path]))
            curlManyCPU += CPU.seconds(RUSAGE_CHILDREN) - cpu1
            for i in 0..<many { unlink(out.path + "/m\(i)") }
        }
        let eoshareFiles = Double(many) / eoshareMany.min()!
        let curlFiles = Double(many) / (curlMany.min() ?? .infinity)

        // 3. Peak memory while 16 large objects stream at once.
        let wideURLs = (0..<16).map { URL(string: "\(base)/wide/w\($0).bin")! }
        let idle = Memory.currentRSS()
        Memory.resetPeak()
        let wideSeconds = try await stage.time(wideURLs, keep: false)
        let peak = Memory.peakRSS()
        await stage.close()

        print("fetch benchmark (release, loopback HTTP/1.1 from nginx, best of \(rounds))")
        print(
            String(
                format: "  1 × %d MiB      eoshare %8.1f MB/s   curl -o %8.1f MB/s   ratio %.2f (target ≥ 0.90)",
                bigMiB,
                eoshareMBs,
                curlMBs,
                eoshareMBs / curlMBs
            )
        )
        print(
            String(
                format: "  %d × 20 KiB  eoshare %8.0f files/s   curl --parallel-max 16 %8.0f files/s   "
                    + "ratio %.2f (target ≥ 1.00)",
                many,
                eoshareFiles,
                curlFiles,
                eoshareFiles / curlFiles
            )
        )
        print(
            String(
                format: "  median of the %d turns' ratios (each eoshare run against the curl run after it): "
                    + "1 × %d MiB %.2f, %d × 20 KiB %.2f",
                rounds,
                bigMiB,
                Self.medianRatio(eoshareBig, curlBig),
                many,
                Self.medianRatio(eoshareMany, curlMany)
            )
        )
        print(
            String(
                format: "  16 × %d MiB at once: %.2f s, peak %.1f MiB above idle (idle %.1f MiB, peak %.1f MiB; "
                    + "target < 64)",
                wideMiB,
                wideSeconds,
                Double(peak - idle) / 1_048_576,
                Double(idle) / 1_048_576,
                Double(peak) / 1_048_576
            )
        )
        // The least of the turns too: the host's page faults add CPU time to unlucky turns.
        print(
            String(
                format: "  CPU per GiB (user+sys), mean / least: eoshare %.2f / %.2f s (receive, write, read back, "
                    + "SHA-256), curl -o %.2f / %.2f s (receive, write)",
                eoshareCPU.reduce(0, +) / Double(rounds) / gibibytes,
                eoshareCPU.min()! / gibibytes,
                curlCPU.reduce(0, +) / Double(rounds) / gibibytes,
                curlCPU.min()! / gibibytes
            )
        )
        print(
            String(
                format: "  CPU per 1000 small objects: eoshare %.3f s, curl %.3f s",
                eoshareManyCPU / Double(rounds) / Double(many) * 1000,
                curlManyCPU / Double(rounds) / Double(many) * 1000
            )
        )
        print(
            "  all runs (s): big eoshare \(eoshareBig.map(Self.short)) curl \(curlBig.map(Self.short)); "
                + "many eoshare \(eoshareMany.map(Self.short)) curl \(curlMany.map(Self.short))"
        )
    }

    static func short(_ x: Double) -> String { String(format: "%.2f", x) }

    /// The median over turns of eoshare's speed over curl's in the same turn: less at the
    /// mercy of one lucky run than the ratio of the bests.
    static func medianRatio(_ eoshare: [Double], _ curl: [Double]) -> Double {
        let ratios = zip(eoshare, curl).map { $1 / $0 }.sorted()
        guard !ratios.isEmpty else { return .nan }
        return ratios.count % 2 == 1
            ? ratios[ratios.count / 2] : (ratios[ratios.count / 2 - 1] + ratios[ratios.count / 2]) / 2
    }
}

/// eoshare's fetch stage alone: a pipeline with one HTTP source, `fetch_workers` tasks taking
/// the next URL, each fetched object verified and then deleted (as the next stage would).
struct Stage {
    let stage: FetchStage
    let source: SourceConfig
    let workers: Int
    let work: URL

    /// `index` lists the source's objects, one URL a line.
    init(root: URL, work: URL, fetchWorkers: Int, index: String, logger: Logger) throws {
        let file = root.appendingPathComponent("fetch-bench.yml")
        try Data(
            """
            version: 1
            state: state/bench.sqlite
            shared: shared/
            members: [{id: NASA}]
            collections: [{id: bench}]
            sources:
              - {id: bench, owner: NASA, collection: bench, format: landsat-mtl, url: "\(index)", index: true}
            limits: {fetch_workers: \(fetchWorkers), retries: 2}
            embargo: {rules: []}
            """.utf8
        ).write(to: file)
        let pipeline = try Pipeline.load(from: file)
        source = pipeline.sources[0]
        self.work = work
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        stage = FetchStage(
            pipeline: pipeline,
            state: try SQLiteStateStore(path: pipeline.statePath),
            workFolder: work,
            logger: logger
        )
        workers = fetchWorkers
    }

    /// Seconds to fetch every URL, `workers` at once; fails on any object not fetched. The
    /// files stay until `clear()`, as curl's do (`keep: false` removes each at once, to hold
    /// the disk use flat while measuring memory).
    func time(_ urls: [URL], keep: Bool = true) async throws -> Double {
        let refs = urls.map { ObjectRef(source: source.id, url: $0, name: $0.lastPathComponent) }
        let started = Date()
        try await fetch(refs, keep: keep)
        return Date().timeIntervalSince(started)
    }

    /// Seconds to read the source's index (what the state remembers of its objects comes
    /// with it) and fetch the `count` objects it lists.
    func timeIndexed(expecting count: Int) async throws -> Double {
        let started = Date()
        let refs = try await stage.discover(source)
        guard refs.count == count else { throw BenchError("the index lists \(refs.count) objects, not \(count)") }
        try await fetch(refs, keep: true)
        return Date().timeIntervalSince(started)
    }

    private func fetch(_ refs: [ObjectRef], keep: Bool) async throws {
        let next = Counter()
        let failures = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<min(workers, refs.count) {
                group.addTask {
                    while true {
                        let i = next.increment()
                        guard i < refs.count else { return }
                        switch await stage.fetch(refs[i]) {
                        case .fetched(let object):
                            if !keep { unlink(object.file.path) }
                        case .unchanged, .quarantined:
                            _ = failures.increment()
                        }
                    }
                }
            }
        }
        let failed = failures.increment()
        guard failed == 0 else { throw BenchError("\(failed) objects not fetched") }
    }

    /// Removes what `time` fetched (outside the measurements, as for curl's files).
    func clear() throws {
        try? FileManager.default.removeItem(at: work)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    func close() async { await stage.close() }
}

/// CPU time (user + system) of this process or of its waited-for children.
enum CPU {
    static func seconds(_ who: __rusage_who) -> Double {
        var usage = rusage()
        getrusage(who.rawValue, &usage)
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(usage.ru_utime) + s(usage.ru_stime)
    }
}

/// A shared counter for the workers: `increment` returns the value before.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// The reference client: the curl command line, its output to files.
enum Curl {
    static func time(_ arguments: [String]) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-sS", "--no-progress-meter", "--fail", "--noproxy", "*"] + arguments
        let started = Date()
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw BenchError("curl \(arguments.prefix(3)) exited \(p.terminationStatus)")
        }
        return Date().timeIntervalSince(started)
    }
}

/// nginx on 127.0.0.1 serving `root` from a private prefix; stopped with `stop()`.
final class Nginx {
    let port: Int
    let version: String
    private let process: Process

    init(root: URL, folder: URL) throws {
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("logs"),
            withIntermediateDirectories: true
        )
        let candidates = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw BenchError("nginx is not installed: `make bench` installs it (apt-get install nginx)")
        }
        port = try Self.freePort()
        let conf = folder.appendingPathComponent("nginx.conf")
        try Data(
            """
            user root;
            worker_processes 1;
            pid \(folder.path)/nginx.pid;
            error_log \(folder.path)/logs/error.log error;
            events { worker_connections 1024; }
            http {
                access_log off;
                sendfile on;
                tcp_nopush on;
                keepalive_requests 1000000;
                keepalive_timeout 60;
                client_body_temp_path \(folder.path)/body;
                proxy_temp_path \(folder.path)/proxy;
                fastcgi_temp_path \(folder.path)/fastcgi;
                uwsgi_temp_path \(folder.path)/uwsgi;
                scgi_temp_path \(folder.path)/scgi;
                types { application/octet-stream bin; }
                server {
                    listen 127.0.0.1:\(port);
                    root \(root.path);
                    autoindex on;
                }
            }
            """.utf8
        ).write(to: conf)
        let versionProcess = Process()
        versionProcess.executableURL = URL(fileURLWithPath: binary)
        versionProcess.arguments = ["-v"]
        let pipe = Pipe()
        versionProcess.standardError = pipe
        try versionProcess.run()
        versionProcess.waitUntilExit()
        version = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "nginx version: ", with: "")
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-p", folder.path, "-c", conf.path, "-g", "daemon off;"]
        try process.run()
        let deadline = Date(timeIntervalSinceNow: 10)
        while !Self.accepts(port) {
            guard Date() < deadline, process.isRunning else { throw BenchError("nginx did not start") }
            usleep(20_000)
        }
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw BenchError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Data {
    /// `count` bytes from a xorshift generator: incompressible, cheap, reproducible.
    static func pseudoRandom(count: Int, seed: UInt64) -> Data {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var data = Data(count: count)
        data.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in 0..<words.count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                words[i] = state
            }
        }
        return data
    }

    /// A file of `mebibytes` MiB written 1 MiB at a time.
    static func pseudoRandomFile(_ url: URL, mebibytes: Int, seed: UInt64) throws {
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        for i in 0..<mebibytes {
            try handle.write(contentsOf: pseudoRandom(count: 1 << 20, seed: seed &+ UInt64(i) &* 7919))
        }
    }
}
