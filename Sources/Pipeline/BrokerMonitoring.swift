import Logging
import PipelineProtocol
import Synchronization

/// What the broker's loop publishes for other threads after each turn (the HTTP server's /readyz
/// reads it without waiting for the loop).
final class BrokerSnapshot: Sendable {
    let readiness = Mutex<(ready: Bool, reason: String)>((false, "starting"))
}

// The broker's logs and metrics: one info line per recognition answered, gauges after each turn.
extension BrokerLoop {
    /// After each turn of the loop: readiness for other threads, and the gauges.
    func publish() {
        let readiness = readiness()
        snapshot.readiness.withLock { $0 = readiness }
        metrics.inFlight.record(requests.count)
        for stage in Regionspot_V1_Stage.pipeline {
            metrics.stage(stage, queued: stages[stage]!.waiting.count, liveWorkers: stages[stage]!.liveWorkers)
        }
    }

    /// A recognition request is answered with `status`; `timings` are those of a request that ran,
    /// `regions` the regions it answered (its boxes, or SAM's proposals).
    func answered(_ request: Regionspot_V1_RecognizeRequest, status: Regionspot_V1_Status, timings: Regionspot_V1_Timings?,
                  regions: Int? = nil) {
        var metadata: Logger.Metadata = [
            "request_id": "\(request.requestID)", "status": "\(status.code.name)",
            "boxes": "\(regions ?? request.boxes.count)", "classes": "\(request.vocabulary.count)",
        ]
        if request.proposals == .sam { metadata["proposals"] = "sam" }
        if let timings {
            metrics.requestDuration.recordNanoseconds(Int64(timings.totalMs * 1e6))
            let stages: [(String, Double)] = [
                ("total_ms", timings.totalMs), ("queue_ms", timings.queueMs), ("decode_ms", timings.decodeMs),
                ("sam_encoder_ms", timings.samEncoderMs), ("sam_decoder_ms", timings.samDecoderMs),
                ("clip_encoder_ms", timings.clipEncoderMs), ("class_embeddings_ms", timings.classEmbeddingsMs),
                ("fusion_ms", timings.fusionMs),
            ]
            for (name, milliseconds) in stages { metadata[name] = "\(Double((milliseconds * 10).rounded()) / 10)" }
            let hits = [("image_embedding_cache_hit", timings.imageEmbeddingCacheHit), ("token_map_cache_hit", timings.tokenMapCacheHit),
                        ("class_embeddings_cache_hit", timings.classEmbeddingsCacheHit)]
            for (name, hit) in hits { metadata[name] = "\(hit)" }
        }
        if status.code != .ok { metadata["message"] = "\(status.message)" }
        logger.info("recognize", metadata: metadata)
    }
}
