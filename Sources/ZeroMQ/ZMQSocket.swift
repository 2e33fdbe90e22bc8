import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// The libzmq socket types this project uses.
public enum ZMQSocketType: Sendable {
    case pair, pub, sub, req, rep, dealer, router, pull, push

    var code: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pull: ZMQ_PULL
        case .push: ZMQ_PUSH
        }
    }
}

/// A libzmq socket. Like libzmq's own, it belongs to one thread: create it on the thread that
/// uses it. It keeps its context alive and closes itself when released.
///
/// Messages are lists of frames. Every frame travels through a `zmq_msg_t`, so any size arrives
/// whole (up to the receiver's `.maxMessageSize`).
public final class ZMQSocket {
    public let context: ZMQContext
    public let type: ZMQSocketType
    let handle: UnsafeMutableRawPointer
    /// One message buffer reused by every send and receive; on the heap so libzmq's pointer stays put.
    private let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)

    public init(context: ZMQContext, type: ZMQSocketType) throws {
        guard let handle = zmq_socket(context.handle, type.code) else {
            message.deallocate()
            throw ZMQError.last("zmq_socket(\(type))")
        }
        self.context = context
        self.type = type
        self.handle = handle
    }

    deinit {
        zmq_close(handle)
        message.deallocate()
    }

    // MARK: - Endpoints

    public func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError.last("zmq_bind(\(endpoint))") }
    }

    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError.last("zmq_connect(\(endpoint))") }
    }

    public func unbind(_ endpoint: String) throws {
        guard zmq_unbind(handle, endpoint) == 0 else { throw ZMQError.last("zmq_unbind(\(endpoint))") }
    }

    public func disconnect(_ endpoint: String) throws {
        guard zmq_disconnect(handle, endpoint) == 0 else { throw ZMQError.last("zmq_disconnect(\(endpoint))") }
    }

    // MARK: - Sending

    /// Sends one message of one or more frames, waiting while the peer's queue is full
    /// (up to `.sendTimeout`).
    public func send(_ frames: [[UInt8]]) throws {
        _ = try send(frames, dontWait: false)
    }

    /// Sends one message unless it would have to wait; returns false then (EAGAIN), having sent nothing.
    public func trySend(_ frames: [[UInt8]]) throws -> Bool {
        try send(frames, dontWait: true)
    }

    private func send(_ frames: [[UInt8]], dontWait: Bool) throws -> Bool {
        precondition(!frames.isEmpty, "a ZeroMQ message has at least one frame")
        for (index, frame) in frames.enumerated() {
            var flags = index < frames.count - 1 ? ZMQ_SNDMORE : 0
            // libzmq queues a multipart message atomically: once the first frame is taken the rest
            // are too, so only the first can meet a full queue.
            if index == 0 && dontWait { flags |= ZMQ_DONTWAIT }
            if !(try sendFrame(frame, flags: flags)) { return false }
        }
        return true
    }

    private func sendFrame(_ frame: [UInt8], flags: Int32) throws -> Bool {
        guard zmq_msg_init_size(message, frame.count) == 0 else { throw ZMQError.last("zmq_msg_init_size(\(frame.count))") }
        defer { zmq_msg_close(message) }
        if !frame.isEmpty {
            frame.withUnsafeBytes { bytes in
                zmq_msg_data(message).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
        }
        if retryingInterrupts({ zmq_msg_send(message, handle, flags) }) == -1 {
            if zmq_errno() == EAGAIN {
                if flags & ZMQ_DONTWAIT != 0 { return false }
                throw ZMQError.timedOut(function: "zmq_msg_send")
            }
            throw ZMQError.last("zmq_msg_send")
        }
        return true
    }

    // MARK: - Receiving

    /// Receives one whole message, waiting for it (up to `.receiveTimeout`).
    public func receive() throws -> [[UInt8]] {
        try receive(dontWait: false)!
    }

    /// Receives one whole message if one is waiting; nil otherwise (EAGAIN).
    public func tryReceive() throws -> [[UInt8]]? {
        try receive(dontWait: true)
    }

    private func receive(dontWait: Bool) throws -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var more = true
        while more {
            // The frames after the first are already here (libzmq delivers messages whole).
            guard let frame = try receiveFrame(flags: frames.isEmpty && dontWait ? ZMQ_DONTWAIT : 0) else { return nil }
            frames.append(frame)
            more = zmq_msg_more(message) != 0
            zmq_msg_close(message)
        }
        return frames
    }

    /// One frame, leaving `message` open so the caller can read its "more" flag.
    private func receiveFrame(flags: Int32) throws -> [UInt8]? {
        guard zmq_msg_init(message) == 0 else { throw ZMQError.last("zmq_msg_init") }
        if retryingInterrupts({ zmq_msg_recv(message, handle, flags) }) == -1 {
            let code = zmq_errno()
            zmq_msg_close(message)
            if code == EAGAIN {
                if flags & ZMQ_DONTWAIT != 0 { return nil }
                throw ZMQError.timedOut(function: "zmq_msg_recv")
            }
            throw code == ETERM ? ZMQError.terminated : ZMQError.failed(function: "zmq_msg_recv", errno: code)
        }
        let size = zmq_msg_size(message)
        guard size > 0 else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: zmq_msg_data(message), count: size))
    }
}

@available(*, unavailable, message: "a ZeroMQ socket belongs to the thread that created it")
extension ZMQSocket: Sendable {}
