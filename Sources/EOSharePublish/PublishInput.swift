import EOShareCore
import EOShareEmbargo
import EOShareFetch
import EOShareNormalize
import EOShareState
import Foundation

/// What the publish stage takes: an object's records, or an object that left the chain
/// before it had any.
public enum PublishInput: Sendable {
    case records(NormalizedObject)
    case settled(Settled)
}

/// An object that leaves the stage chain early, on the outcome channel straight to the
/// publish stage, which alone records it.
public enum Settled: Sendable {
    /// Not modified since the last run; `remember` is what the state should keep of it now.
    case unchanged(ObjectRef, remember: StoredObject?)
    /// Refused while fetching, with the bytes that arrived when they are the evidence.
    case refused(ObjectRef, reason: String, evidence: RefusedBytes?)
    /// Arrived whole and verified, but could not be unpacked or normalized.
    case rejected(FetchedObject, Rejection)
}

/// Why a stage rejected a whole object, rendered as one line: `unpack: <cause>`.
public struct Rejection: Error, Sendable, CustomStringConvertible {
    public enum Stage: String, Sendable {
        case unpack, normalize
    }
    public var stage: Stage
    public var cause: any Error

    public init(_ stage: Stage, _ cause: any Error) {
        self.stage = stage
        self.cause = cause
    }

    public var description: String { "\(stage.rawValue): \(cause)" }
}
