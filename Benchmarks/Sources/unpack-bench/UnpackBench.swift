import BenchSupport
import EOShare
import Foundation

/// The unpack stage against the system tools, in the same run, on the same files:
///
/// 1. gunzip of a realistic 1 GiB (uncompressed) file — a Landsat-like 16-bit band with its
///    metadata, compressed by `gzip -6` — against `gzip -dc > file`;
/// 2. a `.tar.gz` of 2,000 files (100 product bundles of 20 files, made by `tar czf`)
///    against `tar xzf`;
/// 3. peak resident memory above idle while unpacking a 4 GiB gzip stream (and the tar.gz),
///    each measured in a fresh child process (VmHWM after a clear_refs reset).
///
/// Sizes: EOSHARE_BENCH_GUNZIP_MIB (1024), EOSHARE_BENCH_TAR_FILES (2000),
/// EOSHARE_BENCH_STREAM_GIB (4), EOSHARE_BENCH_RUNS (3). Inputs are made in
/// EOSHARE_BENCH_DIR (/tmp/eoshare-unpack-bench) and removed at the end unless
/// EOSHARE_BENCH_KEEP=1 (then the next run reuses them).
@main
struct UnpackBench {
    static let environment = ProcessInfo.processInfo.environment
    static let limits = UnpackLimits(maxObjectBytes: 1 << 40, maxExpansionRatio: 200)

    static func main() throws {
        let arguments = CommandLine.arguments
        if arguments.count == 4 && arguments[1] == "probe-memory" {
            try probeMemory(path: arguments[2], name: arguments[3])
            return
        }
        let gunzipBytes = Int64(environment["EOSHARE_BENCH_GUNZIP_MIB"].flatMap(Int64.init) ?? 1024) << 20
        let tarFiles = environment["EOSHARE_BENCH_TAR_FILES"].flatMap(Int.init) ?? 2000
        let streamBytes = Int64(environment["EOSHARE_BENCH_STREAM_GIB"].flatMap(Int64.init) ?? 4) << 30
        let runs = environment["EOSHARE_BENCH_RUNS"].flatMap(Int.init) ?? 3
        let folder = URL(fileURLWithPath: environment["EOSHARE_BENCH_DIR"] ?? "/tmp/eoshare-unpack-bench")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer {
            if environment["EOSHARE_BENCH_KEEP"] != "1" { try? FileManager.default.removeItem(at: folder) }
        }

        print("unpack benchmark in \(folder.path) (\(runs) runs each, median; the tools run in the same script)")
        let scene = try Inputs.scene(bytes: gunzipBytes, in: folder)
        let bundle = try Inputs.bundle(files: tarFiles, in: folder)

        // 1. gunzip
        let sceneOut = folder.appendingPathComponent("scene.out").path
        var ours: [Timing] = []
        var gzip: [Timing] = []
        for _ in 0..<runs {
            removeItem(sceneOut)
            ours.append(
                try time {
                    let result = try Unpacking(limits: limits).unpack(
                        file: scene.gz.path,
                        name: "scene.raw.gz",
                        into: sceneOut
                    )
                    guard case .files(let files) = result, files.count == 1, files[0].sha256 == scene.sha256 else {
                        fatalError("gunzip output differs from the original")
                    }
                }
            )
            removeItem(sceneOut)
            gzip.append(try time(children: true) { try shell("gzip -dc '\(scene.gz.path)' > '\(sceneOut)'") })
        }
        removeItem(sceneOut)
        report(
            "gunzip \(mib(scene.rawBytes)) MiB (\(mib(scene.gzBytes)) MiB gz)",
            bytes: scene.rawBytes,
            ours: ours,
            reference: gzip,
            referenceName: "gzip -dc",
            target: 0.95
        )

        // 2. tar.gz
        let bundleOut = folder.appendingPathComponent("bundle.out").path
        ours = []
        var tar: [Timing] = []
        for _ in 0..<runs {
            removeItem(bundleOut)
            ours.append(
                try time {
                    let result = try Unpacking(limits: limits).unpack(
                        file: bundle.tgz.path,
                        name: "bundle.tar.gz",
                        into: bundleOut
                    )
                    guard case .files(let files) = result, files.count == bundle.files else {
                        fatalError("tar.gz unpacked to the wrong number of files")
                    }
                }
            )
            removeItem(bundleOut)
            try FileManager.default.createDirectory(atPath: bundleOut, withIntermediateDirectories: true)
            tar.append(try time(children: true) { try shell("tar xzf '\(bundle.tgz.path)' -C '\(bundleOut)'") })
        }
        removeItem(bundleOut)
        report(
            "tar.gz of \(bundle.files) files, \(mib(bundle.tarBytes)) MiB (\(mib(bundle.tgzBytes)) MiB gz)",
            bytes: bundle.tarBytes,
            ours: ours,
            reference: tar,
            referenceName: "tar xzf",
            target: 0.9
        )

        // 3. memory on a long stream: the scene's gzip members, one after another.
        let stream = folder.appendingPathComponent("stream.gz")
        let copies = Int((streamBytes + scene.rawBytes - 1) / scene.rawBytes)
        if !FileManager.default.fileExists(atPath: stream.path) {
            try shell("for i in $(seq \(copies)); do cat '\(scene.gz.path)'; done > '\(stream.path)'")
        }
        let streamProbe = try childProbe(path: stream.path, name: "stream.gz")
        print(
            String(
                format:
                    "  peak memory, %d MiB gzip stream (%d members): %.1f MiB above idle (idle %.1f MiB, %.1f s)"
                    + "  [target < 32 MiB]",
                mib(scene.rawBytes * Int64(copies)),
                copies,
                streamProbe.aboveIdle / 1_048_576,
                streamProbe.idle / 1_048_576,
                streamProbe.seconds
            )
        )
        let bundleProbe = try childProbe(path: bundle.tgz.path, name: "bundle.tar.gz")
        print(
            String(
                format: "  peak memory, tar.gz of %d files:            %.1f MiB above idle (idle %.1f MiB, %.1f s)",
                bundle.files,
                bundleProbe.aboveIdle / 1_048_576,
                bundleProbe.idle / 1_048_576,
                bundleProbe.seconds
            )
        )
        if environment["EOSHARE_BENCH_KEEP"] == "1" { print("inputs kept in \(folder.path)") }
    }

    /// In a fresh child: unpack one file, print the resident memory it took above idle.
    static func probeMemory(path: String, name: String) throws {
        let output = path + ".probe.out"
        removeItem(output)
        let idle = Memory.currentRSS()
        Memory.resetPeak()
        let seconds = try time { _ = try Unpacking(limits: limits).unpack(file: path, name: name, into: output) }.wall
        let peak = Memory.peakRSS()
        removeItem(output)
        print("\(peak - idle) \(idle) \(seconds)")
    }

    static func childProbe(path: String, name: String) throws -> (aboveIdle: Double, idle: Double, seconds: Double) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["probe-memory", path, name]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
        guard process.terminationStatus == 0, fields.count == 3 else { fatalError("memory probe failed: \(text)") }
        return (fields[0], fields[1], fields[2])
    }

    /// Wall-clock seconds, and the CPU seconds (user + system) this process or its children
    /// spent: on a shared machine the second tells what the work costs when the first is noisy.
    struct Timing {
        var wall: Double
        var cpu: Double
    }

    static func report(
        _ what: String,
        bytes: Int64,
        ours: [Timing],
        reference: [Timing],
        referenceName: String,
        target: Double
    ) {
        let (o, r) = (median(ours.map(\.wall)), median(reference.map(\.wall)))
        let (oc, rc) = (median(ours.map(\.cpu)), median(reference.map(\.cpu)))
        print("  \(what)")
        print(
            String(
                format: "    eoshare   %6.2f s  %7.1f MiB/s  cpu %6.2f s   wall runs %@",
                o,
                Double(bytes) / o / 1_048_576,
                oc,
                list(ours.map(\.wall))
            )
        )
        print(
            String(
                format: "    %@ %6.2f s  %7.1f MiB/s  cpu %6.2f s   wall runs %@",
                referenceName.padding(toLength: 9, withPad: " ", startingAt: 0),
                r,
                Double(bytes) / r / 1_048_576,
                rc,
                list(reference.map(\.wall))
            )
        )
        print(
            String(
                format: "    ratio eoshare / %@: %.3f wall-clock throughput [target >= %.2f]; %.3f per CPU second",
                referenceName,
                r / o,
                target,
                rc / oc
            )
        )
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    static func list(_ values: [Double]) -> String { values.map { String(format: "%.2f", $0) }.joined(separator: " ") }
    static func mib(_ bytes: Int64) -> Int { Int(bytes >> 20) }

    static func time(children: Bool = false, _ body: () throws -> Void) throws -> Timing {
        func cpu() -> Double {
            var usage = rusage()
            getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
                + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        let (start, startCPU) = (DispatchTime.now().uptimeNanoseconds, cpu())
        try body()
        return Timing(wall: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, cpu: cpu() - startCPU)
    }

    static func shell(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { fatalError("failed: \(command)") }
    }

    static func removeItem(_ path: String) { try? FileManager.default.removeItem(atPath: path) }
}
