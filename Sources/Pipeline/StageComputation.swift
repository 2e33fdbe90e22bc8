import CLIP
import Foundation
import Imaging
import Logging
import PipelineProtocol
import RegionSpot
import SAM
import Tensors

/// What a stage worker computes for the work items it takes together (one, or a batch with
/// `batching`), with the engine's stages. Runs on a compute thread; never throws: every failure
/// becomes its item's status.
///
/// Encoder outputs come from the process's `ImageEncodingCache` when the image was seen before.
/// In a batch, localize items on the same image share its embedding, and fuse items share one
/// pass of the fusion module (attention within each image); both give each item's numbers.
struct StageComputation: Sendable {
    let stage: Regionspot_V1_Stage
    let recognizer: Recognizer
    let imageCache: ImageEncodingCache
    let logger: Logger

    /// One result per item, in order.
    func compute(_ items: [Regionspot_V1_WorkItem], unixNow: Milliseconds) -> [Regionspot_V1_WorkResult] {
        let start = DispatchTime.now()
        var results = items.map { item in
            var result = Regionspot_V1_WorkResult()
            (result.requestID, result.itemID, result.attempt) = (item.requestID, item.itemID, item.attempt)
            return result
        }
        var live: [Int] = []
        for (index, item) in items.enumerated() {
            if item.deadlineUnixMs > 0 && unixNow > item.deadlineUnixMs {
                results[index].status = Regionspot_V1_Status(.deadlineExceeded, "deadline_ms: passed before the \(stage.name) stage could start")
            } else {
                live.append(index)
            }
        }
        switch stage {
        case .localize: localize(items, live, into: &results)
        case .fuse: fuse(items, live, into: &results)
        default: for index in live { settle(&results[index]) { try semantic(items[index], result: &$0) } }
        }
        for index in results.indices { results[index].timings.computeMs = milliseconds(since: start) }
        return results
    }

    static func kind(of task: Regionspot_V1_WorkItem.OneOf_Task?) -> String {
        switch task {
        case .localize?: "a localize task"
        case .semantic?: "a semantic task"
        case .fuse?: "a fuse task"
        case nil: "no task"
        }
    }

    /// Runs `body`, then sets the status: OK, or what it threw.
    private func settle(_ result: inout Regionspot_V1_WorkResult, _ body: (inout Regionspot_V1_WorkResult) throws -> Void) {
        do {
            try body(&result)
            result.status = Regionspot_V1_Status(.ok)
        } catch let refusal as RequestRefusal {
            result.status = Regionspot_V1_Status(refusal.code, refusal.message)
        } catch {
            result.status = Regionspot_V1_Status(.internal, "\(stage.name): \(error)")
        }
    }

    private func wrongTask(_ item: Regionspot_V1_WorkItem) -> RequestRefusal {
        RequestRefusal(.invalidArgument, "task: this is a \(stage.name) worker, the item holds \(Self.kind(of: item.task))")
    }

    // MARK: Localize

    private func localize(_ items: [Regionspot_V1_WorkItem], _ live: [Int], into results: inout [Regionspot_V1_WorkResult]) {
        // Items on one image share its embedding (computed once even without a cache); each
        // item's boxes then get their own decoder passes: SAM's decoder gives a box slightly
        // different numbers (7.7e-7) when other requests' boxes share its products, so boxes
        // of different requests are never mixed.
        var shared: [Data: (embedding: SamPredictor.ImageEmbedding, hit: Bool, milliseconds: Double)] = [:]
        for index in live {
            settle(&results[index]) { result in
                guard case .localize(let task)? = items[index].task else { throw wrongTask(items[index]) }
                let digest = task.image.digest
                let image: (embedding: SamPredictor.ImageEmbedding, hit: Bool, milliseconds: Double)
                if !digest.isEmpty, let known = shared[digest] {
                    image = known
                } else {
                    let start = DispatchTime.now()
                    let (embedding, hit) = try samEmbedding(task.image)
                    image = (embedding, hit, milliseconds(since: start))
                    if !digest.isEmpty { shared[digest] = image }
                }
                (result.timings.samEncoderMs, result.timings.imageCacheHit) = (image.milliseconds, image.hit)
                let start = DispatchTime.now()
                let proposed = try proposals(task, embedding: image.embedding, requestID: items[index].requestID)
                let boxes = proposed?.map(Box.init) ?? task.boxes.map(Box.init)
                let tokens = try recognizer.regionTokens(image.embedding, boxes: boxes, masks: task.masks)
                result.timings.samDecoderMs = milliseconds(since: start)
                result.localize = localizeResult(tokens)
                result.localize.proposals = proposed ?? []
            }
        }
    }

    /// With PROPOSALS_SAM, the boxes SAM's automatic mask generator proposes (score: predicted IoU),
    /// at most `max_proposals` of them: those of highest predicted IoU, in the generator's order.
    private func proposals(_ task: Regionspot_V1_LocalizeTask, embedding: SamPredictor.ImageEmbedding,
                           requestID: String) throws -> [Regionspot_V1_Box]? {
        switch task.proposals {
        case .none: return nil
        case .sam: break
        case .UNRECOGNIZED(let value): throw RequestRefusal(.invalidArgument, "proposals: unknown value \(value)")
        }
        guard task.boxes.isEmpty else {
            throw RequestRefusal(.invalidArgument, "boxes: \(task.boxes.count) given with PROPOSALS_SAM, which proposes them")
        }
        guard task.hasGenerator else { throw RequestRefusal(.invalidArgument, "generator: missing (PROPOSALS_SAM needs its parameters)") }
        let proposed: (boxes: [Box], scores: [Float])
        do {
            proposed = try recognizer.proposals(try RGBImage(task.image), embedding: embedding,
                                                options: AutomaticMaskGenerator.Options(task.generator))
        } catch let error as SAMError {
            throw RequestRefusal(.invalidArgument, "generator.\(error)")
        }
        var kept = Array(proposed.boxes.indices)
        let limit = Int(task.maxProposals)
        if limit > 0 && kept.count > limit {
            // The best `limit` by predicted IoU (ties: the earlier), back in the generator's order.
            kept = kept.sorted { (proposed.scores[$0], $1) > (proposed.scores[$1], $0) }.prefix(limit).sorted()
            logger.notice("proposals capped at max_boxes", metadata: [
                "request_id": "\(requestID)", "proposed": "\(proposed.boxes.count)", "kept": "\(limit)",
                "lowest_kept_iou": "\(kept.map { proposed.scores[$0] }.min()!)",
            ])
        }
        return kept.map { Regionspot_V1_Box(proposed.boxes[$0], score: proposed.scores[$0]) }
    }

    /// SAM's embedding of `raw`, from the cache when its digest is there, and whether it was.
    private func samEmbedding(_ raw: Regionspot_V1_RawImage) throws -> (SamPredictor.ImageEmbedding, hit: Bool) {
        var fresh: SamPredictor.ImageEmbedding?
        let (encoding, hit) = try imageCache.encoding(digest: raw.digest, encoder: .sam) {
            let embedding = recognizer.encodeImage(try RGBImage(raw))
            fresh = embedding
            return .sam(embedding: embedding.embedding, inputSize: embedding.inputSize, originalSize: embedding.originalSize)
        }
        if let fresh { return (fresh, hit) }
        guard case .sam(let embedding, let inputSize, let originalSize) = encoding else {
            throw RequestRefusal(.internal, "image cache: a SAM entry holds another encoder's output")
        }
        return (try recognizer.imageEmbedding(embedding, inputSize: inputSize, originalSize: originalSize), hit)
    }

    private func localizeResult(_ tokens: RegionTokens) -> Regionspot_V1_LocalizeResult {
        var result = Regionspot_V1_LocalizeResult()
        result.tensors = SafeTensors.encode(["mask_tokens": tokens.maskTokens,
                                             "iou_scores": Tensor(shape: [tokens.maskScores.count], scalars: tokens.maskScores)])
        result.masks = tokens.masks.map(Regionspot_V1_RLE.init)
        return result
    }

    // MARK: Semantic

    private func semantic(_ item: Regionspot_V1_WorkItem, result: inout Regionspot_V1_WorkResult) throws {
        guard case .semantic(let task)? = item.task else { throw wrongTask(item) }
        var tensors: [String: Tensor] = [:]
        if task.hasImage {
            let start = DispatchTime.now()
            let (encoding, hit) = try imageCache.encoding(digest: task.image.digest, encoder: .clip) {
                .clip(tokenMap: try recognizer.tokenMap(try RGBImage(task.image)))
            }
            guard case .clip(let tokenMap) = encoding else { throw RequestRefusal(.internal, "image cache: a CLIP entry holds another encoder's output") }
            tensors["token_map"] = tokenMap
            result.timings.clipEncoderMs = milliseconds(since: start)
            result.timings.imageCacheHit = hit
        }
        if task.hasVocabulary {
            guard task.vocabulary.templates.isEmpty else {
                throw RequestRefusal(.invalidArgument, "vocabulary.templates: this worker embeds classes with its bundle's templates only")
            }
            let start = DispatchTime.now()
            let lookup: (embeddings: Tensor, cached: Bool)
            do {
                lookup = try recognizer.classEmbeddingLookup(task.vocabulary.classNames)
            } catch CLIPError.badInput(let reason) {
                throw RequestRefusal(.invalidArgument, "vocabulary: \(reason)")  // a name too long for CLIP's context
            }
            CacheMetrics.count(hit: lookup.cached, cache: CacheMetrics.classEmbeddings)
            result.timings.classEmbeddingsMs = milliseconds(since: start)
            result.timings.classEmbeddingsCacheHit = lookup.cached
            tensors["class_embeddings"] = lookup.embeddings
        }
        result.semantic = .with { $0.tensors = SafeTensors.encode(tensors) }
    }

    // MARK: Fuse

    private func fuse(_ items: [Regionspot_V1_WorkItem], _ live: [Int], into results: inout [Regionspot_V1_WorkResult]) {
        var inputs: [(index: Int, input: Recognizer.ClassificationInput)] = []
        for index in live {
            settle(&results[index]) { _ in inputs.append((index, try classificationInput(items[index]))) }
        }
        guard !inputs.isEmpty else { return }
        let start = DispatchTime.now()
        do {
            let classifications = try recognizer.classify(batch: inputs.map(\.input))
            let fusionMilliseconds = milliseconds(since: start)
            for ((index, _), classification) in zip(inputs, classifications) {
                results[index].fuse = fuseResult(classification)
                results[index].timings.fusionMs = fusionMilliseconds
            }
        } catch {
            for (index, input) in inputs {
                settle(&results[index]) { result in
                    let start = DispatchTime.now()
                    result.fuse = fuseResult(try recognizer.classify(batch: [input])[0])
                    result.timings.fusionMs = milliseconds(since: start)
                }
            }
        }
    }

    private func classificationInput(_ item: Regionspot_V1_WorkItem) throws -> Recognizer.ClassificationInput {
        guard case .fuse(let task)? = item.task else { throw wrongTask(item) }
        let decoded = try SafeTensors.decode(task.tensors, source: "fuse task")
        func tensor(_ name: String) throws -> Tensor {
            guard let tensor = decoded.tensors[name] else { throw RequestRefusal(.invalidArgument, "fuse.tensors: no \"\(name)\"") }
            return tensor
        }
        return Recognizer.ClassificationInput(maskTokens: try tensor("mask_tokens"), tokenMap: try tensor("token_map"),
                                              classEmbeddings: try tensor("class_embeddings"), topK: max(1, Int(task.topK)))
    }

    private func fuseResult(_ classification: Classification) -> Regionspot_V1_FuseResult {
        var result = Regionspot_V1_FuseResult()
        result.boxes = classification.labels.map { labels in
            var box = Regionspot_V1_BoxClasses()
            box.classes = labels.map { label in
                var score = Regionspot_V1_ClassScore()
                (score.index, score.score) = (UInt32(label.classIndex), label.score)
                return score
            }
            return box
        }
        return result
    }
}

func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
