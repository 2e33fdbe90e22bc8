import PipelineProtocol
import Tensors

/// The recognition requests the broker has accepted and not yet answered, each with its state:
/// decoding → localize ∥ semantic → fuse → reply. Pure state with `now` passed in; the broker
/// owns the sockets, the clock and the stage queues.
struct RequestTable {
    enum Phase: Equatable {
        /// The image is being decoded (off the broker's thread).
        case decoding
        /// Localize and semantic items are out; the results gathered so far are kept.
        case encoding
        /// The fuse item is out.
        case fusing
    }

    struct Entry {
        let key: UInt64
        /// The client's routing frames, sent back in front of the reply.
        let envelope: [[UInt8]]
        /// The request as received, without its image bytes once decoded.
        var request: Regionspot_V1_RecognizeRequest
        let receivedAt: Milliseconds
        let deadline: Milliseconds
        var phase: Phase = .decoding
        /// Live work items by stage.
        var items: [Regionspot_V1_Stage: UInt64] = [:]
        var localize: Regionspot_V1_LocalizeResult?
        var semantic: Regionspot_V1_SemanticResult?
        var imageWidth = 0, imageHeight = 0
        /// A registered vocabulary's class embeddings, when the request named one.
        var registeredClassEmbeddings: Tensor?
        var timings = Regionspot_V1_Timings()

        /// What it waits for, for DEADLINE_EXCEEDED messages.
        var waitingFor: String {
            switch phase {
            case .decoding: "the image to be decoded"
            case .encoding: items.keys.map(\.name).sorted().joined(separator: " and ")
            case .fusing: "fuse"
            }
        }
    }

    private(set) var entries: [UInt64: Entry] = [:]
    private var nextKey: UInt64 = 0

    var count: Int { entries.count }
    /// Requests whose image is still being decoded: they count against the stage queues they will join.
    var decoding: Int { entries.values.reduce(0) { $0 + ($1.phase == .decoding ? 1 : 0) } }

    /// Accepts a request received at `now` with `deadlineMilliseconds` to live; returns its key.
    mutating func add(envelope: [[UInt8]], request: Regionspot_V1_RecognizeRequest, now: Milliseconds,
                      deadlineMilliseconds: Int) -> UInt64 {
        nextKey += 1
        entries[nextKey] = Entry(key: nextKey, envelope: envelope, request: request, receivedAt: now,
                                 deadline: now + Milliseconds(deadlineMilliseconds))
        return nextKey
    }

    subscript(key: UInt64) -> Entry? {
        get { entries[key] }
        set { entries[key] = newValue }
    }

    mutating func remove(_ key: UInt64) -> Entry? { entries.removeValue(forKey: key) }

    /// The earliest deadline of any request, to bound the broker's poll.
    var nextDeadline: Milliseconds? { entries.values.map(\.deadline).min() }

    /// Removes and returns the requests whose deadline has passed at `now`, earliest first.
    mutating func expire(now: Milliseconds) -> [Entry] {
        let expired = entries.values.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
        for entry in expired { entries[entry.key] = nil }
        return expired
    }
}
