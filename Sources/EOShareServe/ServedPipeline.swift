import EOShare
import Foundation

/// The pipeline file, the policy and the token file as the server currently knows them.
/// They are re-read when SIGHUP asks, or when either file changed (its inode, size or
/// modification time: one `stat` each per request), so a hold or a policy change applies from
/// the next request on. A file that no longer loads stops every answer (503) until it is
/// mended: serving the old policy could show what a new hold withholds.
public final class ServedPipeline: @unchecked Sendable {
    public struct Snapshot: Sendable {
        public var pipeline: Pipeline
        public var engine: EmbargoEngine
        public var tokens: TokenFile
        /// Which reading of the files this is: a new one for every re-read, so what was
        /// derived from an older policy (kept extents) is not reused.
        public var generation: Int
    }

    private static let generations = Generations()

    /// A counter shared by every ServedPipeline of the process.
    private final class Generations: @unchecked Sendable {
        private let lock = NSLock()
        private var last = 0
        func next() -> Int {
            lock.withLock {
                last += 1
                return last
            }
        }
    }

    struct Signature: Equatable {
        var inode: UInt64
        var size: Int64
        var seconds: Int
        var nanoseconds: Int

        init?(_ path: String) {
            var s = stat()
            guard stat(path, &s) == 0 else { return nil }
            inode = UInt64(s.st_ino)
            size = Int64(s.st_size)
            seconds = Int(s.st_mtim.tv_sec)
            nanoseconds = Int(s.st_mtim.tv_nsec)
        }
    }

    let file: URL
    private let lock = NSLock()
    private var current: Result<Snapshot, LoadError>
    private var signatures: [Signature?]
    private var reloadRequested = false
    /// Called with a line to log when the files are re-read (or fail to be).
    let log: @Sendable (String) -> Void

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Loads the pipeline and its token file; throws when either is invalid (at start-up an
    /// invalid file is the operator's to fix, before anything is served).
    public init(file: URL, log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.file = file
        self.log = log
        let snapshot = try Self.load(file)
        current = .success(snapshot)
        signatures = Self.signatures(file, snapshot.pipeline)
    }

    static func load(_ file: URL) throws -> Snapshot {
        let pipeline = try Pipeline.load(from: file)
        var tokens = TokenFile()
        if let url = pipeline.serve?.tokens {
            tokens = try TokenFile.load(url, members: Set(pipeline.members.map(\.id)))
        }
        return Snapshot(
            pipeline: pipeline,
            engine: EmbargoEngine(policy: pipeline.policy, members: pipeline.members.map(\.id)),
            tokens: tokens,
            generation: generations.next()
        )
    }

    static func signatures(_ file: URL, _ pipeline: Pipeline?) -> [Signature?] {
        [Signature(file.path)] + (pipeline?.serve?.tokens.map { [Signature($0.path)] } ?? [])
    }

    /// Asks for a re-read at the next request (SIGHUP).
    public func requestReload() {
        lock.lock()
        reloadRequested = true
        lock.unlock()
    }

    /// The snapshot to answer the current request with.
    public func snapshot() -> Result<Snapshot, LoadError> {
        lock.lock()
        defer { lock.unlock() }
        let pipeline = try? current.get().pipeline
        var now = Self.signatures(file, pipeline)
        if case .failure = current {
            // The token file's path is not known while the pipeline does not load.
            now = Array(now.prefix(1))
        }
        guard reloadRequested || now != signatures else { return current }
        reloadRequested = false
        do {
            let snapshot = try Self.load(file)
            current = .success(snapshot)
            signatures = Self.signatures(file, snapshot.pipeline)
            log("re-read \(file.path): \(snapshot.pipeline.members.count) members, policy and tokens in force")
        } catch {
            current = .failure(LoadError(description: "\(error)"))
            signatures = now
            log("cannot re-read \(file.path), answering 503 until it is mended: \(error)")
        }
        return current
    }
}
