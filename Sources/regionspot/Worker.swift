import ArgumentParser
import Foundation
import Logging
import Pipeline
import PipelineProtocol
import RegionSpot
import Synchronization
import ZeroMQ

extension RegionSpotCommand {
    struct Worker: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one stage of a daemon's pipeline for a broker in another process or on another machine.",
            discussion: """
                Connects to the stage endpoint the broker's pipeline file names, registers, and computes work items \
                until SIGTERM or SIGINT. Survives the broker: when it falls silent the worker reconnects with back-off \
                and registers again. Prints one line when ready (model loaded and warmed up). With --metrics-bind, \
                /readyz answers 200 once it is warmed up and its broker answers.
                """)

        @Option(help: "The stage to run: localize (SAM), semantic (CLIP) or fuse (RegionSpot's fusion module).")
        var stage: String
        @Option(help: "The broker's endpoint for this stage (tcp://HOST:PORT).")
        var connect: String
        @OptionGroup var model: ModelOptions
        @OptionGroup var threads: ThreadOptions
        @OptionGroup var cache: CacheOptions
        @OptionGroup var operations: OperationsOptions
        @Option(help: "Milliseconds between heartbeats; must match the broker's pipeline file.")
        var heartbeatMs: Int = 1000
        @Option(help: "Heartbeat intervals of silence after which the broker is taken for dead; must match the pipeline file.")
        var liveness: Int = 3
        @Option(help: "The broker's CURVE public key file, for a broker started with --curve-secret; needs --curve-secret.")
        var curveServerKey: String?
        @Option(help: "This worker's CURVE secret key file; its public key must be in the broker's --curve-allow directory.")
        var curveSecret: String?
        @Option(help: "MiB of SAM image embeddings and CLIP token maps kept for images seen again (0 keeps none).")
        var imageCacheMib: Int = 1024
        @Option(help: "Batch the boxes of concurrent requests, up to this many per batch (localize and fuse; as the pipeline file's batching.max_boxes).")
        var batchMaxBoxes: Int?
        @Option(help: "With --batch-max-boxes: milliseconds the first item of a batch waits for others.")
        var batchMaxWaitMs: Int = 2

        func validate() throws {
            guard Regionspot_V1_Stage(name: stage) != nil else {
                throw ValidationError("--stage must be localize, semantic or fuse, got '\(stage)'")
            }
            guard connect.contains("://") else { throw ValidationError("--connect must be an endpoint such as tcp://HOST:PORT, got '\(connect)'") }
            guard heartbeatMs >= 1, liveness >= 1 else { throw ValidationError("--heartbeat-ms and --liveness must be at least 1") }
            guard imageCacheMib >= 0 else { throw ValidationError("--image-cache-mib must be at least 0, got \(imageCacheMib)") }
            guard batchMaxBoxes.map({ $0 >= 1 }) ?? true, batchMaxWaitMs >= 0 else {
                throw ValidationError("--batch-max-boxes must be at least 1 and --batch-max-wait-ms at least 0")
            }
            if batchMaxBoxes != nil && stage == "semantic" {
                throw ValidationError("--batch-max-boxes applies to localize and fuse only (CLIP encodes one image at a time)")
            }
        }

        func run() throws {
            let shutdown = ShutdownSignals.catchTermination()
            let logger = operations.bootstrapLogging(label: "regionspot.worker")
            let metrics = operations.bootstrapMetrics()
            let curve = try curveClient(serverKeyFile: curveServerKey, secretFile: curveSecret)
            let stage = Regionspot_V1_Stage(name: self.stage)!
            let running = Mutex<StageWorker?>(nil)
            let connect = connect
            let monitoring = try operations.startMonitoring(metrics, command: "regionspot worker", logger: logger) {
                running.withLock { worker in
                    guard let worker else { return (false, "warming up") }
                    return worker.isConnected ? (true, "") : (false, "no answer from the broker at \(connect)")
                }
            }
            let bundle = try model.bundle()
            let recognizer = try makeRecognizer(model, threads, cache)
            _ = try recognizer.recognize(warmUpRequest())
            let worker = StageWorker(
                settings: .init(stage: stage, endpoint: connect, workerID: "\(ProcessInfo.processInfo.hostName):\(getpid())",
                                modelID: try bundle.pipelineModelID(),
                                heartbeat: .init(intervalMilliseconds: heartbeatMs, liveness: liveness), curve: curve,
                                batching: batchMaxBoxes.map { .init(maxBoxes: $0, maxWaitMilliseconds: batchMaxWaitMs) }),
                recognizer: recognizer, imageCache: ImageEncodingCache(capacityBytes: imageCacheMib << 20), context: try ZMQContext(),
                logger: logger)
            running.withLock { $0 = worker }
            announce("regionspot worker: ready (stage \(stage.name), broker \(connect))")
            shutdown.wait()
            worker.stop()
            monitoring?.stop()
        }
    }
}
