import Foundation

/// A cache's entries, their total cost within its capacity, and the lookups answered from it
/// (hits) or not (misses: computed, or waited for another caller's computation).
public struct CacheUsage: Sendable {
    public let count: Int
    public let cost: Int
    public let capacity: Int
    public let hits: Int
    public let misses: Int
}

/// Values computed once per key and kept, least recently used first out, while their total cost
/// (bytes) stays within `capacity`. Safe from any number of threads: a key being computed makes
/// only the callers of that same key wait; every other key, cached or not, goes on at once.
public final class MemoizingCache<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    public let capacity: Int
    private let cost: @Sendable (Value) -> Int
    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]
    private var inFlight: [Key: Flight] = [:]
    private var clock: UInt64 = 0
    private var total = 0
    private var hits = 0, misses = 0

    private struct Entry {
        var value: Value
        var cost: Int
        var lastUse: UInt64
    }

    /// One computation that other callers of the same key wait for.
    private final class Flight: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var waiters = 0
        var result: Result<Value, any Error>?
    }

    public init(capacity: Int, cost: @escaping @Sendable (Value) -> Int) {
        self.capacity = capacity
        self.cost = cost
    }

    /// The cached value of `key`, else the result of `compute` (run once however many callers
    /// ask at the same time; an error reaches all of them and nothing is cached).
    /// `hit` says whether this caller got it without computing or waiting.
    public func value(for key: Key, compute: () throws -> Value) throws -> (value: Value, hit: Bool) {
        lock.lock()
        if let value = touch(key) {
            hits += 1
            lock.unlock()
            return (value, true)
        }
        misses += 1
        if let flight = inFlight[key] {
            flight.waiters += 1
            lock.unlock()
            flight.done.wait()
            return (try flight.result!.get(), false)
        }
        let flight = Flight()
        inFlight[key] = flight
        lock.unlock()

        let result = Result { try compute() }
        lock.lock()
        inFlight[key] = nil
        flight.result = result
        if case let .success(value) = result { store(value, for: key) }
        for _ in 0..<flight.waiters { flight.done.signal() }
        lock.unlock()
        return (try result.get(), false)
    }

    /// The cached value, if any (counts as a use).
    public func cachedValue(for key: Key) -> Value? {
        lock.lock()
        defer { lock.unlock() }
        return touch(key)
    }

    /// Stores a value computed elsewhere (e.g. read from disk).
    public func insert(_ value: Value, for key: Key) {
        lock.lock()
        store(value, for: key)
        lock.unlock()
    }

    /// Entries held, their total cost, and the lookups of `value(for:)` so far.
    public var usage: CacheUsage {
        lock.lock()
        defer { lock.unlock() }
        return CacheUsage(count: entries.count, cost: total, capacity: capacity, hits: hits, misses: misses)
    }

    private func touch(_ key: Key) -> Value? {
        guard var entry = entries[key] else { return nil }
        clock += 1
        entry.lastUse = clock
        entries[key] = entry
        return entry.value
    }

    private func store(_ value: Value, for key: Key) {
        let size = cost(value)
        if let old = entries.removeValue(forKey: key) { total -= old.cost }
        guard size <= capacity else { return }  // larger than the whole cache: not kept
        while total + size > capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            total -= oldest.value.cost
            entries[oldest.key] = nil
        }
        clock += 1
        entries[key] = Entry(value: value, cost: size, lastUse: clock)
        total += size
    }
}
