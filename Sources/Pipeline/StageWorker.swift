import Foundation
import Logging
import PipelineProtocol
import RegionSpot
import Synchronization
import Tensors
import ZeroMQ

/// A stage worker (`regionspot worker`, or a thread of `regionspot serve`): a DEALER socket to the
/// broker's endpoint for its stage, and one loop on its own thread (Paranoid Pirate with credit).
///
/// It sends `Ready` with its credit, computes items on a compute thread while the loop keeps
/// heartbeating (so a slow stage is never taken for a dead one), and when the broker falls silent
/// for `liveness` intervals, or refuses it, it closes its socket and connects a new one after a
/// back-off that doubles up to `maxReconnectDelay`, sending `Ready` again.
///
/// With `batching`, it holds up to `batchingCredit` items: the first waits up to `max_wait_ms`
/// for others (or none once `max_boxes` boxes are there), and those taken together, up to
/// `max_boxes` boxes, are computed in one batch (`StageComputation`); items arriving meanwhile
/// form the next one.
public final class StageWorker: Sendable {
    /// Items a worker holds at once without batching: one computing (with all its threads), so a
    /// deadline is never spent waiting inside a worker.
    static let credit = 1
    /// Items a batching worker holds at once (computing or waiting for the next batch).
    static let batchingCredit = 16
    static let initialReconnectDelay: Milliseconds = 250
    static let maxReconnectDelay: Milliseconds = 8000
    static let lingerMilliseconds: Int32 = 1000

    public struct Settings: Sendable {
        public var stage: Regionspot_V1_Stage
        public var endpoint: String
        public var workerID: String
        public var modelID: String
        public var heartbeat: PipelineConfiguration.Heartbeat
        /// CURVE client settings for a broker endpoint that is not inproc.
        public var curve: CurveSecurity?
        /// Batches of concurrent requests' boxes (localize and fuse); nil computes items one by one.
        public var batching: PipelineConfiguration.Batching?

        public init(stage: Regionspot_V1_Stage, endpoint: String, workerID: String, modelID: String,
                    heartbeat: PipelineConfiguration.Heartbeat, curve: CurveSecurity? = nil,
                    batching: PipelineConfiguration.Batching? = nil) {
            self.stage = stage
            self.endpoint = endpoint
            self.workerID = workerID
            self.modelID = modelID
            self.heartbeat = heartbeat
            self.curve = curve
            self.batching = batching
        }

        /// Items this worker holds at once.
        var credit: Int { batching == nil ? StageWorker.credit : StageWorker.batchingCredit }
    }

    private let context: ZMQContext
    private let controlEndpoint = "inproc://regionspot.worker.control.\(UUID().uuidString)"
    private let finished = DispatchSemaphore(value: 0)
    private let stopped = Mutex(false)
    private let status = WorkerStatus()

    /// Starts the worker's thread; `recognizer` computes (its thread budget is the worker's), with
    /// encoder outputs kept in `imageCache` (shared by a process's workers).
    public init(settings: Settings, recognizer: Recognizer, imageCache: ImageEncodingCache, context: ZMQContext,
                clock: any PipelineClock = SystemClock(), logger: Logger) {
        self.context = context
        let controlEndpoint = controlEndpoint, finished = finished, status = status
        let computation = StageComputation(stage: settings.stage, recognizer: recognizer, imageCache: imageCache, logger: logger)
        let thread = Thread {
            WorkerLoop(settings: settings, computation: computation, context: context, clock: clock,
                       controlEndpoint: controlEndpoint, status: status, logger: logger)?.run()
            finished.signal()
        }
        thread.name = "\(settings.stage.name) worker"
        thread.start()
    }

    /// From any thread: whether the broker has answered on the current connection (for /readyz).
    public var isConnected: Bool { status.connected.withLock { $0 } }

    /// From any thread: tells the broker it leaves (`Disconnect`) and ends the loop; waits for it.
    public func stop() {
        guard stopped.withLock({ let was = $0; $0 = true; return !was }) else { return }
        if let socket = try? ZMQSocket(context: context, type: .push), (try? socket.connect(controlEndpoint)) != nil {
            try? socket.set(.linger, -1)
            try? socket.send([Array("stop".utf8)])
        }
        finished.wait()
    }
}

/// What the worker's loop publishes for other threads.
final class WorkerStatus: Sendable {
    /// The broker has sent something on the current connection.
    let connected = Mutex(false)
}

/// The worker's thread: its socket and state.
private final class WorkerLoop {
    struct Job: Sendable {
        /// The connection they came on; results for an older connection are not sent.
        let connection: Int
        let items: [Regionspot_V1_WorkItem]
    }

    struct Outcome: Sendable {
        let connection: Int
        let results: [Regionspot_V1_WorkResult]
    }

    /// An item waiting for the next batch.
    struct Pending {
        let item: Regionspot_V1_WorkItem
        let boxes: Int
        let arrivedAt: Milliseconds
    }

    let settings: StageWorker.Settings
    let context: ZMQContext
    let clock: any PipelineClock
    let logger: Logger
    let status: WorkerStatus
    let metrics: WorkerMetrics
    let control: ZMQSocket
    let wake: ZMQSocket
    let compute: WorkThreads<Job, Outcome>

    // State.
    var socket: ZMQSocket?
    var connection = 0
    var lastHeard: Milliseconds = 0
    var heartbeatAt: Milliseconds = 0
    /// While disconnected: when to connect again, and the delay after that.
    var reconnectAt: Milliseconds?
    var reconnectDelay = StageWorker.initialReconnectDelay
    /// Items on the compute thread, and items waiting for the next batch (with `batching`).
    var computing = 0
    var pending: [Pending] = []

    var interval: Milliseconds { Milliseconds(settings.heartbeat.intervalMilliseconds) }

    init?(settings: StageWorker.Settings, computation: StageComputation, context: ZMQContext, clock: any PipelineClock,
          controlEndpoint: String, status: WorkerStatus, logger: Logger) {
        self.settings = settings
        self.context = context
        self.clock = clock
        self.status = status
        self.logger = logger
        metrics = WorkerMetrics(stage: settings.stage)
        compute = WorkThreads(name: "\(settings.stage.name) compute", count: StageWorker.credit, context: context) { job in
            Outcome(connection: job.connection, results: computation.compute(job.items, unixNow: clock.unixNow()))
        }
        do {
            control = try ZMQSocket(context: context, type: .pull)
            try control.bind(controlEndpoint)
            wake = try ZMQSocket(context: context, type: .pull)
            try wake.bind(compute.wakeEndpoint)
        } catch {
            logger.error("worker cannot start", metadata: ["stage": "\(settings.stage.name)", "error": "\(error)"])
            compute.stop()
            return nil
        }
    }

    func run() {
        defer { compute.stop() }
        connect()
        while true {
            let now = clock.now()
            let wakeAt = [heartbeatAt, reconnectAt, batchDueAt].compactMap { $0 }.min()!
            var items = [(control, ZMQPollEvents.readable), (wake, .readable)]
            if let socket { items.append((socket, .readable)) }
            guard let ready = try? poll(items, timeoutMilliseconds: Int(max(0, wakeAt - now))) else { return }
            if ready[0].contains(.readable) {
                leave()
                return
            }
            if ready[1].contains(.readable) {
                while (try? wake.tryReceive()) != nil {}
                for outcome in compute.takeOutcomes() {
                    computing -= outcome.results.count
                    for result in outcome.results { metrics.compute.recordNanoseconds(Int64(result.timings.computeMs * 1e6)) }
                    guard outcome.connection == connection, let socket else { continue }
                    for result in outcome.results {
                        var message = Regionspot_V1_WorkerMessage()
                        message.result = result
                        send(message, on: socket)
                    }
                }
            }
            if ready.count > 2 && ready[2].contains(.readable) { receiveFromBroker() }
            timedDuties()
        }
    }

    func receiveFromBroker() {
        while let socket, let frames = try? socket.tryReceive() {
            status.connected.withLock { $0 = true }
            lastHeard = clock.now()
            reconnectDelay = StageWorker.initialReconnectDelay
            guard frames.count == 1, let message = try? Regionspot_V1_BrokerMessage(serializedBytes: frames[0]) else {
                logger.warning("dropped a message that is not a BrokerMessage", metadata: ["stage": "\(settings.stage.name)"])
                continue
            }
            switch message.kind {
            case .work(let item)?:
                if settings.batching == nil {
                    computing += 1
                    compute.submit(Job(connection: connection, items: [item]))
                } else {
                    pending.append(Pending(item: item, boxes: Self.boxCount(item), arrivedAt: clock.now()))
                }
            case .disconnect(let refusal)?:
                logger.warning("the broker refused or left; reconnecting", metadata: ["stage": "\(settings.stage.name)", "reason": "\(refusal.reason)"])
                disconnect(retryIn: reconnectDelay)
                return
            case .heartbeat?, nil:
                break
            }
        }
    }

    /// When the waiting items must go to the compute thread, if it is free.
    var batchDueAt: Milliseconds? {
        guard let batching = settings.batching, computing == 0, let first = pending.first else { return nil }
        let boxes = pending.reduce(0) { $0 + $1.boxes }
        return boxes >= batching.maxBoxes || pending.count >= settings.credit ? first.arrivedAt
            : first.arrivedAt + Milliseconds(batching.maxWaitMilliseconds)
    }

    /// Gives the compute thread the next batch when it is free and the batch is due: the waiting
    /// items in order of arrival up to `max_boxes` boxes (at least one item).
    func submitDueBatch() {
        guard let batching = settings.batching, let due = batchDueAt, clock.now() >= due else { return }
        var items = [pending.removeFirst()]
        var boxes = items[0].boxes
        while let next = pending.first, boxes + next.boxes <= batching.maxBoxes {
            boxes += next.boxes
            items.append(pending.removeFirst())
        }
        computing += items.count
        compute.submit(Job(connection: connection, items: items.map(\.item)))
    }

    /// The boxes an item brings to a batch: a localize task's (with PROPOSALS_SAM, as many as it
    /// may keep: the generator's work is large, so it makes a batch of its own), or the rows of a
    /// fuse task's "mask_tokens" (from its safetensors header). A malformed task counts 1; its
    /// computation refuses it.
    static func boxCount(_ item: Regionspot_V1_WorkItem) -> Int {
        switch item.task {
        case .localize(let task)? where task.proposals == .sam:
            return Int(task.maxProposals > 0 ? task.maxProposals : .max)
        case .localize(let task)?:
            return task.boxes.count
        case .fuse(let task)?:
            return (try? SafeTensors.shape(of: "mask_tokens", in: task.tensors))?.first ?? 1
        default:
            return 1
        }
    }

    /// Heartbeats, the broker's liveness, and batches that are due.
    func timedDuties() {
        submitDueBatch()
        let now = clock.now()
        if let reconnectAt, now >= reconnectAt {
            connect()
            return
        }
        guard let socket else { return }
        if now - lastHeard > interval * Milliseconds(settings.heartbeat.liveness) {
            logger.warning("the broker is silent; reconnecting", metadata: ["stage": "\(settings.stage.name)", "in_ms": "\(reconnectDelay)"])
            disconnect(retryIn: reconnectDelay)
            return
        }
        if now >= heartbeatAt {
            heartbeatAt = now + interval
            var beat = Regionspot_V1_WorkerMessage()
            beat.heartbeat = .with { $0.credit = UInt32(max(0, settings.credit - computing - pending.count)) }
            send(beat, on: socket)
        }
    }

    /// A new socket (a new identity for the broker), announced with `Ready`.
    func connect() {
        reconnectAt = nil
        connection += 1
        do {
            let socket = try ZMQSocket(context: context, type: .dealer)
            try socket.set(.linger, StageWorker.lingerMilliseconds)
            if let curve = settings.curve, CurveSecurity.applies(to: settings.endpoint) { try socket.secure(curve) }
            try socket.connect(settings.endpoint)
            self.socket = socket
        } catch {
            logger.error("cannot connect", metadata: ["stage": "\(settings.stage.name)", "endpoint": "\(settings.endpoint)", "error": "\(error)"])
            disconnect(retryIn: reconnectDelay)
            return
        }
        var ready = Regionspot_V1_WorkerMessage()
        ready.ready = .with {
            $0.stage = settings.stage
            $0.workerID = settings.workerID
            $0.credit = UInt32(settings.credit)
            $0.modelID = settings.modelID
        }
        send(ready, on: socket!)
        let now = clock.now()
        lastHeard = now
        heartbeatAt = now + interval
    }

    func disconnect(retryIn delay: Milliseconds) {
        socket = nil
        status.connected.withLock { $0 = false }
        pending.removeAll()  // the broker sends them to another worker
        reconnectAt = clock.now() + delay
        reconnectDelay = min(delay * 2, StageWorker.maxReconnectDelay)
    }

    func leave() {
        guard let socket else { return }
        var goodbye = Regionspot_V1_WorkerMessage()
        goodbye.disconnect = .with { $0.reason = "shutting down" }
        send(goodbye, on: socket)
    }

    /// Never blocks: a message the connection cannot take now is dropped (the broker's liveness
    /// check, or ours, deals with a connection that stays stuck).
    func send(_ message: Regionspot_V1_WorkerMessage, on socket: ZMQSocket) {
        guard let bytes: [UInt8] = try? message.serializedBytes() else { return }
        _ = try? socket.trySend([bytes])
    }
}
