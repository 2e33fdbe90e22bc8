import CLIP
import Foundation
import Imaging
import PipelineProtocol
import RegionSpot
import Tensors

/// What a stage worker computes for one work item, with the engine's stages. Runs on a compute
/// thread; never throws: every failure becomes the result's status.
struct StageComputation: Sendable {
    let stage: Regionspot_V1_Stage
    let recognizer: Recognizer

    func compute(_ item: Regionspot_V1_WorkItem, unixNow: Milliseconds) -> Regionspot_V1_WorkResult {
        let start = DispatchTime.now()
        var result = Regionspot_V1_WorkResult()
        (result.requestID, result.itemID, result.attempt) = (item.requestID, item.itemID, item.attempt)
        if item.deadlineUnixMs > 0 && unixNow > item.deadlineUnixMs {
            result.status = Regionspot_V1_Status(.deadlineExceeded, "deadline_ms: passed before the \(stage.name) stage could start")
            return result
        }
        do {
            switch (stage, item.task) {
            case (.localize, .localize(let task)?): result.localize = try localize(task, timings: &result.timings)
            case (.semantic, .semantic(let task)?): result.semantic = try semantic(task, timings: &result.timings)
            case (.fuse, .fuse(let task)?): result.fuse = try fuse(task, timings: &result.timings)
            default: throw RequestRefusal(.invalidArgument, "task: this is a \(stage.name) worker, the item holds \(Self.kind(of: item.task))")
            }
            result.status = Regionspot_V1_Status(.ok)
        } catch let refusal as RequestRefusal {
            result.status = Regionspot_V1_Status(refusal.code, refusal.message)
        } catch {
            result.status = Regionspot_V1_Status(.internal, "\(stage.name): \(error)")
        }
        result.timings.computeMs = milliseconds(since: start)
        return result
    }

    static func kind(of task: Regionspot_V1_WorkItem.OneOf_Task?) -> String {
        switch task {
        case .localize?: "a localize task"
        case .semantic?: "a semantic task"
        case .fuse?: "a fuse task"
        case nil: "no task"
        }
    }

    private func localize(_ task: Regionspot_V1_LocalizeTask, timings: inout Regionspot_V1_WorkTimings) throws -> Regionspot_V1_LocalizeResult {
        let image = try RGBImage(task.image)
        var start = DispatchTime.now()
        let embedding = recognizer.encodeImage(image)
        timings.samEncoderMs = milliseconds(since: start)
        start = .now()
        let tokens = try recognizer.regionTokens(embedding, boxes: task.boxes.map(Box.init), masks: task.masks)
        timings.samDecoderMs = milliseconds(since: start)
        var result = Regionspot_V1_LocalizeResult()
        result.tensors = SafeTensors.encode(["mask_tokens": tokens.maskTokens,
                                             "iou_scores": Tensor(shape: [tokens.maskScores.count], scalars: tokens.maskScores)])
        result.masks = tokens.masks.map(Regionspot_V1_RLE.init)
        return result
    }

    private func semantic(_ task: Regionspot_V1_SemanticTask, timings: inout Regionspot_V1_WorkTimings) throws -> Regionspot_V1_SemanticResult {
        var tensors: [String: Tensor] = [:]
        if task.hasImage {
            let image = try RGBImage(task.image)
            let start = DispatchTime.now()
            tensors["token_map"] = try recognizer.tokenMap(image)
            timings.clipEncoderMs = milliseconds(since: start)
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
            timings.classEmbeddingsMs = milliseconds(since: start)
            timings.classEmbeddingsCacheHit = lookup.cached
            tensors["class_embeddings"] = lookup.embeddings
        }
        var result = Regionspot_V1_SemanticResult()
        result.tensors = SafeTensors.encode(tensors)
        return result
    }

    private func fuse(_ task: Regionspot_V1_FuseTask, timings: inout Regionspot_V1_WorkTimings) throws -> Regionspot_V1_FuseResult {
        let decoded = try SafeTensors.decode(task.tensors, source: "fuse task")
        func tensor(_ name: String) throws -> Tensor {
            guard let tensor = decoded.tensors[name] else { throw RequestRefusal(.invalidArgument, "fuse.tensors: no \"\(name)\"") }
            return tensor
        }
        let start = DispatchTime.now()
        let classification = try recognizer.classify(maskTokens: tensor("mask_tokens"), tokenMap: tensor("token_map"),
                                                     classEmbeddings: tensor("class_embeddings"), topK: max(1, Int(task.topK)))
        timings.fusionMs = milliseconds(since: start)
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
