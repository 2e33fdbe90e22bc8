import Foundation

/// Milliseconds on a monotonic clock: deadlines, heartbeats and liveness are measured on it.
public typealias Milliseconds = Int64

/// Where the pipeline's roles read the time. The request table and the stage queues take `now`
/// as an argument, so their tests set the time by hand and never sleep.
public protocol PipelineClock: Sendable {
    /// Monotonic milliseconds (never jumps with the wall clock).
    func now() -> Milliseconds
    /// Milliseconds since 1970 UTC: the form of deadlines sent to other processes.
    func unixNow() -> Milliseconds
}

/// The machine's clocks.
public struct SystemClock: PipelineClock {
    public init() {}
    public func now() -> Milliseconds { Milliseconds(DispatchTime.now().uptimeNanoseconds / 1_000_000) }
    public func unixNow() -> Milliseconds { Milliseconds((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}
