import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A failed libzmq call, naming the call so a log line says where it happened.
public enum ZMQError: Error, Equatable, CustomStringConvertible {
    /// The context was shut down (ETERM): the socket's owner should close it and stop.
    case terminated
    /// A blocking send or receive ran past the socket's send or receive timeout.
    case timedOut(function: String)
    /// Any other failure: the call (with its argument where that helps) and its errno.
    case failed(function: String, errno: Int32)
    /// A CURVE key or Z85 text that is not what libzmq accepts.
    case invalidKey(String)

    public var description: String {
        switch self {
        case .terminated: "ZeroMQ context terminated"
        case .timedOut(let function): "\(function) timed out"
        case .failed(let function, let code): "\(function) failed: \(String(cString: zmq_strerror(code))) (errno \(code))"
        case .invalidKey(let reason): "invalid CURVE key: \(reason)"
        }
    }

    /// The error for the errno a libzmq call just set.
    static func last(_ function: @autoclosure () -> String) -> ZMQError {
        let code = zmq_errno()
        return code == ETERM ? .terminated : .failed(function: function(), errno: code)
    }
}

/// Calls `body` until it stops failing with EINTR; returns its result, or -1 with errno set.
@inline(__always)
func retryingInterrupts(_ body: () -> Int32) -> Int32 {
    while true {
        let result = body()
        if result != -1 || zmq_errno() != EINTR { return result }
    }
}
