import Foundation

// A libFuzzer target for one container reader of the unpack stage, chosen when compiling:
// -D FUZZ_TAR, -D FUZZ_ZIP or -D FUZZ_GZIP (gzip, and the tar inside it when there is one).
// Each input is written to a file in a scratch folder under /dev/shm and unpacked into the
// folder beside it with the real readers, path checks and limits, exactly as the stage
// does, then the output is removed. A refusal is a normal outcome; a crash, a hang, an
// address-sanitizer report or a leak is a finding. See Tests/Fuzz/README.md.

#if FUZZ_TAR
let format = ContainerFormat.tar
#elseif FUZZ_ZIP
let format = ContainerFormat.zip
#elseif FUZZ_GZIP
let format = ContainerFormat.gzip
#else
#error("compile with -D FUZZ_TAR, -D FUZZ_ZIP or -D FUZZ_GZIP")
#endif

/// The scratch folder of this fuzzing process (tmpfs: no disk traffic).
let scratch: String = {
    let base = ProcessInfo.processInfo.environment["EOSHARE_FUZZ_SCRATCH"] ?? "/dev/shm"
    let path = "\(base)/eoshare-fuzz-\(getpid())"
    mkdir(path, 0o755)
    atexit { removeOutput(scratch) }
    return path
}()

/// Small limits so that bombs hit them quickly; the default expansion ratio.
let unpacking = Unpacking(limits: UnpackLimits(maxObjectBytes: 8 << 20, maxExpansionRatio: 200, maxEntries: 64))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let inputPath = scratch + "/object"
    let outputPath = inputPath + ".out"
    let fd = open(inputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot write the fuzz input")
    precondition(write(fd, data, size) == size, "short write of the fuzz input")
    close(fd)
    do {
        let input = try InputFile(path: inputPath)
        let result = try unpacking.unpack(
            input,
            as: format,
            name: "object.bin",
            into: outputPath,
            buffers: UnpackBuffers()
        )
        if case .files(let files) = result {
            // Whatever was accepted must be inside the output, named as its path says.
            for file in files {
                precondition(file.url.path.hasPrefix(outputPath), "\(file.url.path) is outside \(outputPath)")
                // As bytes, the way the file system splits it (not Characters: see EntryPath).
                precondition(
                    !file.name.utf8.split(separator: UInt8(ascii: "/")).contains { $0.elementsEqual("..".utf8) },
                    "accepted name \(file.name)"
                )
            }
        }
    } catch {
        // Refused: the output must be gone.
        precondition(access(outputPath, F_OK) != 0, "output left behind after: \(error)")
    }
    removeOutput(outputPath)
    return 0
}
