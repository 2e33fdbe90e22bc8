import Foundation
import ZeroMQ

/// Threads that take jobs from a queue and hand their outcomes back to a socket loop without
/// blocking it: outcomes wait in a list, and each one is announced by an empty frame on an inproc
/// PUSH socket to `wakeEndpoint`, where the loop's PULL socket wakes its poll.
/// The broker decodes images this way, and a stage worker computes.
final class WorkThreads<Job: Sendable, Outcome: Sendable>: @unchecked Sendable {
    let wakeEndpoint: String
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [Job] = []
    private var outcomes: [Outcome] = []
    private var stopping = false
    private let finished = DispatchGroup()

    /// Starts `count` threads that run `work` on each job. The loop binds a PULL socket to
    /// `wakeEndpoint` (before or after this; inproc allows either).
    init(name: String, count: Int, context: ZMQContext, work: @escaping @Sendable (Job) -> Outcome) {
        wakeEndpoint = "inproc://regionspot.\(name).wake.\(UUID().uuidString)"
        for index in 0..<max(1, count) {
            finished.enter()
            let thread = Thread { [self] in
                run(context: context, work: work)
                finished.leave()
            }
            thread.name = "\(name) \(index)"
            thread.start()
        }
    }

    func submit(_ job: Job) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// The outcomes finished since the last call, in the order they finished.
    func takeOutcomes() -> [Outcome] {
        condition.lock()
        defer { condition.unlock() }
        let taken = outcomes
        outcomes.removeAll()
        return taken
    }

    /// Lets the threads finish the job in hand, drops the others, and waits for them to end.
    func stop() {
        condition.lock()
        stopping = true
        jobs.removeAll()
        condition.broadcast()
        condition.unlock()
        finished.wait()
    }

    private func run(context: ZMQContext, work: @Sendable (Job) -> Outcome) {
        guard let wake = try? ZMQSocket(context: context, type: .push), (try? wake.connect(wakeEndpoint)) != nil else { return }
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if stopping { condition.unlock(); return }
            let job = jobs.removeFirst()
            condition.unlock()

            let outcome = work(job)
            condition.lock()
            outcomes.append(outcome)
            condition.unlock()
            _ = try? wake.trySend([[]])  // a full wake queue means the loop has wake-ups to read already
        }
    }
}
