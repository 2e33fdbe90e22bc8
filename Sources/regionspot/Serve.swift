import ArgumentParser
import Foundation
import Imaging
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
                period, then the daemon exits 0.
                """)

        @OptionGroup var model: ModelOptions
        @OptionGroup var cache: CacheOptions
        @Option(help: ArgumentHelp("Pipeline file (see Pipelines/*.yaml).",
                                   discussion: "Default: the built-in Pipelines/local.yaml, everything in this process."))
        var pipeline: String?
        @Option(help: "Client endpoint, replacing the pipeline file's frontend.bind (tcp://127.0.0.1:* picks a free port).")
        var bind: String?
        @Option(help: "Seconds the requests in flight get to finish after SIGTERM or SIGINT.")
        var gracePeriod: Double = 30

        func validate() throws {
            guard gracePeriod >= 0 else { throw ValidationError("--grace-period must be at least 0, got \(gracePeriod)") }
        }

        func run() throws {
            let shutdown = ShutdownSignals.catchTermination()
            var topology = try pipeline.map { try PipelineConfiguration(contentsOf: URL(fileURLWithPath: $0)) } ?? PipelineConfiguration.local()
            if let bind { topology.frontend.bind = bind }
            let bundle = try model.bundle()
            let modelID = try bundle.pipelineModelID()
            let context = try ZMQContext()
            let stages = topology.stages.named.map(\.stage)
            // Registrations compute with the semantic stage's threads, once the models are loaded.
            let loaded = Eventually<Recognizer>()
            let semanticThreads = topology.stages.semantic.threads
            let vocabularies = try VocabularyRegistry(directory: cache.directory?.appendingPathComponent("vocabularies/\(modelID)"),
                                                      modelID: modelID, log: logLine) { names, templates, progress in
                try loaded.value.sharing(threads: semanticThreads).computeClassEmbeddings(names, templates: templates, progress: progress)
            }
            // Bound first: health is answered while the models load, and a taken port fails at once.
            let broker = try Broker(settings: .init(configuration: topology, modelID: modelID, version: RegionSpotVersion.string,
                                                    vocabularies: vocabularies),
                                    context: context, log: logLine)
            let recognizer = try Recognizer(bundle: bundle, cacheDirectory: cache.directory?.appendingPathComponent("class-embeddings"),
                                            threads: stages.map(\.threads).max()!, classEmbeddingBytes: topology.caches.classEmbeddingBytes)
            loaded.set(recognizer)
            let imageCache = ImageEncodingCache(capacityBytes: topology.caches.imageEmbeddingBytes)
            var workers: [StageWorker] = []
            for ((stage, settings), bound) in zip(zip(Regionspot_V1_Stage.pipeline, stages), broker.endpoints.stages) {
                for index in 0..<settings.workers {
                    let id = "\(ProcessInfo.processInfo.hostName):\(getpid())/\(stage.name).\(index)"
                    workers.append(StageWorker(settings: .init(stage: stage, endpoint: bound.endpoint, workerID: id, modelID: modelID,
                                                               heartbeat: topology.heartbeat, batching: settings.batching),
                                               recognizer: recognizer.sharing(threads: settings.threads), imageCache: imageCache,
                                               context: context, log: logLine))
                }
            }
            if stages.allSatisfy({ $0.workers > 0 }) {
                // Through the whole pipeline, so that the ready line means it answers.
                _ = try PipelineClient(endpoint: broker.endpoints.frontend, context: context, timeoutMilliseconds: 120_000, retries: 0)
                    .recognize(warmUpRequest())
            } else {
                _ = try recognizer.recognize(warmUpRequest())  // this process's workers; remote ones warm themselves
            }
            broker.markWarmedUp()
            announce("regionspot serve: ready on \(broker.endpoints.description)")

            shutdown.wait()
            logLine("I: shutting down: draining for up to \(gracePeriod) s")
            broker.drain(graceMilliseconds: Int(gracePeriod * 1000))
            _ = broker.wait(timeout: gracePeriod + 5)
            for worker in workers { worker.stop() }
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
}

/// One recognition on a small synthetic image, run before a daemon or worker says it is ready, so
/// that the first client does not pay for first-use costs (allocations, the text encoder's first run).
func warmUpRequest() -> RecognitionRequest {
    RecognitionRequest(image: .decoded(RGBImage(width: 64, height: 48, color: RGB(120, 90, 60))),
                       boxes: [Box(x0: 8, y0: 8, x1: 40, y1: 32)], vocabulary: ["object"], topK: 1)
}
