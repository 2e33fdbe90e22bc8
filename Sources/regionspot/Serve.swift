import ArgumentParser
import Foundation
import Imaging
import Logging
import Pipeline
import PipelineProtocol
import RegionSpot
import Synchronization
import ZeroMQ

extension RegionSpotCommand {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the recognition daemon: a ZeroMQ front end for clients, with stage workers in this process or others.",
            discussion: """
                Clients send regionspot.v1.Request messages (Protos/regionspot/v1/regionspot.proto) to the bound \
                endpoint. Prints one line when ready (models loaded, one warm-up recognition run) naming the bound \
                endpoints. SIGTERM or SIGINT: new requests get UNAVAILABLE, those in flight finish within the grace \
                period, then the daemon exits 0. With --curve-secret and --curve-allow every tcp endpoint (clients' \
                and workers') requires CURVE and a public key from the allow directory; SIGHUP rereads it.
                """)

        @OptionGroup var model: ModelOptions
        @OptionGroup var cache: CacheOptions
        @OptionGroup var operations: OperationsOptions
        @Option(help: ArgumentHelp("Pipeline file (see Pipelines/*.yaml).",
                                   discussion: "Default: the built-in Pipelines/local.yaml, everything in this process."))
        var pipeline: String?
        @Option(help: "Client endpoint, replacing the pipeline file's frontend.bind (tcp://127.0.0.1:* picks a free port).")
        var bind: String?
        @Option(help: "Seconds the requests in flight get to finish after SIGTERM or SIGINT.")
        var gracePeriod: Double = 30
        @Option(help: "The daemon's CURVE secret key file (regionspot keys generate); needs --curve-allow.")
        var curveSecret: String?
        @Option(help: "Directory of the public key files (*.public) of the clients and workers let in; reread on SIGHUP.")
        var curveAllow: String?
        @Option(help: "Directory under which requests may name images by image_path (symbolic links resolved); without it image_path is refused.")
        var imageRoot: String?

        func validate() throws {
            guard gracePeriod >= 0 else { throw ValidationError("--grace-period must be at least 0, got \(gracePeriod)") }
            guard (curveSecret == nil) == (curveAllow == nil) else { throw ValidationError("give both --curve-secret and --curve-allow, or neither") }
            if curveSecret != nil && !ZeroMQLibrary.has("curve") { throw ValidationError(noCurveMessage) }
        }

        func run() throws {
            let shutdown = ShutdownSignals.catchTermination()
            let logger = operations.bootstrapLogging(label: "regionspot.serve")
            var topology = try pipeline.map { try PipelineConfiguration(contentsOf: URL(fileURLWithPath: $0)) } ?? PipelineConfiguration.local()
            if let bind { topology.frontend.bind = bind }
            let metrics = operations.bootstrapMetrics(configured: topology.metrics?.bind)
            let root = try imageRoot.map(ImageRoot.init)
            let bundle = try model.bundle()
            let modelID = try bundle.pipelineModelID()
            let context = try ZMQContext()
            let gate = try curveSecret.map { try CurveGate(secretFile: $0, allowDirectory: curveAllow!, context: context, logger: logger) }
            if let gate { ShutdownSignals.onHangUp { gate.reload() } }
            let stages = topology.stages.named.map(\.stage)
            if gate == nil {
                for endpoint in [topology.frontend.bind] + stages.map(\.endpoint) where !Loopback.contains(endpoint: endpoint) {
                    logger.warning("binding beyond loopback without CURVE: anyone who reaches it is served (see --curve-secret)",
                                   metadata: ["endpoint": "\(endpoint)"])
                }
            }
            // Registrations compute with the semantic stage's threads, once the models are loaded.
            let loaded = Eventually<Recognizer>()
            let imageCache = ImageEncodingCache(capacityBytes: topology.caches.imageEmbeddingBytes)
            let semanticThreads = topology.stages.semantic.threads
            let vocabularies = try VocabularyRegistry(directory: cache.directory?.appendingPathComponent("vocabularies/\(modelID)"),
                                                      modelID: modelID, logger: logger) { names, templates, progress in
                try loaded.value.sharing(threads: semanticThreads).computeClassEmbeddings(names, templates: templates, progress: progress)
            }
            // Bound first: health is answered while the models load, and a taken port fails at once.
            let broker = try Broker(settings: .init(configuration: topology, modelID: modelID, version: RegionSpotVersion.string,
                                                    curve: gate?.server, imageRoot: root, vocabularies: vocabularies,
                                                    imageCache: imageCache, classEmbeddingUsage: { loaded.current?.classEmbeddingUsage }),
                                    context: context, logger: logger)
            let monitoring = try operations.startMonitoring(metrics, command: "regionspot serve", logger: logger) { broker.readiness }
            let recognizer = try Recognizer(bundle: bundle, cacheDirectory: cache.directory?.appendingPathComponent("class-embeddings"),
                                            threads: stages.map(\.threads).max()!, classEmbeddingBytes: topology.caches.classEmbeddingBytes)
            loaded.set(recognizer)
            var workers: [StageWorker] = []
            for ((stage, settings), bound) in zip(zip(Regionspot_V1_Stage.pipeline, stages), broker.endpoints.stages) {
                for index in 0..<settings.workers {
                    let id = "\(ProcessInfo.processInfo.hostName):\(getpid())/\(stage.name).\(index)"
                    workers.append(StageWorker(settings: .init(stage: stage, endpoint: bound.endpoint, workerID: id, modelID: modelID,
                                                               heartbeat: topology.heartbeat, curve: gate?.ownClient, batching: settings.batching),
                                               recognizer: recognizer.sharing(threads: settings.threads), imageCache: imageCache,
                                               context: context, logger: logger))
                }
            }
            if stages.allSatisfy({ $0.workers > 0 }) {
                // Through the whole pipeline, so that the ready line means it answers.
                _ = try PipelineClient(endpoint: broker.endpoints.frontend, context: context, timeoutMilliseconds: 120_000, retries: 0,
                                       curve: gate?.ownClient)
                    .recognize(warmUpRequest())
            } else {
                _ = try recognizer.recognize(warmUpRequest())  // this process's workers; remote ones warm themselves
            }
            broker.markWarmedUp()
            announce("regionspot serve: ready on \(broker.endpoints.description)")

            shutdown.wait()
            logger.notice("shutting down: draining", metadata: ["grace_period_s": "\(gracePeriod)"])
            broker.drain(graceMilliseconds: Int(gracePeriod * 1000))
            _ = broker.wait(timeout: gracePeriod + 5)
            for worker in workers { worker.stop() }
            monitoring?.stop()
            gate?.stop()
        }
    }
}

/// A value that another thread provides later; `value` waits for it.
final class Eventually<Value: Sendable>: Sendable {
    private let stored = Mutex<Value?>(nil)
    private let available = DispatchSemaphore(value: 0)

    func set(_ value: Value) {
        stored.withLock { $0 = value }
        available.signal()
    }

    var value: Value {
        available.wait()
        available.signal()  // for the next reader
        return stored.withLock { $0! }
    }

    /// The value if it is there already, without waiting.
    var current: Value? { stored.withLock { $0 } }
}

/// One recognition on a small synthetic image, run before a daemon or worker says it is ready, so
/// that the first client does not pay for first-use costs (allocations, the text encoder's first run).
func warmUpRequest() -> RecognitionRequest {
    RecognitionRequest(image: .decoded(RGBImage(width: 64, height: 48, color: RGB(120, 90, 60))),
                       boxes: [Box(x0: 8, y0: 8, x1: 40, y1: 32)], vocabulary: ["object"], topK: 1)
}
