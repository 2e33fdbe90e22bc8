import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// What a poll waits for on a socket, and what it found.
public struct ZMQPollEvents: OptionSet, Sendable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// A whole message can be received without blocking.
    public static let readable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent without blocking.
    public static let writable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLOUT))
}

/// Waits until one of `sockets` has one of the events asked for it, or `timeoutMilliseconds`
/// pass (-1 waits forever, 0 only looks). Returns what each socket has, in the same order;
/// all empty on a timeout. An interrupted wait (EINTR) resumes for the time that is left.
public func poll(_ sockets: [(socket: ZMQSocket, events: ZMQPollEvents)], timeoutMilliseconds: Int) throws -> [ZMQPollEvents] {
    var items = sockets.map { zmq_pollitem_t(socket: $0.socket.handle, fd: 0, events: $0.events.rawValue, revents: 0) }
    let deadline = ContinuousClock.now + .milliseconds(max(0, timeoutMilliseconds))
    var timeout = timeoutMilliseconds
    while zmq_poll(&items, Int32(items.count), timeout) == -1 {
        let code = zmq_errno()
        guard code == EINTR else { throw code == ETERM ? ZMQError.terminated : ZMQError.failed(function: "zmq_poll", errno: code) }
        if timeoutMilliseconds > 0 { timeout = millisecondsLeft(until: deadline) }
    }
    return items.map { ZMQPollEvents(rawValue: $0.revents) }
}

/// Whole milliseconds from now to `deadline`, 0 once it has passed.
func millisecondsLeft(until deadline: ContinuousClock.Instant) -> Int {
    let left = (deadline - .now).components
    return max(0, Int(left.seconds) * 1000 + Int(left.attoseconds / 1_000_000_000_000_000))
}
