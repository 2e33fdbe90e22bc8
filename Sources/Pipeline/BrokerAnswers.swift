import Foundation
import PipelineProtocol
import Tensors

// What the broker's loop answers from the state it holds: the fuse stage's input and the
// recognition reply built from the stages' results, and the admin replies.
extension BrokerLoop {
    /// The fuse stage's input: the other stages' tensors in one safetensors file, shapes checked;
    /// a registered vocabulary's class embeddings come from the broker.
    func fuseTask(localize: Regionspot_V1_LocalizeResult, semantic: Regionspot_V1_SemanticResult,
                  request: Regionspot_V1_RecognizeRequest, registeredClassEmbeddings: Tensor?) throws -> Regionspot_V1_FuseTask {
        let regions = try SafeTensors.decode(localize.tensors, source: "localize result").tensors
        let semanticTensors = try SafeTensors.decode(semantic.tensors, source: "semantic result").tensors
        let count = Self.boxes(of: request, localize).count
        guard let tokens = regions["mask_tokens"], tokens.rank == 2, tokens.dim(0) == count else {
            throw RequestRefusal(.internal, "localize result: mask_tokens missing or not [\(count), E]")
        }
        guard let tokenMap = semanticTensors["token_map"], let classes = registeredClassEmbeddings ?? semanticTensors["class_embeddings"],
              classes.rank == 2, classes.dim(0) == request.vocabulary.count else {
            throw RequestRefusal(.internal, "semantic result: token_map or class_embeddings [\(request.vocabulary.count), E] missing")
        }
        var task = Regionspot_V1_FuseTask()
        task.tensors = SafeTensors.encode(["mask_tokens": tokens, "token_map": tokenMap, "class_embeddings": classes])
        task.topK = request.topK == 0 ? RequestValidation.defaultTopK : request.topK
        return task
    }

    /// The boxes a request's regions are: those it sent, or those SAM proposed (PROPOSALS_SAM).
    static func boxes(of request: Regionspot_V1_RecognizeRequest, _ localize: Regionspot_V1_LocalizeResult) -> [Regionspot_V1_Box] {
        request.proposals == .sam ? localize.proposals : request.boxes
    }

    static func boxes(of entry: RequestTable.Entry) -> [Regionspot_V1_Box] {
        entry.localize.map { boxes(of: entry.request, $0) } ?? entry.request.boxes
    }

    func replySuccess(_ entry: RequestTable.Entry, _ fuse: Regionspot_V1_FuseResult) {
        let request = entry.request, boxes = Self.boxes(of: entry)
        guard let localize = entry.localize, fuse.boxes.count == boxes.count,
              let scores = try? SafeTensors.decode(localize.tensors, source: "localize result").tensors["iou_scores"],
              scores.count == boxes.count, !request.masks || localize.masks.count == boxes.count else {
            reply(to: entry, status: Regionspot_V1_Status(.internal, "fuse/localize: results do not cover the request's \(boxes.count) boxes"))
            return
        }
        var answer = Regionspot_V1_RecognizeReply()
        answer.requestID = request.requestID
        answer.status = Regionspot_V1_Status(.ok)
        (answer.imageWidth, answer.imageHeight) = (UInt32(entry.imageWidth), UInt32(entry.imageHeight))
        let iou = scores.scalars
        for (index, box) in boxes.enumerated() {
            var region = Regionspot_V1_Region()
            region.box = box
            region.maskScore = iou[index]
            for scored in fuse.boxes[index].classes where Int(scored.index) < request.vocabulary.count {
                region.labels.append(.with {
                    $0.name = request.vocabulary[Int(scored.index)]
                    $0.index = scored.index
                    $0.score = scored.score
                })
            }
            if request.masks { region.mask = localize.masks[index] }
            answer.regions.append(region)
        }
        var timings = entry.timings
        timings.totalMs = Double(clock.now() - entry.receivedAt)
        let computing = timings.decodeMs + max(timings.samEncoderMs + timings.samDecoderMs, timings.clipEncoderMs + timings.classEmbeddingsMs) + timings.fusionMs
        timings.queueMs = max(0, timings.totalMs - computing)
        answer.timings = timings
        answered(request, status: answer.status, timings: timings, regions: boxes.count)
        var message = Regionspot_V1_Reply()
        message.recognize = answer
        send(message, to: entry.envelope, code: .ok)
    }

    // MARK: Admin

    func readinessReply(_ requestID: String) -> Regionspot_V1_ReadinessReply {
        var reply = Regionspot_V1_ReadinessReply()
        reply.requestID = requestID
        reply.status = Regionspot_V1_Status(.ok)
        (reply.ready, reply.reason) = readiness()
        reply.stages = Regionspot_V1_Stage.pipeline.map { stage in
            let queue = stages[stage]!
            return .with {
                $0.stage = stage.name
                $0.workers = UInt32(queue.liveWorkers)
                $0.queued = UInt32(queue.waiting.count)
                $0.queueLimit = UInt32(queue.queueLimit)
            }
        }
        return reply
    }

    /// Ready, or why not: "draining", "warming up", "no live fuse worker".
    func readiness() -> (ready: Bool, reason: String) {
        let missing = Regionspot_V1_Stage.pipeline.filter { stages[$0]!.liveWorkers == 0 }
        let ready = warmedUp && drainDeadline == nil && missing.isEmpty
        let reason = drainDeadline != nil ? "draining" : !warmedUp ? "warming up"
            : missing.map { "no live \($0.name) worker" }.joined(separator: ", ")
        return (ready, reason)
    }

    func statsReply(_ requestID: String) -> Regionspot_V1_StatsReply {
        var reply = Regionspot_V1_StatsReply()
        reply.requestID = requestID
        reply.status = Regionspot_V1_Status(.ok)
        reply.requests = received
        reply.inFlight = UInt32(requests.count)
        reply.repliesByCode = repliesByCode.sorted { $0.key.rawValue < $1.key.rawValue }.map { code, count in
            .with { $0.code = code; $0.count = count }
        }
        reply.stages = Regionspot_V1_Stage.pipeline.map { stage in
            let queue = stages[stage]!
            let times = (computeTimes[stage] ?? []).sorted()
            return .with {
                $0.stage = stage.name
                $0.workers = UInt32(queue.liveWorkers)
                $0.queued = UInt32(queue.waiting.count)
                $0.completed = queue.completed
                $0.retried = queue.retried
                $0.meanMs = queue.completed > 0 ? (computeTotals[stage] ?? 0) / Double(queue.completed) : 0
                $0.p99Ms = times.isEmpty ? 0 : times[min(times.count - 1, Int(Double(times.count) * 0.99))]
            }
        }
        let caches = [(CacheMetrics.imageEmbeddings, settings.imageCache?.usage), (CacheMetrics.classEmbeddings, settings.classEmbeddingUsage())]
        reply.caches = caches.compactMap { name, usage in
            usage.map { usage in
                .with {
                    $0.name = name
                    $0.entries = UInt64(usage.count)
                    $0.bytes = UInt64(usage.cost)
                    $0.capacityBytes = UInt64(usage.capacity)
                    $0.hits = UInt64(usage.hits)
                    $0.misses = UInt64(usage.misses)
                }
            }
        }
        return reply
    }
}
