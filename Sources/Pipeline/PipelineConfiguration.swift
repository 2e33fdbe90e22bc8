import Foundation
import SAM

/// A daemon topology, read from a pipeline file (Pipelines/local.yaml, Pipelines/distributed.yaml):
/// where clients and workers connect, how many workers each stage runs, and the limits, timings
/// and cache sizes. Every key is required except `batching`, `metrics` and `proposals`; unknown keys are errors.
/// The YAML files document each key.
public struct PipelineConfiguration: Sendable, Equatable {
    public var frontend: Frontend
    public var heartbeat: Heartbeat
    public var limits: Limits
    public var stages: Stages
    public var caches: Caches
    /// The Prometheus and health HTTP endpoint; nil serves none.
    public var metrics: Metrics?
    /// SAM's automatic mask generator for requests with PROPOSALS_SAM (segment-anything's defaults
    /// unless the file's `proposals` section says otherwise).
    public var proposals: AutomaticMaskGenerator.Options

    public init(frontend: Frontend, heartbeat: Heartbeat, limits: Limits, stages: Stages, caches: Caches, metrics: Metrics? = nil,
                proposals: AutomaticMaskGenerator.Options = AutomaticMaskGenerator.Options()) {
        self.frontend = frontend
        self.heartbeat = heartbeat
        self.limits = limits
        self.stages = stages
        self.caches = caches
        self.metrics = metrics
        self.proposals = proposals
    }

    /// The client-facing ROUTER socket.
    public struct Frontend: Sendable, Equatable {
        /// The ZeroMQ endpoint bound for clients ("tcp://127.0.0.1:5555").
        public var bind: String
        /// The deadline of requests that give none, in milliseconds.
        public var defaultDeadlineMilliseconds: Int

        public init(bind: String, defaultDeadlineMilliseconds: Int) {
            self.bind = bind
            self.defaultDeadlineMilliseconds = defaultDeadlineMilliseconds
        }
    }

    /// Heartbeats between the broker and its workers, both ways.
    public struct Heartbeat: Sendable, Equatable {
        public var intervalMilliseconds: Int
        /// Intervals a peer may stay silent before it is taken for dead.
        public var liveness: Int

        public init(intervalMilliseconds: Int, liveness: Int) {
            self.intervalMilliseconds = intervalMilliseconds
            self.liveness = liveness
        }
    }

    /// What one request may hold; larger ones get INVALID_ARGUMENT.
    public struct Limits: Sendable, Equatable {
        /// The largest frame accepted from a client (ZMQ_MAXMSGSIZE), in bytes.
        public var maxMessageBytes: Int
        /// The most pixels a decoded image may have (width × height): guards against decompression bombs.
        public var maxImagePixels: Int
        public var maxBoxes: Int
        /// The most classes in a vocabulary.
        public var maxClasses: Int

        public init(maxMessageBytes: Int, maxImagePixels: Int, maxBoxes: Int, maxClasses: Int) {
            self.maxMessageBytes = maxMessageBytes
            self.maxImagePixels = maxImagePixels
            self.maxBoxes = maxBoxes
            self.maxClasses = maxClasses
        }
    }

    /// One stage's workers and queue.
    public struct Stage: Sendable, Equatable {
        /// Workers `regionspot serve` runs in its own process; 0 leaves the stage to `regionspot worker`s.
        public var workers: Int
        /// Compute threads of each of those workers.
        public var threads: Int
        /// Where the broker binds this stage's ROUTER for workers (inproc:// only with local workers).
        public var endpoint: String
        /// Work items waiting for a worker before new requests get RESOURCE_EXHAUSTED.
        public var queueLimit: Int
        /// How boxes of concurrent requests are batched; nil runs each request alone.
        public var batching: Batching?

        public init(workers: Int, threads: Int, endpoint: String, queueLimit: Int, batching: Batching? = nil) {
            self.workers = workers
            self.threads = threads
            self.endpoint = endpoint
            self.queueLimit = queueLimit
            self.batching = batching
        }
    }

    /// Dynamic batching of boxes from concurrent requests (localize's decoder and fuse).
    public struct Batching: Sendable, Equatable {
        /// The most boxes in one batch.
        public var maxBoxes: Int
        /// How long the first item of a batch waits for others, in milliseconds.
        public var maxWaitMilliseconds: Int

        public init(maxBoxes: Int, maxWaitMilliseconds: Int) {
            self.maxBoxes = maxBoxes
            self.maxWaitMilliseconds = maxWaitMilliseconds
        }
    }

    public struct Stages: Sendable, Equatable {
        /// SAM: mask tokens, IoU scores and masks per box.
        public var localize: Stage
        /// CLIP: token maps of images, class embeddings of vocabularies.
        public var semantic: Stage
        /// RegionSpot's fusion module: labels per box.
        public var fuse: Stage

        public init(localize: Stage, semantic: Stage, fuse: Stage) {
            self.localize = localize
            self.semantic = semantic
            self.fuse = fuse
        }
    }

    /// Least-recently-used caches, bounded in bytes; 0 disables one.
    public struct Caches: Sendable, Equatable {
        /// SAM image embeddings and CLIP token maps, by image digest.
        public var imageEmbeddingBytes: Int
        /// Class embeddings, by vocabulary and templates.
        public var classEmbeddingBytes: Int

        public init(imageEmbeddingBytes: Int, classEmbeddingBytes: Int) {
            self.imageEmbeddingBytes = imageEmbeddingBytes
            self.classEmbeddingBytes = classEmbeddingBytes
        }
    }

    public struct Metrics: Sendable, Equatable {
        /// host:port of the HTTP server for /metrics, /healthz and /readyz.
        public var bind: String

        public init(bind: String) {
            self.bind = bind
        }
    }
}

// MARK: - Decoding

extension PipelineConfiguration: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case frontend, heartbeat, limits, stages, caches, metrics, proposals }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        frontend = try container.decode(Frontend.self, forKey: .frontend)
        heartbeat = try container.decode(Heartbeat.self, forKey: .heartbeat)
        limits = try container.decode(Limits.self, forKey: .limits)
        stages = try container.decode(Stages.self, forKey: .stages)
        caches = try container.decode(Caches.self, forKey: .caches)
        metrics = try container.decodeIfPresent(Metrics.self, forKey: .metrics)
        proposals = try container.decodeIfPresent(ProposalsSection.self, forKey: .proposals)?.options ?? AutomaticMaskGenerator.Options()

        // Two sockets cannot bind one endpoint; say which key repeats which. A wildcard port
        // ("tcp://127.0.0.1:*") binds a different free port each time.
        var owners = ["frontend.bind": frontend.bind]
        for (name, stage) in stages.named where !stage.endpoint.hasSuffix(":*") {
            if let owner = owners.first(where: { $0.value == stage.endpoint })?.key {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: [CodingKeys.stages, AnyCodingKey(stringValue: name), Stage.CodingKeys.endpoint],
                    debugDescription: "'\(stage.endpoint)' is already bound by \(owner)"))
            }
            owners["stages.\(name).endpoint"] = stage.endpoint
        }
    }
}

extension PipelineConfiguration.Frontend: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case bind, defaultDeadlineMilliseconds = "default_deadline_ms" }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        bind = try container.endpoint(.bind, transports: ["tcp", "ipc", "inproc"])
        defaultDeadlineMilliseconds = try container.integer(.defaultDeadlineMilliseconds, atLeast: 1)
    }
}

extension PipelineConfiguration.Heartbeat: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case intervalMilliseconds = "interval_ms", liveness }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        intervalMilliseconds = try container.integer(.intervalMilliseconds, atLeast: 1)
        liveness = try container.integer(.liveness, atLeast: 1)
    }
}

extension PipelineConfiguration.Limits: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxMessageBytes = "max_message_size", maxImagePixels = "max_image_pixels", maxBoxes = "max_boxes"
        case maxClasses = "max_classes"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxMessageBytes = try container.byteCount(.maxMessageBytes, atLeast: 1)
        maxImagePixels = try container.integer(.maxImagePixels, atLeast: 1)
        maxBoxes = try container.integer(.maxBoxes, atLeast: 1)
        maxClasses = try container.integer(.maxClasses, atLeast: 1)
    }
}

extension PipelineConfiguration.Stage: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case workers, threads, endpoint, queueLimit = "queue_limit", batching
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        workers = try container.integer(.workers, atLeast: 0)
        threads = try container.integer(.threads, atLeast: 1)
        endpoint = try container.endpoint(.endpoint, transports: ["tcp", "ipc", "inproc"])
        queueLimit = try container.integer(.queueLimit, atLeast: 1)
        batching = try container.decodeIfPresent(PipelineConfiguration.Batching.self, forKey: .batching)
        if workers == 0 && endpoint.hasPrefix("inproc://") {
            throw DecodingError.dataCorrupted(.init(
                codingPath: container.codingPath + [CodingKeys.workers],
                debugDescription: "no worker can reach inproc endpoint '\(endpoint)' from another process; run at least 1 here or use tcp://"))
        }
    }
}

extension PipelineConfiguration.Batching: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case maxBoxes = "max_boxes", maxWaitMilliseconds = "max_wait_ms" }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxBoxes = try container.integer(.maxBoxes, atLeast: 1)
        maxWaitMilliseconds = try container.integer(.maxWaitMilliseconds, atLeast: 0)
    }
}

extension PipelineConfiguration.Stages: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case localize, semantic, fuse }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        localize = try container.decode(PipelineConfiguration.Stage.self, forKey: .localize)
        semantic = try container.decode(PipelineConfiguration.Stage.self, forKey: .semantic)
        fuse = try container.decode(PipelineConfiguration.Stage.self, forKey: .fuse)
        if semantic.batching != nil {
            throw DecodingError.dataCorrupted(.init(
                codingPath: container.codingPath + [CodingKeys.semantic, PipelineConfiguration.Stage.CodingKeys.batching],
                debugDescription: "batching applies to localize and fuse only (CLIP encodes one image at a time)"))
        }
    }

    /// The stages with their names in the file, in pipeline order.
    public var named: [(name: String, stage: PipelineConfiguration.Stage)] {
        [("localize", localize), ("semantic", semantic), ("fuse", fuse)]
    }
}

extension PipelineConfiguration.Caches: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case imageEmbeddingBytes = "image_embeddings", classEmbeddingBytes = "class_embeddings"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        imageEmbeddingBytes = try container.byteCount(.imageEmbeddingBytes, atLeast: 0)
        classEmbeddingBytes = try container.byteCount(.classEmbeddingBytes, atLeast: 0)
    }
}

extension PipelineConfiguration.Metrics: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case bind }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        bind = try decoder.container(keyedBy: CodingKeys.self).hostAndPort(.bind)
    }
}

/// The `proposals` section: the generator's parameters under segment-anything's names, each
/// optional with its default (`AutomaticMaskGenerator.Options()`, as predict's options have),
/// checked together as the generator checks them.
struct ProposalsSection: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case pointsPerSide = "points_per_side", pointsPerBatch = "points_per_batch", predIouThresh = "pred_iou_thresh"
        case stabilityScoreThresh = "stability_score_thresh", stabilityScoreOffset = "stability_score_offset"
        case boxNmsThresh = "box_nms_thresh", cropNLayers = "crop_n_layers", cropNmsThresh = "crop_nms_thresh"
        case cropOverlapRatio = "crop_overlap_ratio", cropNPointsDownscaleFactor = "crop_n_points_downscale_factor"
        case minMaskRegionArea = "min_mask_region_area"
    }

    let options: AutomaticMaskGenerator.Options

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var o = AutomaticMaskGenerator.Options()
        func integer(_ key: CodingKeys, _ value: Int, atLeast minimum: Int) throws -> Int {
            container.contains(key) ? try container.integer(key, atLeast: minimum) : value
        }
        func number(_ key: CodingKeys, _ value: Double) throws -> Double {
            container.contains(key) ? try container.number(key) : value
        }
        o.pointsPerSide = try integer(.pointsPerSide, o.pointsPerSide!, atLeast: 1)
        o.pointsPerBatch = try integer(.pointsPerBatch, o.pointsPerBatch, atLeast: 1)
        o.predIouThresh = try number(.predIouThresh, o.predIouThresh)
        o.stabilityScoreThresh = try number(.stabilityScoreThresh, o.stabilityScoreThresh)
        o.stabilityScoreOffset = try number(.stabilityScoreOffset, o.stabilityScoreOffset)
        o.boxNmsThresh = try number(.boxNmsThresh, o.boxNmsThresh)
        o.cropNLayers = try integer(.cropNLayers, o.cropNLayers, atLeast: 0)
        o.cropNmsThresh = try number(.cropNmsThresh, o.cropNmsThresh)
        o.cropOverlapRatio = try number(.cropOverlapRatio, o.cropOverlapRatio)
        o.cropNPointsDownscaleFactor = try integer(.cropNPointsDownscaleFactor, o.cropNPointsDownscaleFactor, atLeast: 1)
        o.minMaskRegionArea = try integer(.minMaskRegionArea, o.minMaskRegionArea, atLeast: 0)
        do {
            _ = try AutomaticMaskGenerator.pointGrids(for: o)
        } catch SAMError.badInput(let what, let reason) {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [AnyCodingKey(stringValue: what)],
                                                    debugDescription: reason))
        }
        options = o
    }
}
