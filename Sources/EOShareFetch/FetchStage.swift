import EOShareCore
import EOShareState
import Foundation
import Logging
import Synchronization

/// The fetch stage of one run: discovery and verified fetching of a pipeline's sources,
/// every transfer through one libcurl multi handle on its own thread, `fetch_workers` at
/// once. The ingest run drives it; the benchmarks use it alone.
public final class FetchStage: Sendable {
    private let transfers: CurlMulti
    let settings: FetchSettings
    let downloader: Downloader
    private let sources: [String: SourceConfig]
    private let state: any StateStore
    /// The work folder's path, joined as text to each work file's name.
    private let workPath: String
    /// What the state remembers of each object discovered and not yet fetched (nil: nothing),
    /// read a chunk of discovered objects at a time.
    private let remembered = Mutex<[String: StoredObject?]>([:])

    /// `workFolder` receives the fetched files; the next stage takes them from there.
    public init(pipeline: Pipeline, state: any StateStore, workFolder: URL, logger: Logger) {
        transfers = CurlMulti(maxTransfers: pipeline.limits.fetchWorkers)
        settings = FetchSettings(limits: pipeline.limits, environment: pipeline.environment, logger: logger)
        downloader = Downloader(transfers: transfers, limits: pipeline.limits, logger: logger)
        sources = Dictionary(uniqueKeysWithValues: pipeline.sources.map { ($0.id, $0) })
        self.state = state
        self.workPath = workFolder.path
    }

    /// The objects `source` offers (listing, index or the one object), filtered by `match`,
    /// handed to `each` one at a time. What the state remembers of them is read a chunk at a
    /// time, just before they are handed on, so it is held for a few objects, not a listing;
    /// not at all when `fetching` is false (the objects go to the work that workers share).
    public func discover(
        _ source: SourceConfig,
        fetching: Bool = true,
        each: (ObjectRef) async -> Void
    ) async throws(DiscoveryError) {
        try await Discovery(downloader: downloader, settings: settings).discover(source) { refs in
            if fetching { await remember(refs.map(\.url.absoluteString)) }
            for ref in refs { await each(ref) }
        }
    }

    /// Reads what the state remembers of objects about to be fetched, in one go.
    public func remember(_ urls: [String]) async {
        guard let known = try? await state.objects(urls: urls) else { return }
        remembered.withLock { remembered in
            for url in urls { remembered[url] = .some(known[url]) }
        }
    }

    /// Every object `source` offers at once (benchmarks; a worker that needs the listing's
    /// objects again).
    public func discover(_ source: SourceConfig, fetching: Bool = true) async throws(DiscoveryError) -> [ObjectRef] {
        var all: [ObjectRef] = []
        try await discover(source, fetching: fetching) { all.append($0) }
        return all
    }

    /// Fetches and verifies one object of a source of this pipeline.
    public func fetch(_ ref: ObjectRef) async -> FetchOutcome {
        guard let source = sources[ref.source] else {
            return .quarantined(ref, reason: "no source '\(ref.source)' in the pipeline", evidence: nil)
        }
        let url = ref.url.absoluteString
        var known = remembered.withLock { $0.removeValue(forKey: url) }
        if known == nil { known = .some(try? await state.object(url: url)) }
        let fetcher = Fetcher(downloader: downloader, source: source, settings: settings, workPath: workPath)
        return await fetcher.fetch(ref, known: known ?? nil)
    }

    /// Ends the transfer thread after cleaning up every libcurl handle.
    public func close() async { await transfers.close() }
}
