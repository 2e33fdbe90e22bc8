import Dispatch
import Foundation

/// How the process spreads work over cores. OpenBLAS itself is kept single-threaded
/// (see `BLASRuntime`), so every kernel, GEMM included, is parallelised here: one policy,
/// no nested thread pools fighting over two cores.
public enum Parallel {
    /// Worker count for kernels called from this thread: the budget of the `withThreads` call
    /// around them (each engine and each daemon worker has its own), else every core.
    public static var threadCount: Int { budget ?? processorCount }

    public static let processorCount = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Task-local, so it follows the caller (thread or task) and never leaks into another engine.
    @TaskLocal private static var budget: Int?

    /// Runs `body` with kernels split over at most `threads` workers.
    public static func withThreads<Result>(_ threads: Int, _ body: () throws -> Result) rethrows -> Result {
        try $budget.withValue(max(1, threads), operation: body)
    }

    /// Runs `body` over `0..<count` split into contiguous chunks, one per worker.
    /// Work smaller than `minimumPerChunk` items per worker runs inline.
    public static func forEachChunk(
        _ count: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void
    ) {
        guard count > 0 else { return }
        let workers = min(threadCount, max(1, count / max(1, minimumPerChunk)))
        if workers <= 1 {
            body(0..<count)
            return
        }
        // Workers only run during this call, and callers partition the data they write.
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let lower = count * worker / workers
            let upper = count * (worker + 1) / workers
            if lower < upper { body(lower..<upper) }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count`, items pulled dynamically by workers
    /// (for uneven work such as attention tiles).
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        if threadCount <= 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        let next = AtomicCounter()
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: min(threadCount, count)) { _ in
            while true {
                let i = next.increment()
                if i >= count { break }
                body(i)
            }
        }
    }
}

/// A tiny lock-based counter (work is coarse, contention negligible).
public final class AtomicCounter: @unchecked Sendable {
    private var count = 0
    private let lock = NSLock()

    public init() {}

    /// Adds one; returns the value before.
    @discardableResult
    public func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        let current = count
        count += 1
        return current
    }

    public var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}
