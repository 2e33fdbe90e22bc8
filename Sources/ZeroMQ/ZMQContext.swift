import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A libzmq context: the I/O threads and the inproc namespace its sockets share.
///
/// Contexts are thread-safe; sockets are not. Each socket keeps its context alive, so the
/// context is terminated (in `deinit`) only after its last socket has closed.
public final class ZMQContext: Sendable {
    nonisolated(unsafe) let handle: UnsafeMutableRawPointer

    /// - Parameter ioThreads: libzmq's background I/O threads (one is plenty below ~1 GB/s).
    public init(ioThreads: Int32 = 1) throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        self.handle = handle
        // Not "blocky": new sockets start with linger 0, so closing one never waits on a peer that
        // is gone and terminating the context never hangs. Set `.linger` where pending sends matter.
        guard zmq_ctx_set(handle, ZMQ_BLOCKY, 0) == 0 else { throw ZMQError.last("zmq_ctx_set(ZMQ_BLOCKY)") }
        guard zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) == 0 else {
            throw ZMQError.last("zmq_ctx_set(ZMQ_IO_THREADS, \(ioThreads))")
        }
    }

    /// Makes every blocking call on this context's sockets, now and later, fail with
    /// `ZMQError.terminated`, so threads blocked in them can close their sockets and end.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    deinit {
        _ = retryingInterrupts { zmq_ctx_term(handle) }
    }
}
