import EOShareCore
import EOShareState
import Foundation
import Logging

/// Why fetching an object (or a listing) failed, in one line that names no credential.
package struct FetchError: Error, CustomStringConvertible, Equatable {
    package var description: String
    /// The HTTP status that ended it, when a server refused (404 tells "no such sidecar").
    package var status: Int?
    /// libcurl's error code that ended it, when the transfer itself failed.
    package var curlCode: Int?
    package init(_ description: String, status: Int? = nil, curlCode: Int? = nil) {
        self.description = description
        self.status = status
        self.curlCode = curlCode
    }
}

/// One object's transfer across attempts: what the next attempt asks for (the whole object,
/// or the rest after the verified prefix), and what the end of an attempt means (done,
/// retry after a delay, or fail with a precise reason).
///
/// A resumed attempt counts only when the server answers 206 at the resume point with the
/// same total and the same validator (`If-Range`); the transfer checks the first two, the
/// server the third (a changed object gets a 200, which starts over at byte 0).
package struct DownloadMachine {
    package enum State: Equatable {
        /// The next attempt asks for the whole object.
        case fresh
        /// The next attempt asks for the bytes after the kept, verified prefix.
        case resuming(ResumePoint)
        case done
        case failed(String)
    }

    /// What to do after an attempt.
    package enum Step: Equatable {
        case done
        case retry(after: Double)
        case fail(FetchError)
    }

    private(set) var state = State.fresh
    private(set) var attempts = 0
    package let retries: Int
    package let resumable: Bool
    package let backoff: Backoff
    /// The object's URL; messages name it redacted.
    package let url: URL
    private var what: String { Redact.url(url) }

    package init(retries: Int, resumable: Bool, backoff: Backoff, url: URL) {
        self.retries = retries
        self.resumable = resumable
        self.backoff = backoff
        self.url = url
    }

    package var resumePoint: ResumePoint? {
        switch state {
        case .resuming(let point): point
        case .fresh, .done, .failed: nil
        }
    }

    /// Takes the end of one attempt; `kept` is how many verified bytes the sink now holds.
    package mutating func attemptEnded(_ result: TransferResult, kept: Int64) -> Step {
        switch state {
        case .fresh, .resuming:
            break
        case .done, .failed:
            preconditionFailure("attemptEnded after the download ended")
        }
        attempts += 1
        guard let failure = result.failure else {
            if result.status == 304 || result.conditionUnmet || (200..<300).contains(result.status) {
                state = .done
                return .done
            }
            if result.httpStatusIsTransient {
                // The body of an error status never reached the sink: a resume point stays valid.
                return retryOrFail("HTTP \(result.status) from \(what)", retryAfter: result.retryAfter)
            }
            return fail("HTTP \(result.status) from \(what) (refused: not retried)", status: result.status)
        }
        switch failure {
        case .curl(let code, let message, let transient):
            guard transient else { return fail("\(message) (curl \(code)) for \(what)", curlCode: code) }
            if result.bodyAccepted { state = nextResume(result, kept: kept) }
            return retryOrFail("\(message) (curl \(code)) for \(what)", retryAfter: nil, curlCode: code)
        case .rangeMismatch(let detail):
            state = .fresh
            return retryOrFail("resume refused: \(detail) for \(what)", retryAfter: nil)
        case .tooLarge(let limit, let announced):
            let size = announced.map { "announced \($0) bytes" } ?? "more than that arrived"
            return fail("\(what) exceeds max_object_bytes (\(limit) bytes; \(size))")
        case .sinkFailed(let detail):
            return fail("\(detail) for \(what)")
        case .cancelled:
            return fail("transfer of \(what) cancelled")
        }
    }

    /// Where an interrupted body can continue: only with a strong validator for `If-Range`,
    /// a known total, and something kept; otherwise the next attempt starts over.
    private func nextResume(_ result: TransferResult, kept: Int64) -> State {
        guard resumable, kept > 0, let total = result.announcedLength, kept < total else { return .fresh }
        if let etag = result.etag, !etag.hasPrefix("W/") {
            return .resuming(ResumePoint(offset: kept, total: total, validator: etag))
        }
        if let lastModified = result.lastModified {
            return .resuming(ResumePoint(offset: kept, total: total, validator: lastModified))
        }
        return .fresh
    }

    private mutating func retryOrFail(_ reason: String, retryAfter: Double?, curlCode: Int? = nil) -> Step {
        guard attempts <= retries else {
            return fail("\(reason); gave up after \(attempts) attempt\(attempts == 1 ? "" : "s")", curlCode: curlCode)
        }
        return .retry(after: backoff.delay(attempt: attempts, retryAfter: retryAfter))
    }

    private mutating func fail(_ reason: String, status: Int? = nil, curlCode: Int? = nil) -> Step {
        state = .failed(reason)
        return .fail(FetchError(reason, status: status, curlCode: curlCode))
    }
}

/// Runs transfers to their end through a `CurlMulti`: retries with back-off, resumption
/// with `Range` where allowed, and a log line per retry (URLs redacted).
package struct Downloader: Sendable {
    package let transfers: CurlMulti
    package let limits: Limits
    package let logger: Logger

    /// Transfers `request` into `sink` until it completes or fails for good.
    package func run(
        _ request: TransferRequest,
        into sink: any TransferSink,
        resumable: Bool
    ) async
        -> Result<TransferResult, FetchError>
    {
        var machine = DownloadMachine(
            retries: limits.retries,
            resumable: resumable && request.isHTTP,
            backoff: limits.backoff,
            url: request.url
        )
        while true {
            var attempt = request
            attempt.resume = machine.resumePoint
            var result = await transfers.perform(attempt, sink: sink)
            if !sink.complete(), result.failure == nil {
                result.failure = .sinkFailed("the bytes could not be written to the work file")
            }
            switch machine.attemptEnded(result, kept: sink.count) {
            case .done:
                return .success(result)
            case .fail(let error):
                return .failure(error)
            case .retry(let delay):
                let resume = machine.resumePoint.map { " from byte \($0.offset)" } ?? ""
                let what = Redact.url(request.url)
                logger.info(
                    "retrying \(what) in \(String(format: "%.2f", delay)) s\(resume) (attempt \(machine.attempts + 1))"
                )
                do {
                    try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                } catch {
                    return .failure(FetchError("transfer of \(what) cancelled"))
                }
            }
        }
    }

    /// A small body (listing, index, sidecar) in memory, capped at `limit` bytes.
    package func fetchSmall(
        _ request: TransferRequest,
        limit: Int64
    ) async -> Result<(TransferResult, [UInt8]), FetchError> {
        var small = request
        small.maxBytes = limit
        let sink = MemorySink()
        return await run(small, into: sink, resumable: false).map { ($0, sink.bytes) }
    }
}
