import Metrics
import PipelineProtocol

/// The pipeline's metrics, through swift-metrics' API (the executable picks the backend: Prometheus
/// behind `--metrics-bind`), all in this file so that a name is always made with the same
/// dimensions (Prometheus refuses one name with and without labels).
///
/// The broker's, created and updated on the broker's thread only:
///
/// - `regionspot_requests_total`: client messages received, of every kind;
/// - `regionspot_replies_total{code}`: replies sent, by status code (errors are the codes other than OK);
/// - `regionspot_requests_in_flight`: recognition requests accepted and not yet answered;
/// - `regionspot_request_duration_seconds`: receipt to reply, of recognitions answered OK;
/// - `regionspot_stage_queue_depth{stage}`, `regionspot_stage_workers{stage}`: items waiting, live workers;
/// - `regionspot_stage_compute_seconds{stage}`: time per work item inside its worker.
struct BrokerMetrics {
    let requests = Counter(label: "regionspot_requests_total")
    let inFlight = Gauge(label: "regionspot_requests_in_flight")
    let requestDuration = Metrics.Timer(label: "regionspot_request_duration_seconds")
    private var replies: [Regionspot_V1_Code: Counter] = [:]
    private let queueDepth = Self.perStage { Gauge(label: "regionspot_stage_queue_depth", dimensions: [("stage", $0)]) }
    private let workers = Self.perStage { Gauge(label: "regionspot_stage_workers", dimensions: [("stage", $0)]) }
    private let compute = Self.perStage { Metrics.Timer(label: "regionspot_stage_compute_seconds", dimensions: [("stage", $0)]) }

    private static func perStage<Metric>(_ make: (String) -> Metric) -> [Regionspot_V1_Stage: Metric] {
        Dictionary(uniqueKeysWithValues: Regionspot_V1_Stage.pipeline.map { ($0, make($0.name)) })
    }

    mutating func replied(_ code: Regionspot_V1_Code) {
        if replies[code] == nil { replies[code] = Counter(label: "regionspot_replies_total", dimensions: [("code", code.name)]) }
        replies[code]!.increment()
    }

    func computed(_ stage: Regionspot_V1_Stage, milliseconds: Double) {
        compute[stage]!.recordNanoseconds(Int64(milliseconds * 1e6))
    }

    func stage(_ stage: Regionspot_V1_Stage, queued: Int, liveWorkers: Int) {
        queueDepth[stage]!.record(queued)
        workers[stage]!.record(liveWorkers)
    }
}

/// A stage worker's metric: `regionspot_worker_compute_seconds{stage}`, time per item it computed
/// (its count is the items done; each item of a batch records the batch's time). Workers in the
/// daemon's process report beside the broker's.
struct WorkerMetrics {
    let compute: Metrics.Timer

    init(stage: Regionspot_V1_Stage) {
        compute = Metrics.Timer(label: "regionspot_worker_compute_seconds", dimensions: [("stage", stage.name)])
    }
}

/// Cache hits and misses through swift-metrics, whatever backend the daemon bootstrapped:
/// `regionspot_cache_hits_total` and `regionspot_cache_misses_total`, dimension `cache`.
/// The counter is made at each count (backends hand back the same one for the same label and
/// dimensions), so that counts made before the backend is bootstrapped are not lost to a no-op.
enum CacheMetrics {
    static let imageEmbeddings = "image_embeddings"
    static let classEmbeddings = "class_embeddings"

    static func count(hit: Bool, cache: String) {
        Counter(label: hit ? "regionspot_cache_hits_total" : "regionspot_cache_misses_total", dimensions: [("cache", cache)]).increment()
    }
}
