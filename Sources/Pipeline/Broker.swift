import Foundation
import Imaging
import Logging
import PipelineProtocol
import Synchronization
import Tensors
import ZeroMQ

/// The daemon's front end (`regionspot serve`): a ROUTER socket for clients, one ROUTER per stage
/// endpoint for workers, and one loop on its own thread that moves each recognition request
/// through decode → localize ∥ semantic → fuse → reply (Majordomo with credit-based flow control).
///
/// Every request is answered exactly once: its reply, a refusal naming the field at fault,
/// RESOURCE_EXHAUSTED when a stage queue is full, DEADLINE_EXCEEDED the moment its deadline
/// passes, or UNAVAILABLE while shutting down or when a stage lost it twice. Images are decoded on
/// threads of their own, so nothing a client sends holds up the loop.
public final class Broker: Sendable {
    // Socket settings and sizes.
    static let highWaterMark: Int32 = 1000
    /// Closing sockets waits this long for the last replies to go out.
    static let lingerMilliseconds: Int32 = 1000
    static let decodeThreads = 2
    /// Messages taken from one socket before the loop looks at the others (fairness).
    static let batchPerSocket = 64
    /// Compute times kept per stage for the p99 in stats.
    static let latencySamples = 1024

    /// The endpoints bound, with real ports in place of `*`.
    public struct Endpoints: Sendable, CustomStringConvertible {
        public let frontend: String
        public let stages: [(stage: Regionspot_V1_Stage, endpoint: String)]

        public var description: String {
            "\(frontend) (" + stages.map { "\($0.stage.name) \($0.endpoint)" }.joined(separator: ", ") + ")"
        }
    }

    public struct Settings: Sendable {
        public var configuration: PipelineConfiguration
        /// Workers whose `Ready.model_id` differs are refused; empty accepts any.
        public var modelID: String
        public var version: String
        /// CURVE for every endpoint but inproc ones (clients and workers alike), or none.
        public var curve: CurveSecurity?
        /// Where requests may name images by `image_path`; nil refuses them all.
        public var imageRoot: ImageRoot?
        /// Registered vocabularies; nil answers `RegisterVocabulary` with UNIMPLEMENTED.
        public var vocabularies: VocabularyRegistry?
        /// The caches of the daemon's own workers, for `Stats`: image embeddings, and class
        /// embeddings (nil until the models are loaded). Other processes' workers keep their own.
        public var imageCache: ImageEncodingCache?
        public var classEmbeddingUsage: @Sendable () -> CacheUsage?

        public init(configuration: PipelineConfiguration, modelID: String, version: String,
                    curve: CurveSecurity? = nil, imageRoot: ImageRoot? = nil, vocabularies: VocabularyRegistry? = nil,
                    imageCache: ImageEncodingCache? = nil, classEmbeddingUsage: @escaping @Sendable () -> CacheUsage? = { nil }) {
            self.configuration = configuration
            self.modelID = modelID
            self.version = version
            self.curve = curve
            self.imageRoot = imageRoot
            self.vocabularies = vocabularies
            self.imageCache = imageCache
            self.classEmbeddingUsage = classEmbeddingUsage
        }
    }

    private let context: ZMQContext
    private let controlEndpoint = "inproc://regionspot.broker.control.\(UUID().uuidString)"
    private let finished = DispatchSemaphore(value: 0)
    private let snapshot = BrokerSnapshot()
    public let endpoints: Endpoints

    /// Binds every socket and starts the loop (before the models load, so that health is answered
    /// meanwhile); throws if a bind fails.
    public init(settings: Settings, context: ZMQContext, clock: any PipelineClock = SystemClock(),
                logger: Logger) throws {
        self.context = context
        let started = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Endpoints, any Error>?>(nil)
        let controlEndpoint = controlEndpoint, finished = finished, snapshot = snapshot
        let thread = Thread {
            let loop: BrokerLoop
            do {
                loop = try BrokerLoop(settings: settings, context: context, clock: clock, controlEndpoint: controlEndpoint,
                                      snapshot: snapshot, logger: logger)
                outcome.withLock { $0 = .success(loop.endpoints) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
                started.signal()
                finished.signal()
                return
            }
            started.signal()
            loop.run()
            finished.signal()
        }
        thread.name = "broker"
        thread.start()
        started.wait()
        endpoints = try outcome.withLock { $0! }.get()
    }

    /// From any thread: the models are loaded and warmed up. Until then the broker answers health
    /// and says it is not ready; recognition requests wait for workers as they would for any stage
    /// without one.
    public func markWarmedUp() {
        send(control: "warm")
    }

    /// From any thread, without waiting for the loop: readiness as of the loop's last turn (what
    /// a `ReadinessRequest` would answer), for /readyz.
    public var readiness: (ready: Bool, reason: String) { snapshot.readiness.withLock { $0 } }

    /// From any thread: refuse new requests (UNAVAILABLE), let those in flight finish for up to
    /// `graceMilliseconds`, answer any left with UNAVAILABLE, then end the loop.
    public func drain(graceMilliseconds: Int) {
        send(control: "drain \(graceMilliseconds)")
    }

    /// Waits until the loop has ended (after `drain`), up to `timeout` seconds; false if it has not.
    public func wait(timeout: Double) -> Bool {
        guard finished.wait(timeout: .now() + timeout) == .success else { return false }
        finished.signal()  // later waits return at once
        return true
    }

    private func send(control: String) {
        guard let socket = try? ZMQSocket(context: context, type: .push), (try? socket.connect(controlEndpoint)) != nil else { return }
        try? socket.set(.linger, -1)  // delivered before this socket closes
        try? socket.send([Array(control.utf8)])
    }
}

/// The broker's thread: its sockets and state. Everything here runs on that one thread.
final class BrokerLoop {
    let settings: Broker.Settings
    let clock: any PipelineClock
    let logger: Logger
    let snapshot: BrokerSnapshot
    let frontend: ZMQSocket
    let stageSockets: [(stage: Regionspot_V1_Stage, socket: ZMQSocket)]
    let control: ZMQSocket
    let wake: ZMQSocket
    let decoder: WorkThreads<DecodeJob, DecodeOutcome>
    /// Computes registered vocabularies (BrokerVocabularies.swift), when the daemon keeps them.
    let registrar: WorkThreads<RegistrationJob, RegistrationOutcome>?
    let endpoints: Broker.Endpoints

    // State.
    var requests = RequestTable()
    var stages: [Regionspot_V1_Stage: StageQueue] = [:]
    var nextItem: UInt64 = 0
    var heartbeatAt: Milliseconds
    /// Set by `markWarmedUp`: until then readiness says "warming up".
    var warmedUp = false
    /// Set by `drain`: the time by which everything must be answered.
    var drainDeadline: Milliseconds?
    let startedAt: Milliseconds
    // Counters for stats.
    var received: UInt64 = 0
    var repliesByCode: [Regionspot_V1_Code: UInt64] = [:]
    var computeTimes: [Regionspot_V1_Stage: [Double]] = [:]
    var computeTotals: [Regionspot_V1_Stage: Double] = [:]
    var metrics = BrokerMetrics()
    /// Registrations being computed: their clients, by key.
    var registrations: [UInt64: (envelope: [[UInt8]], requestID: String)] = [:]
    var nextRegistration: UInt64 = 0

    var configuration: PipelineConfiguration { settings.configuration }
    var livenessTimeout: Milliseconds { Milliseconds(configuration.heartbeat.intervalMilliseconds * configuration.heartbeat.liveness) }

    struct DecodeJob: Sendable {
        let key: UInt64
        let request: Regionspot_V1_RecognizeRequest
        let maxPixels: Int
        let maxFileBytes: Int
        let imageRoot: ImageRoot?
    }

    struct DecodeOutcome: Sendable {
        let key: UInt64
        let image: Result<RGBImage, RequestRefusal>
        /// SHA-256 of the encoded bytes: the key of the workers' image-embedding caches.
        let digest: [UInt8]
        let milliseconds: Double
    }

    init(settings: Broker.Settings, context: ZMQContext, clock: any PipelineClock, controlEndpoint: String,
         snapshot: BrokerSnapshot, logger: Logger) throws {
        self.settings = settings
        self.clock = clock
        self.snapshot = snapshot
        self.logger = logger
        let configuration = settings.configuration
        frontend = try ZMQSocket(context: context, type: .router)
        try Self.configure(frontend, maxMessageBytes: configuration.limits.maxMessageBytes)
        try Self.bind(frontend, configuration.frontend.bind, curve: settings.curve)
        var sockets: [(stage: Regionspot_V1_Stage, socket: ZMQSocket)] = []
        var bound: [(stage: Regionspot_V1_Stage, endpoint: String)] = []
        for (stage, settings) in zip(Regionspot_V1_Stage.pipeline, configuration.stages.named.map(\.stage)) {
            let socket = try ZMQSocket(context: context, type: .router)
            // Work results hold tensors and masks: a bound well above any client frame.
            try Self.configure(socket, maxMessageBytes: max(configuration.limits.maxMessageBytes, 1 << 30))
            try Self.bind(socket, settings.endpoint, curve: self.settings.curve)
            sockets.append((stage, socket))
            bound.append((stage, try socket.get(.lastEndpoint)))
            stages[stage] = StageQueue(stage: stage, queueLimit: settings.queueLimit)
        }
        stageSockets = sockets
        endpoints = Broker.Endpoints(frontend: try frontend.get(.lastEndpoint), stages: bound)
        control = try ZMQSocket(context: context, type: .pull)
        try control.bind(controlEndpoint)
        decoder = WorkThreads(name: "decode", count: Broker.decodeThreads, context: context) { job in
            let start = DispatchTime.now()
            let decoded = RequestValidation.decode(job.request, maxPixels: job.maxPixels, imageRoot: job.imageRoot, maxFileBytes: job.maxFileBytes)
            let digest = (try? decoded.get()).map { SHA256.digest($0.bytes) } ?? []
            return DecodeOutcome(key: job.key, image: decoded.map(\.image), digest: digest, milliseconds: milliseconds(since: start))
        }
        registrar = settings.vocabularies.map { registry in
            WorkThreads(name: "vocabulary", count: 1, context: context) { job in BrokerLoop.register(job, registry: registry, logger: logger) }
        }
        // One socket wakes the loop for both: a PULL socket may bind several endpoints.
        wake = try ZMQSocket(context: context, type: .pull)
        try wake.bind(decoder.wakeEndpoint)
        if let registrar { try wake.bind(registrar.wakeEndpoint) }
        startedAt = clock.now()
        heartbeatAt = startedAt
    }

    static func configure(_ socket: ZMQSocket, maxMessageBytes: Int) throws {
        try socket.set(.maxMessageSize, Int64(maxMessageBytes))
        try socket.set(.routerMandatory, true)
        try socket.set(.sendHighWaterMark, Broker.highWaterMark)
        try socket.set(.receiveHighWaterMark, Broker.highWaterMark)
        try socket.set(.linger, Broker.lingerMilliseconds)
    }

    static func bind(_ socket: ZMQSocket, _ endpoint: String, curve: CurveSecurity?) throws {
        if let curve, CurveSecurity.applies(to: endpoint) { try socket.secure(curve) }
        try socket.bind(endpoint)
    }

    // MARK: The loop

    func run() {
        defer {
            decoder.stop()
            registrar?.stop()
        }
        while true {
            let now = clock.now()
            let wakeAt = [heartbeatAt, requests.nextDeadline, drainDeadline].compactMap { $0 }.min()!
            let items = [(frontend, ZMQPollEvents.readable)] + stageSockets.map { ($0.socket, ZMQPollEvents.readable) }
                + [(wake, .readable), (control, .readable)]
            guard let ready = try? poll(items, timeoutMilliseconds: Int(max(0, wakeAt - now))) else { break }

            if ready[0].contains(.readable) { receive(from: frontend, handle: handleClient) }
            for (index, (stage, socket)) in stageSockets.enumerated() where ready[1 + index].contains(.readable) {
                receive(from: socket) { handleWorker(stage: stage, socket: socket, frames: $0) }
            }
            if ready[ready.count - 2].contains(.readable) {
                receive(from: wake) { _ in }
                for outcome in decoder.takeOutcomes() { handleDecoded(outcome) }
                for outcome in registrar?.takeOutcomes() ?? [] { handleRegistered(outcome) }
            }
            if ready[ready.count - 1].contains(.readable) { receive(from: control, handle: handleControl) }
            timedDuties()
            publish()
            if let drainDeadline, requests.count == 0 && registrations.isEmpty || clock.now() >= drainDeadline {
                finishDraining()
                break
            }
        }
    }

    /// "warm" (the models are ready) or "drain MILLISECONDS", from `Broker`'s methods.
    func handleControl(_ frames: [[UInt8]]) {
        let words = String(decoding: frames.first ?? [], as: UTF8.self).split(separator: " ")
        switch words.first {
        case "warm":
            warmedUp = true
        case "drain" where drainDeadline == nil:
            drainDeadline = clock.now() + (words.count > 1 ? Milliseconds(words[1]) ?? 0 : 0)
            logger.info("draining: new requests refused", metadata: ["in_flight": "\(requests.count)"])
        default:
            break
        }
    }

    /// Takes up to `batchPerSocket` waiting messages from `socket`.
    func receive(from socket: ZMQSocket, handle: ([[UInt8]]) -> Void) {
        for _ in 0..<Broker.batchPerSocket {
            guard let frames = try? socket.tryReceive() else { return }
            handle(frames)
        }
    }

    /// Deadlines, heartbeats, dead workers, and dispatch.
    func timedDuties() {
        let now = clock.now()
        for entry in requests.expire(now: now) {
            dropItems(of: entry)
            let budget = entry.deadline - entry.receivedAt
            reply(to: entry, status: Regionspot_V1_Status(.deadlineExceeded, "deadline_ms: the deadline of \(budget) ms passed while waiting for \(entry.waitingFor)"))
        }
        if now >= heartbeatAt {
            heartbeatAt = now + Milliseconds(configuration.heartbeat.intervalMilliseconds)
            var beat = Regionspot_V1_BrokerMessage()
            beat.heartbeat = Regionspot_V1_Heartbeat()
            for (stage, socket) in stageSockets {
                for address in stages[stage]!.workers.keys { send(beat, to: address, on: socket, stage: stage) }
            }
        }
        for stage in Regionspot_V1_Stage.pipeline {
            let (dead, lost) = stages[stage]!.expireWorkers(now: now, timeout: livenessTimeout)
            for worker in dead {
                logger.notice("worker dead", metadata: ["stage": "\(stage.name)", "worker": "\(worker.name)",
                                                        "reason": "silent for over \(livenessTimeout) ms", "items_retried": "\(worker.items.count)"])
            }
            fail(lost)
        }
        dispatch()
    }

    func dispatch() {
        for (stage, socket) in stageSockets {
            for (address, work) in stages[stage]!.dispatch() {
                var message = Regionspot_V1_BrokerMessage()
                message.work = work
                send(message, to: address, on: socket, stage: stage)
            }
        }
    }

    func finishDraining() {
        for entry in requests.expire(now: .max) {
            reply(to: entry, status: Regionspot_V1_Status(.unavailable, "the daemon shut down before this request finished (grace period over)"))
        }
        abandonRegistrations()
        var goodbye = Regionspot_V1_BrokerMessage()
        goodbye.disconnect = .with { $0.reason = "the broker is shutting down" }
        for (stage, socket) in stageSockets {
            for address in stages[stage]!.workers.keys { send(goodbye, to: address, on: socket, stage: stage) }
        }
        logger.info("drained; stopping")
    }

    // MARK: Clients

    func handleClient(_ frames: [[UInt8]]) {
        received += 1
        metrics.requests.increment()
        // [routing id, payload] from a DEALER without delimiter, [routing id, "", payload] from REQ or DEALER.
        guard frames.count == 2 || (frames.count == 3 && frames[1].isEmpty) else {
            guard let address = frames.first else { return }
            replyError(to: [address, []], requestID: "", status: Regionspot_V1_Status(.invalidArgument,
                "message: expected one frame holding a Request (after an empty delimiter), got \(frames.count - 1) frames"))
            return
        }
        let envelope = Array(frames.dropLast())
        let request: Regionspot_V1_Request
        do {
            request = try Regionspot_V1_Request(serializedBytes: frames.last!)
        } catch {
            replyError(to: envelope, requestID: "", status: Regionspot_V1_Status(.invalidArgument, "request: not a serialised regionspot.v1.Request (\(error))"))
            return
        }
        var answer = Regionspot_V1_Reply(), code = Regionspot_V1_Code.ok
        switch request.kind {
        case .recognize(let recognize)?:
            handleRecognize(recognize, envelope: envelope)
            return
        case .health(let health)?:
            answer.health = .with {
                $0.requestID = health.requestID
                $0.status = Regionspot_V1_Status(.ok)
                $0.version = settings.version
                $0.uptimeS = Double(clock.now() - startedAt) / 1000
                $0.draining = drainDeadline != nil
            }
        case .readiness(let readiness)?:
            answer.readiness = readinessReply(readiness.requestID)
        case .stats(let stats)?:
            answer.stats = statsReply(stats.requestID)
        case .registerVocabulary(let register)?:
            handleRegister(register, envelope: envelope)
            return
        case nil:
            replyError(to: envelope, requestID: "", status: Regionspot_V1_Status(.invalidArgument,
                "request: no kind set (expected recognize, health, readiness, stats or register_vocabulary)"))
            return
        }
        send(answer, to: envelope, code: code)
    }

    func handleRecognize(_ request: Regionspot_V1_RecognizeRequest, envelope: [[UInt8]]) {
        if drainDeadline != nil {
            replyRecognize(to: envelope, request: request, status: Regionspot_V1_Status(.unavailable,
                "the daemon is shutting down: it finishes the requests it has and takes no new ones"))
            return
        }
        let vocabularies = settings.vocabularies
        if let refusal = RequestValidation.check(request, limits: configuration.limits, readsPaths: settings.imageRoot != nil,
                                                 isRegistered: { vocabularies?.vocabulary(named: $0) != nil }) {
            replyRecognize(to: envelope, request: request, status: Regionspot_V1_Status(refusal.code, refusal.message))
            return
        }
        // Requests still decoding will join the first two stages' queues.
        let incoming = requests.decoding + 1
        for stage in [Regionspot_V1_Stage.localize, .semantic] where stages[stage]!.wouldOverflow(adding: incoming) {
            replyRecognize(to: envelope, request: request, status: Regionspot_V1_Status(.resourceExhausted,
                "stage \(stage.name): queue full (\(stages[stage]!.queueLimit) items waiting for a worker); retry later"))
            return
        }
        let deadline = request.deadlineMs > 0 ? Int(request.deadlineMs) : configuration.frontend.defaultDeadlineMilliseconds
        var kept = request
        kept.imageSource = nil  // the decode job holds the bytes
        // A registered vocabulary's classes stand in for the request's; fuse gets its embeddings.
        let registered = request.vocabularyName.isEmpty ? nil : vocabularies?.vocabulary(named: request.vocabularyName)
        if let registered { kept.vocabulary = registered.classNames }
        let key = requests.add(envelope: envelope, request: kept, now: clock.now(), deadlineMilliseconds: deadline)
        requests[key]?.registeredClassEmbeddings = registered?.embeddings
        decoder.submit(DecodeJob(key: key, request: request, maxPixels: configuration.limits.maxImagePixels,
                                 maxFileBytes: configuration.limits.maxMessageBytes, imageRoot: settings.imageRoot))
    }

    func handleDecoded(_ outcome: DecodeOutcome) {
        guard var entry = requests[outcome.key] else { return }  // answered already (deadline)
        let image: RGBImage
        switch outcome.image {
        case .failure(let refusal):
            _ = requests.remove(entry.key)
            reply(to: entry, status: Regionspot_V1_Status(refusal.code, refusal.message))
            return
        case .success(let decoded):
            image = decoded
        }
        entry.timings.decodeMs = outcome.milliseconds
        (entry.imageWidth, entry.imageHeight) = (image.width, image.height)
        var raw = Regionspot_V1_RawImage(image)
        raw.digest = Data(outcome.digest)
        var localize = Regionspot_V1_LocalizeTask()
        (localize.image, localize.boxes, localize.masks) = (raw, entry.request.boxes, entry.request.masks)
        if entry.request.proposals == .sam {
            localize.proposals = .sam
            localize.generator = Regionspot_V1_MaskGeneratorOptions(configuration.proposals)
            localize.maxProposals = UInt32(configuration.limits.maxBoxes)
        }
        var semantic = Regionspot_V1_SemanticTask()
        semantic.image = raw
        if entry.registeredClassEmbeddings == nil {
            semantic.vocabulary = .with { $0.classNames = entry.request.vocabulary }
        } else {
            entry.timings.classEmbeddingsCacheHit = true
        }
        entry.items[.localize] = enqueue(.localize, for: entry) { $0.localize = localize }
        entry.items[.semantic] = enqueue(.semantic, for: entry) { $0.semantic = semantic }
        entry.phase = .encoding
        requests[entry.key] = entry
    }

    /// Puts a new work item for `entry` in `stage`'s queue; returns its id.
    func enqueue(_ stage: Regionspot_V1_Stage, for entry: RequestTable.Entry, task: (inout Regionspot_V1_WorkItem) -> Void) -> UInt64 {
        nextItem += 1
        var work = Regionspot_V1_WorkItem()
        work.requestID = entry.request.requestID
        work.itemID = nextItem
        work.deadlineUnixMs = clock.unixNow() + (entry.deadline - clock.now())
        work.attempt = 1
        task(&work)
        stages[stage]!.enqueue(StageQueue.Item(id: nextItem, request: entry.key, work: work))
        return nextItem
    }

    // MARK: Workers

    func handleWorker(stage: Regionspot_V1_Stage, socket: ZMQSocket, frames: [[UInt8]]) {
        guard frames.count == 2, let message = try? Regionspot_V1_WorkerMessage(serializedBytes: frames[1]) else {
            logger.warning("dropped a message that is not a WorkerMessage", metadata: ["stage": "\(stage.name)", "frames": "\(frames.count)"])
            return
        }
        let address = frames[0], now = clock.now()
        switch message.kind {
        case .ready(let ready)?:
            if ready.stage != stage {
                refuse(address, on: socket, stage: stage, reason: "this endpoint serves stage \(stage.name), not \(ready.stage.name)")
            } else if !settings.modelID.isEmpty && ready.modelID != settings.modelID {
                refuse(address, on: socket, stage: stage, reason: "model differs: the broker has \(settings.modelID), the worker \(ready.modelID)")
            } else {
                if !stages[stage]!.isRegistered(address) {
                    logger.notice("worker joined", metadata: ["stage": "\(stage.name)", "worker": "\(ready.workerID)", "credit": "\(ready.credit)"])
                }
                stages[stage]!.register(address: address, name: ready.workerID, credit: Int(ready.credit), now: now)
            }
        case .heartbeat?:
            // Credit is counted here (items sent less results back); the worker's own count in the
            // heartbeat only restates it.
            if !stages[stage]!.heard(from: address, now: now) {
                refuse(address, on: socket, stage: stage, reason: "unknown worker: send Ready first")
            }
        case .disconnect(let disconnect)?:
            let name = stages[stage]!.workers[address]?.name ?? "?"
            logger.notice("worker left", metadata: ["stage": "\(stage.name)", "worker": "\(name)", "reason": "\(disconnect.reason)"])
            fail(stages[stage]!.remove(address, reason: "left (\(disconnect.reason))"))
        case .result(let result)?:
            guard stages[stage]!.heard(from: address, now: now) else {
                refuse(address, on: socket, stage: stage, reason: "unknown worker: send Ready first")
                return
            }
            guard let item = stages[stage]!.finish(result.itemID, from: address) else { return }  // late: its request has gone
            record(stage, result.timings.computeMs)
            handleResult(result, of: item, stage: stage)
        case nil:
            logger.warning("dropped a WorkerMessage with no kind", metadata: ["stage": "\(stage.name)"])
        }
        dispatch()
    }

    func refuse(_ address: [UInt8], on socket: ZMQSocket, stage: Regionspot_V1_Stage, reason: String) {
        logger.warning("refused a worker", metadata: ["stage": "\(stage.name)", "reason": "\(reason)"])
        var message = Regionspot_V1_BrokerMessage()
        message.disconnect = .with { $0.reason = reason }
        send(message, to: address, on: socket, stage: stage)
    }

    func handleResult(_ result: Regionspot_V1_WorkResult, of item: StageQueue.Item, stage: Regionspot_V1_Stage) {
        guard var entry = requests[item.request] else { return }
        entry.items[stage] = nil
        guard result.status.code == .ok else {
            _ = requests.remove(entry.key)
            dropItems(of: entry)
            // A worker's refusal names the field at fault; its other failures name the stage.
            reply(to: entry, status: result.status)
            return
        }
        let t = result.timings
        entry.timings.samEncoderMs += t.samEncoderMs
        entry.timings.samDecoderMs += t.samDecoderMs
        entry.timings.clipEncoderMs += t.clipEncoderMs
        entry.timings.classEmbeddingsMs += t.classEmbeddingsMs
        entry.timings.fusionMs += t.fusionMs
        entry.timings.classEmbeddingsCacheHit = entry.timings.classEmbeddingsCacheHit || t.classEmbeddingsCacheHit
        switch stage {
        case .localize: entry.timings.imageEmbeddingCacheHit = t.imageCacheHit
        case .semantic: entry.timings.tokenMapCacheHit = t.imageCacheHit
        default: break
        }
        switch result.result {
        case .localize(let localize)?: entry.localize = localize
        case .semantic(let semantic)?: entry.semantic = semantic
        case .fuse(let fuse)?:
            _ = requests.remove(entry.key)
            replySuccess(entry, fuse)
            return
        case nil:
            _ = requests.remove(entry.key)
            dropItems(of: entry)
            reply(to: entry, status: Regionspot_V1_Status(.internal, "\(stage.name): a result with status OK and nothing in it"))
            return
        }
        if entry.phase == .encoding, entry.localize != nil, entry.semantic != nil, Self.boxes(of: entry).isEmpty {
            // SAM proposed nothing: there is nothing to fuse.
            _ = requests.remove(entry.key)
            replySuccess(entry, Regionspot_V1_FuseResult())
            return
        }
        if entry.phase == .encoding, let localize = entry.localize, let semantic = entry.semantic {
            do {
                let task = try fuseTask(localize: localize, semantic: semantic, request: entry.request,
                                        registeredClassEmbeddings: entry.registeredClassEmbeddings)
                entry.items[.fuse] = enqueue(.fuse, for: entry) { $0.fuse = task }
                entry.phase = .fusing
            } catch {
                _ = requests.remove(entry.key)
                reply(to: entry, status: Regionspot_V1_Status(.internal, "\(error)"))
                return
            }
        }
        requests[entry.key] = entry
    }

    /// Requests whose item a stage lost twice: UNAVAILABLE, saying why.
    func fail(_ lost: [StageQueue.Lost]) {
        for loss in lost {
            guard let entry = requests.remove(loss.item.request) else { continue }
            dropItems(of: entry)
            reply(to: entry, status: Regionspot_V1_Status(.unavailable, loss.reason))
        }
    }

    func dropItems(of entry: RequestTable.Entry) {
        for (stage, id) in entry.items { stages[stage]!.drop(id) }
    }

    func record(_ stage: Regionspot_V1_Stage, _ milliseconds: Double) {
        computeTotals[stage, default: 0] += milliseconds
        computeTimes[stage, default: []].append(milliseconds)
        if computeTimes[stage]!.count > Broker.latencySamples { computeTimes[stage]!.removeFirst() }
        metrics.computed(stage, milliseconds: milliseconds)
    }

    // MARK: Replies

    func reply(to entry: RequestTable.Entry, status: Regionspot_V1_Status) {
        replyRecognize(to: entry.envelope, request: entry.request, status: status)
    }

    func replyRecognize(to envelope: [[UInt8]], request: Regionspot_V1_RecognizeRequest, status: Regionspot_V1_Status) {
        answered(request, status: status, timings: nil)
        send(.with { $0.recognize = .with { $0.requestID = request.requestID; $0.status = status } }, to: envelope, code: status.code)
    }

    func replyError(to envelope: [[UInt8]], requestID: String, status: Regionspot_V1_Status) {
        send(.with { $0.error = .with { $0.requestID = requestID; $0.status = status } }, to: envelope, code: status.code)
    }

    /// Sends without ever blocking: a reply to a client that has gone, or that does not read
    /// (its queue at the high-water mark), is dropped.
    func send(_ reply: Regionspot_V1_Reply, to envelope: [[UInt8]], code: Regionspot_V1_Code) {
        repliesByCode[code, default: 0] += 1
        metrics.replied(code)
        guard let bytes: [UInt8] = try? reply.serializedBytes() else { return }
        if (try? frontend.trySend(envelope + [bytes])) != true {
            logger.warning("dropped a reply: its client has gone or does not read", metadata: ["code": "\(code.name)"])
        }
    }

    func send(_ message: Regionspot_V1_BrokerMessage, to address: [UInt8], on socket: ZMQSocket, stage: Regionspot_V1_Stage) {
        guard let bytes: [UInt8] = try? message.serializedBytes() else { return }
        if (try? socket.trySend([address, bytes])) != true, stages[stage]!.isRegistered(address) {
            // Its connection is gone (EHOSTUNREACH): as good as dead.
            let name = stages[stage]!.workers[address]?.name ?? "?"
            logger.notice("worker dead", metadata: ["stage": "\(stage.name)", "worker": "\(name)", "reason": "unreachable"])
            fail(stages[stage]!.remove(address, reason: "became unreachable"))
        }
    }
}
