import PipelineProtocol

/// The daemon's three stages with the names the pipeline file and the logs use.
extension Regionspot_V1_Stage {
    public static let pipeline: [Regionspot_V1_Stage] = [.localize, .semantic, .fuse]

    public var name: String {
        switch self {
        case .localize: "localize"
        case .semantic: "semantic"
        case .fuse: "fuse"
        default: "unspecified"
        }
    }

    public init?(name: String) {
        guard let stage = Self.pipeline.first(where: { $0.name == name }) else { return nil }
        self = stage
    }
}

/// One stage's workers and the work items waiting for them: pure state, no sockets, with `now`
/// passed in (the broker owns the sockets and the clock).
///
/// Dispatch is credit-based: a worker holds at most `credit` items (it said so in `Ready`).
/// A worker not heard from for the liveness timeout is dead; each item it held goes back to the
/// front of the queue once (attempt 2), and fails if its second worker dies too.
struct StageQueue {
    struct Worker {
        /// The ROUTER routing id of its socket.
        let address: [UInt8]
        /// `Ready.worker_id`, for messages and logs.
        let name: String
        let credit: Int
        var lastHeard: Milliseconds
        /// Items sent to it and not yet answered, including those whose request has gone
        /// (their credit comes back with their result).
        var items: Set<UInt64> = []
        /// Dispatch order: the worker idle longest gets the next item.
        var lastDispatch: UInt64 = 0
        var free: Int { credit - items.count }
    }

    struct Item {
        let id: UInt64
        /// The request table's key of the request it belongs to.
        let request: UInt64
        var work: Regionspot_V1_WorkItem
        /// The worker it was sent to, while it is there.
        var worker: [UInt8]?
        /// The worker that died holding its first attempt.
        var lostOn: String?
    }

    /// An item that cannot be retried again: its request fails.
    struct Lost {
        let item: Item
        let reason: String
    }

    let stage: Regionspot_V1_Stage
    let queueLimit: Int
    private(set) var workers: [[UInt8]: Worker] = [:]
    /// Item ids waiting for a worker, first come first served (retries go first).
    private(set) var waiting: [UInt64] = []
    private(set) var items: [UInt64: Item] = [:]
    private(set) var completed: UInt64 = 0
    private(set) var retried: UInt64 = 0
    private var dispatches: UInt64 = 0

    init(stage: Regionspot_V1_Stage, queueLimit: Int) {
        self.stage = stage
        self.queueLimit = queueLimit
    }

    var liveWorkers: Int { workers.count }

    // MARK: Workers

    /// A worker said `Ready`. A second `Ready` on the same socket changes nothing it holds.
    mutating func register(address: [UInt8], name: String, credit: Int, now: Milliseconds) {
        if var known = workers[address] {
            known.lastHeard = now
            workers[address] = known
        } else {
            workers[address] = Worker(address: address, name: name, credit: max(1, credit), lastHeard: now)
        }
    }

    /// Any message from a worker is a sign of life; false if it is not registered here.
    mutating func heard(from address: [UInt8], now: Milliseconds) -> Bool {
        guard workers[address] != nil else { return false }
        workers[address]!.lastHeard = now
        return true
    }

    func isRegistered(_ address: [UInt8]) -> Bool { workers[address] != nil }

    /// Workers silent for longer than `timeout` ms are removed; their items are retried or lost.
    mutating func expireWorkers(now: Milliseconds, timeout: Milliseconds) -> (dead: [Worker], lost: [Lost]) {
        let dead = workers.values.filter { now - $0.lastHeard > timeout }
        var lost: [Lost] = []
        for worker in dead.sorted(by: { $0.lastDispatch < $1.lastDispatch }) {
            lost += remove(worker.address, reason: "missed its heartbeats for \(timeout) ms")
        }
        return (dead, lost)
    }

    /// Forgets a worker (it died or said `Disconnect`): each item it held goes back to the front of
    /// the queue if this was its first attempt, and is returned as lost otherwise.
    mutating func remove(_ address: [UInt8], reason: String) -> [Lost] {
        guard let worker = workers.removeValue(forKey: address) else { return [] }
        var lost: [Lost] = []
        var retries: [UInt64] = []
        for id in worker.items.sorted() {
            guard var item = items[id] else { continue }  // its request has gone
            if item.work.attempt <= 1 {
                item.work.attempt = 2
                item.worker = nil
                item.lostOn = worker.name
                items[id] = item
                retries.append(id)
                retried += 1
            } else {
                items[id] = nil
                lost.append(Lost(item: item, reason: "\(stage.name) worker \(worker.name) \(reason) while computing this request's "
                                 + "item, which had been sent to it after worker \(item.lostOn ?? "?") died holding it"))
            }
        }
        waiting.insert(contentsOf: retries, at: 0)
        return lost
    }

    // MARK: Items

    /// Whether `incoming` more items would overflow the queue.
    func wouldOverflow(adding incoming: Int) -> Bool { waiting.count + incoming > queueLimit }

    mutating func enqueue(_ item: Item) {
        items[item.id] = item
        waiting.append(item.id)
    }

    /// Sends waiting items to workers with free credit, the longest idle first.
    mutating func dispatch() -> [(address: [UInt8], work: Regionspot_V1_WorkItem)] {
        var sent: [(address: [UInt8], work: Regionspot_V1_WorkItem)] = []
        while !waiting.isEmpty {
            guard let worker = workers.values.filter({ $0.free > 0 }).min(by: { $0.lastDispatch < $1.lastDispatch }) else { break }
            let id = waiting.removeFirst()
            dispatches += 1
            workers[worker.address]!.items.insert(id)
            workers[worker.address]!.lastDispatch = dispatches
            items[id]!.worker = worker.address
            sent.append((worker.address, items[id]!.work))
        }
        return sent
    }

    /// A worker's result for `id`: returns the credit, and the item if it is still wanted
    /// (nil when its request has gone, or the item has since gone to another worker).
    mutating func finish(_ id: UInt64, from address: [UInt8]) -> Item? {
        workers[address]?.items.remove(id)
        guard let item = items[id], item.worker == address else { return nil }
        items[id] = nil
        completed += 1
        return item
    }

    /// Drops an item whose request has ended; a worker holding it keeps the credit until it answers.
    mutating func drop(_ id: UInt64) {
        guard items.removeValue(forKey: id) != nil else { return }
        waiting.removeAll { $0 == id }
    }
}
