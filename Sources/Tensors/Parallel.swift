import Dispatch
import Foundation

/// How the process spreads work over cores. OpenBLAS itself is kept single-threaded
/// (see `BLASRuntime`), so every kernel, GEMM included, is parallelised here: one policy,
/// no nested thread pools fighting over two cores.
public enum Parallel {
    /// Worker count for kernels; defaults to the active processor count.
    /// Set once at start-up (e.g. from `--threads`); read by every kernel.
    nonisolated(unsafe) public static var threadCount: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

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
final class AtomicCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        let current = value
        value += 1
        return current
    }
}
