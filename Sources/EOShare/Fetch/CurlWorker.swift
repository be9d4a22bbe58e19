import Dispatch
import Foundation

/// Runs blocking libcurl transfers off the Swift concurrency pool: each worker owns one
/// easy handle (so connections are reused) and a serial queue on which alone it is touched.
final class CurlWorker: @unchecked Sendable {
    // @unchecked: `easy` is only ever used inside `queue.async` blocks of this serial queue.
    private let easy = CurlEasy()
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: "eoshare.curl.\(label)")
    }

    /// Performs the transfer on the worker's queue; `sink` runs there too.
    func perform(_ request: TransferRequest, sink: @escaping @Sendable (UnsafeRawBufferPointer) -> Bool) async throws(TransferError)
        -> TransferResult
    {
        let result: Result<TransferResult, TransferError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(TransferError) {
                    continuation.resume(returning: .success(try self.easy.perform(request, sink: sink)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Fetches a small body (listing page, index file, sidecar) into memory, capped at `limit`.
    func fetchSmall(_ request: TransferRequest, limit: Int64) async throws(TransferError) -> (TransferResult, [UInt8]) {
        let buffer = ByteBuffer()
        var req = request
        req.maxBytes = limit
        let result = try await perform(req) { bytes in
            buffer.append(bytes)
            return true
        }
        return (result, buffer.bytes)
    }
}

/// Bytes collected by a transfer's sink; touched only on the owning worker's queue and read
/// after the transfer completed.
final class ByteBuffer: @unchecked Sendable {
    // @unchecked: appended only on one CurlWorker queue during the transfer, read after it ended.
    var bytes: [UInt8] = []
    func append(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
}
