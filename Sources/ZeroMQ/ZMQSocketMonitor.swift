import CZeroMQ
import Foundation

/// Connection events libzmq reports for a socket: peers connecting, leaving, failing handshakes.
public struct ZMQSocketEvent: Sendable, Equatable, CustomStringConvertible {
    public struct Kind: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        public static let connected = Kind(rawValue: UInt16(ZMQ_EVENT_CONNECTED))
        public static let listening = Kind(rawValue: UInt16(ZMQ_EVENT_LISTENING))
        public static let accepted = Kind(rawValue: UInt16(ZMQ_EVENT_ACCEPTED))
        public static let closed = Kind(rawValue: UInt16(ZMQ_EVENT_CLOSED))
        /// The connection broke: the peer left, or was cut off (an oversized frame, a missed heartbeat).
        public static let disconnected = Kind(rawValue: UInt16(ZMQ_EVENT_DISCONNECTED))
        public static let handshakeSucceeded = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
        public static let handshakeFailedNoDetail = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
        /// The peer broke the ZMTP protocol: wrong security mechanism, undecryptable CURVE handshake…
        public static let handshakeFailedProtocol = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL))
        /// The ZAP handler refused the peer; `value` is its status code (400).
        public static let handshakeFailedAuth = Kind(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
        public static let all = Kind(rawValue: UInt16(ZMQ_EVENT_ALL))
    }

    public let kind: Kind
    /// The event's number: a file descriptor, an errno, a protocol error or a ZAP status code.
    public let value: UInt32
    /// The endpoint of the connection ("tcp://127.0.0.1:40123").
    public let endpoint: String

    public var description: String { "event 0x\(String(kind.rawValue, radix: 16)) value \(value) on \(endpoint)" }
}

/// Receives the events of one socket, through a PAIR socket of the same thread.
public final class ZMQSocketMonitor {
    /// The socket events arrive on; poll it for `.readable` beside others.
    public let socket: ZMQSocket

    /// Starts reporting `events` of `monitored`. Events from before this call are not reported.
    public init(_ monitored: ZMQSocket, events: ZMQSocketEvent.Kind = .all) throws {
        let endpoint = "inproc://regionspot.monitor.\(UUID().uuidString)"
        guard zmq_socket_monitor(monitored.handle, endpoint, Int32(events.rawValue)) == 0 else {
            throw ZMQError.last("zmq_socket_monitor(\(endpoint))")
        }
        socket = try ZMQSocket(context: monitored.context, type: .pair)
        try socket.connect(endpoint)
    }

    /// The next event, waiting for it (up to the monitor socket's `.receiveTimeout`).
    public func receive() throws -> ZMQSocketEvent {
        try Self.event(from: socket.receive())
    }

    /// The next event if one is waiting.
    public func tryReceive() throws -> ZMQSocketEvent? {
        try socket.tryReceive().map(Self.event(from:))
    }

    /// Waits for an event of one of `kinds`, skipping others, until `timeoutMilliseconds` pass; nil then.
    public func wait(for kinds: ZMQSocketEvent.Kind, timeoutMilliseconds: Int) throws -> ZMQSocketEvent? {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        while true {
            let left = millisecondsLeft(until: deadline)
            guard left > 0, try poll([(socket, .readable)], timeoutMilliseconds: left)[0].contains(.readable) else {
                return nil
            }
            let event = try receive()
            if !event.kind.isDisjoint(with: kinds) { return event }
        }
    }

    /// Frame 1: a 16-bit event and a 32-bit value, in host order; frame 2: the endpoint.
    private static func event(from frames: [[UInt8]]) throws -> ZMQSocketEvent {
        guard frames.count == 2, frames[0].count == 6 else {
            throw ZMQError.failed(function: "socket monitor (malformed event of \(frames.count) frames)", errno: EPROTO)
        }
        return frames[0].withUnsafeBytes { header in
            ZMQSocketEvent(kind: .init(rawValue: header.loadUnaligned(as: UInt16.self)),
                           value: header.loadUnaligned(fromByteOffset: 2, as: UInt32.self),
                           endpoint: String(decoding: frames[1], as: UTF8.self))
        }
    }
}

@available(*, unavailable, message: "a ZeroMQ socket monitor belongs to the thread that created it")
extension ZMQSocketMonitor: Sendable {}
