import Foundation
import Imaging
import PipelineProtocol
import RegionSpot
import ZeroMQ

/// A failed call to a running pipeline: the daemon's status, or no answer at all.
public enum PipelineClientError: Error, CustomStringConvertible, Equatable {
    /// The daemon answered with this status.
    case status(Regionspot_V1_Code, String)
    /// No reply after every attempt.
    case noReply(endpoint: String, attempts: Int, timeoutMilliseconds: Int)
    case malformedReply(String)

    public var description: String {
        switch self {
        case let .status(code, message): "\(code.name): \(message)"
        case let .noReply(endpoint, attempts, timeout): "\(endpoint): no reply after \(attempts) attempts of \(timeout) ms each"
        case let .malformedReply(reason): "malformed reply: \(reason)"
        }
    }
}

extension Regionspot_V1_Code {
    /// The canonical name ("INVALID_ARGUMENT").
    public var name: String {
        switch self {
        case .ok: "OK"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .unimplemented: "UNIMPLEMENTED"
        case .internal: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .unauthenticated: "UNAUTHENTICATED"
        default: "code \(rawValue)"
        }
    }
}

/// A client of `regionspot serve` that front ends use as they would the in-process engine. A
/// request with `proposals` asks the daemon for PROPOSALS_SAM: its generator runs with the
/// daemon's pipeline file's parameters (`proposals:`), whatever options the request holds.
///
/// Each call retries the Lazy Pirate way: a REQ socket waits `timeoutMilliseconds` for the reply;
/// without one it is closed and a new socket sends the same request (same `request_id`, which the
/// daemon treats as idempotent), up to `retries` more times. Calls block; any thread may make them.
public final class PipelineClient: Recognizing {
    public let endpoint: String
    public let timeoutMilliseconds: Int
    public let retries: Int
    private let context: ZMQContext
    private let curve: CurveSecurity?

    /// `context` is needed for an inproc endpoint (the daemon's own); by default the client has its own.
    /// `curve`: the client's CURVE settings for a daemon that requires them.
    public init(endpoint: String, context: ZMQContext? = nil, timeoutMilliseconds: Int = 30_000, retries: Int = 2,
                curve: CurveSecurity? = nil) throws {
        self.endpoint = endpoint
        self.timeoutMilliseconds = timeoutMilliseconds
        self.retries = retries
        self.curve = curve
        self.context = try context ?? ZMQContext()
    }

    /// As `Recognizing` asks it: the daemon gets as long as the client waits for each attempt.
    public func recognize(_ request: RecognitionRequest) throws -> Recognition {
        try recognize(request, deadlineMilliseconds: timeoutMilliseconds)
    }

    /// `deadlineMilliseconds` nil lets the daemon apply its default.
    public func recognize(_ request: RecognitionRequest, deadlineMilliseconds: Int?) throws -> Recognition {
        var message = Regionspot_V1_RecognizeRequest()
        message.requestID = UUID().uuidString
        switch request.image {
        case let .encoded(data, _): message.image = data
        case let .decoded(image): message.image = try image.encoded(as: .png)
        }
        message.boxes = request.boxes.enumerated().map { Regionspot_V1_Box($1, score: request.boxScores?[$0]) }
        message.vocabulary = request.vocabulary
        message.topK = UInt32(max(1, request.topK))
        message.masks = request.masks
        // The daemon's generator runs with its pipeline file's parameters, not the request's.
        if request.proposals != nil { message.proposals = .sam }
        if let deadlineMilliseconds { message.deadlineMs = UInt32(deadlineMilliseconds) }
        var envelope = Regionspot_V1_Request()
        envelope.recognize = message
        let reply = try call(envelope)
        guard case .recognize(let answer)? = reply.kind else { throw Self.unexpected(reply) }
        guard answer.requestID == message.requestID else {
            throw PipelineClientError.malformedReply("the reply is for request '\(answer.requestID)', not '\(message.requestID)'")
        }
        guard answer.status.code == .ok else { throw PipelineClientError.status(answer.status.code, answer.status.message) }
        guard request.proposals != nil || answer.regions.count == request.boxes.count else {
            throw PipelineClientError.malformedReply("\(answer.regions.count) regions for \(request.boxes.count) boxes")
        }
        do {
            return try Recognition(answer, vocabulary: request.vocabulary)
        } catch {
            throw PipelineClientError.malformedReply(error.message)
        }
    }

    public func health() throws -> Regionspot_V1_HealthReply {
        let reply = try call(.with { $0.health = .with { $0.requestID = UUID().uuidString } })
        guard case .health(let health)? = reply.kind else { throw Self.unexpected(reply) }
        return health
    }

    public func readiness() throws -> Regionspot_V1_ReadinessReply {
        let reply = try call(.with { $0.readiness = .with { $0.requestID = UUID().uuidString } })
        guard case .readiness(let readiness)? = reply.kind else { throw Self.unexpected(reply) }
        return readiness
    }

    /// Sends `request` and returns the daemon's reply, retrying on silence.
    public func call(_ request: Regionspot_V1_Request) throws -> Regionspot_V1_Reply {
        let bytes: [UInt8] = try request.serializedBytes()
        for _ in 0...retries {
            // A REQ socket that got no reply cannot send again: each attempt has its own.
            let socket = try ZMQSocket(context: context, type: .req)
            if let curve, CurveSecurity.applies(to: endpoint) { try socket.secure(curve) }
            try socket.connect(endpoint)
            try socket.send([bytes])
            guard try poll([(socket, .readable)], timeoutMilliseconds: timeoutMilliseconds)[0].contains(.readable) else { continue }
            let frames = try socket.receive()
            guard frames.count == 1 else { throw PipelineClientError.malformedReply("\(frames.count) frames") }
            do {
                return try Regionspot_V1_Reply(serializedBytes: frames[0])
            } catch {
                throw PipelineClientError.malformedReply("not a regionspot.v1.Reply (\(error))")
            }
        }
        throw PipelineClientError.noReply(endpoint: endpoint, attempts: retries + 1, timeoutMilliseconds: timeoutMilliseconds)
    }

    private static func unexpected(_ reply: Regionspot_V1_Reply) -> PipelineClientError {
        if case .error(let error)? = reply.kind { return .status(error.status.code, error.status.message) }
        return .malformedReply("a reply of another kind")
    }
}
