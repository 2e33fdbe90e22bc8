import Foundation
import Imaging
import Tensors

// Port of segment_anything/automatic_mask_generator.py (SamAutomaticMaskGenerator): prompts a
// grid of points on the image (and on crops of it), keeps confident and stable masks, removes
// duplicates. Masks are upscaled one at a time from the decoder's low-resolution logits and kept
// only as run-length encodings, so memory stays bounded by a batch of low-resolution logits
// and a few masks at the image's size.

/// Generates masks for a whole image with SAM.
public struct AutomaticMaskGenerator: Sendable {
    /// The generator's parameters, named and defaulted as segment-anything's.
    public struct Options: Sendable, Equatable {
        /// Points along each side of the grid (points_per_side²); nil when `pointGrids` is given.
        public var pointsPerSide: Int? = 32
        /// Explicit grids in [0, 1]², one per crop layer (point_grids); exclusive with `pointsPerSide`.
        public var pointGrids: [PointGrid]? = nil
        /// Points prompted together (points_per_batch); the decoder runs them in `SamPredictor.batchSize` chunks.
        public var pointsPerBatch = 64
        /// Masks whose predicted IoU is not above this are dropped (pred_iou_thresh; 0 keeps all).
        public var predIouThresh = 0.88
        /// Masks whose stability score is below this are dropped (stability_score_thresh; 0 keeps all).
        public var stabilityScoreThresh = 0.95
        /// The logit offset of the stability score (stability_score_offset).
        public var stabilityScoreOffset = 1.0
        /// Box IoU above which NMS drops duplicate masks within a crop (box_nms_thresh).
        public var boxNmsThresh = 0.7
        /// Crop layers: layer i prompts 2ⁱ × 2ⁱ crops again (crop_n_layers).
        public var cropNLayers = 0
        /// Box IoU above which NMS drops duplicates between crops, preferring smaller crops (crop_nms_thresh).
        public var cropNmsThresh = 0.7
        /// Overlap of the first layer's crops, as a fraction of the image's short side (crop_overlap_ratio).
        public var cropOverlapRatio = 512.0 / 1500.0
        /// Layer i has points_per_side / factorⁱ points per side (crop_n_points_downscale_factor).
        public var cropNPointsDownscaleFactor = 1
        /// Holes and islands smaller than this many pixels are removed, then NMS runs again (min_mask_region_area).
        public var minMaskRegionArea = 0

        public init() {}
    }

    public let predictor: SamPredictor
    public let options: Options
    let pointGrids: [PointGrid]

    /// Fails with `SAMError.badInput` naming the reference's parameter when `options` are inconsistent.
    public init(predictor: SamPredictor, options: Options = Options()) throws {
        pointGrids = try Self.pointGrids(for: options)
        self.predictor = predictor
        self.options = options
    }

    /// The point grid of each crop layer, after checking every option.
    public static func pointGrids(for options: Options) throws -> [PointGrid] {
        func bad(_ what: String, _ reason: String) -> SAMError { .badInput(what: what, reason: reason) }
        guard options.pointsPerBatch > 0 else { throw bad("points_per_batch", "must be positive, got \(options.pointsPerBatch)") }
        guard options.minMaskRegionArea >= 0 else { throw bad("min_mask_region_area", "must be 0 or more, got \(options.minMaskRegionArea)") }
        guard options.cropNLayers >= 0 else { throw bad("crop_n_layers", "must be 0 or more, got \(options.cropNLayers)") }
        for (name, value) in [("pred_iou_thresh", options.predIouThresh), ("stability_score_thresh", options.stabilityScoreThresh),
                              ("stability_score_offset", options.stabilityScoreOffset), ("box_nms_thresh", options.boxNmsThresh),
                              ("crop_nms_thresh", options.cropNmsThresh), ("crop_overlap_ratio", options.cropOverlapRatio)]
        where !value.isFinite {
            throw bad(name, "must be a finite number, got \(value)")
        }
        switch (options.pointsPerSide, options.pointGrids) {
        case let (n?, nil):
            guard n > 0 else { throw bad("points_per_side", "must be positive, got \(n)") }
            guard options.cropNPointsDownscaleFactor > 0 else {
                throw bad("crop_n_points_downscale_factor", "must be positive, got \(options.cropNPointsDownscaleFactor)")
            }
            let last = Double(n) / pow(Double(options.cropNPointsDownscaleFactor), Double(options.cropNLayers))
            guard last >= 1 else {
                throw bad("crop_n_points_downscale_factor", "leaves crop layer \(options.cropNLayers) with no points (\(n) per side)")
            }
            return PointGrid.layers(perSide: n, cropLayers: options.cropNLayers, downscaleFactor: options.cropNPointsDownscaleFactor)
        case let (nil, grids?):
            guard grids.count > options.cropNLayers else {
                throw bad("point_grids", "\(grids.count) grid(s) for \(options.cropNLayers + 1) crop layer(s)")
            }
            return grids
        default:
            throw bad("points_per_side", "give exactly one of points_per_side and point_grids")
        }
    }

    /// `generate`: the masks of `image`, in the reference's order. `embedding`, when given, is the
    /// image's embedding by the same predictor (`setImage(image)`), used instead of encoding it again.
    public func generate(_ image: RGBImage, embedding: SamPredictor.ImageEmbedding? = nil) -> [GeneratedMask] {
        let crops = CropBox.generate(width: image.width, height: image.height, layers: options.cropNLayers,
                                     overlapRatio: options.cropOverlapRatio)
        var masks = crops.flatMap { process(crop: $0, of: image, embedding: $0.layer == 0 ? embedding : nil) }
        if crops.count > 1 {
            // Duplicates between crops: prefer masks from smaller crops.
            let scores = masks.map { 1 / Float($0.cropBox.width * $0.cropBox.height) }
            masks = BoxNMS.keep(boxes: masks.map(\.box), scores: scores, threshold: options.cropNmsThresh).map { masks[$0] }
        }
        if options.minMaskRegionArea > 0 {
            masks = removeSmallRegions(masks, minArea: options.minMaskRegionArea,
                                       threshold: max(options.boxNmsThresh, options.cropNmsThresh))
        }
        return masks
    }

    /// `_process_crop`: embeds the crop, prompts its grid in batches, removes duplicates within it.
    func process(crop: CropBox, of image: RGBImage, embedding: SamPredictor.ImageEmbedding?) -> [GeneratedMask] {
        let whole = crop.x0 == 0 && crop.y0 == 0 && crop.width == image.width && crop.height == image.height
        let embedded = embedding ?? predictor.setImage(
            whole ? image : image.cropped(x: crop.x0, y: crop.y0, width: crop.width, height: crop.height))
        let points = pointGrids[crop.layer].points.map { (x: $0.x * Double(crop.width), y: $0.y * Double(crop.height)) }
        var masks: [GeneratedMask] = []
        for start in stride(from: 0, to: points.count, by: options.pointsPerBatch) {
            let batch = Array(points[start..<min(points.count, start + options.pointsPerBatch)])
            masks += process(points: batch, crop: crop, image: image, embedded: embedded)
        }
        let kept = BoxNMS.keep(boxes: masks.map(\.box), scores: masks.map(\.predictedIoU), threshold: options.boxNmsThresh)
        return kept.map { i in
            var mask = masks[i]
            mask.box = mask.box.uncropped(crop)
            mask.point = GeneratedMask.Point(x: mask.point.x + Double(crop.x0), y: mask.point.y + Double(crop.y0))
            return mask
        }
    }

    /// `_process_batch`: three masks per point, filtered by predicted IoU, stability and crop edges.
    /// Boxes and points stay in the crop's frame; masks are encoded in the image's.
    func process(points: [(x: Double, y: Double)], crop: CropBox, image: RGBImage,
                 embedded: SamPredictor.ImageEmbedding) -> [GeneratedMask] {
        let model = predictor.model
        let (inputHeight, inputWidth) = embedded.inputSize
        let (scaleX, scaleY) = (Double(inputWidth) / Double(crop.width), Double(inputHeight) / Double(crop.height))
        let outputs = Array(predictor.selectedOutputs(multimask: true))
        var lowRes: [Tensor] = [], iou: [Tensor] = []
        let chunk = max(1, predictor.batchSize)
        for start in stride(from: 0, to: points.count, by: chunk) {
            let transformed = points[start..<min(points.count, start + chunk)].map { (x: $0.x * scaleX, y: $0.y * scaleY) }
            let sparse = model.promptEncoder.sparseEmbeddings(foregroundPoints: transformed)
            let out = model.maskDecoder.predictMasks(sparse: sparse, state: embedded.decoderState)
            lowRes.append(out.lowResMasks!)
            iou.append(out.iouPredictions)
        }
        let logits = Tensor.concatenate(lowRes), scores = Tensor.concatenate(iou)  // [B, masks, s, s], [B, masks]
        let (maskCount, side) = (logits.shape[1], logits.shape[2])
        // Candidates point-major, as masks.flatten(0, 1) orders them; the IoU filter comes first.
        let predIouThresh = Float(options.predIouThresh)
        let candidates = points.indices.flatMap { b in outputs.map { (b, $0) } }.filter { b, m in
            options.predIouThresh <= 0 || scores.scalars[b * maskCount + m] > predIouThresh
        }
        var results = [GeneratedMask?](repeating: nil, count: candidates.count)
        logits.withUnsafeBufferPointer { p in
            results.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let out = out
                Parallel.forEach(candidates.count) { c in
                    let (b, m) = candidates[c]
                    // One mask per worker at a time, each worker's kernels on its own thread.
                    out[c] = Parallel.withThreads(1) {
                        mask(logits: p.baseAddress! + (b * maskCount + m) * side * side, side: side,
                             iou: scores.scalars[b * maskCount + m], point: points[b], crop: crop, image: image,
                             embedded: embedded)
                    }
                }
            }
        }
        return results.compactMap { $0 }
    }

    /// One candidate: logits upscaled to the crop's size, its stability, box and run-length encoding
    /// in the image's frame; nil when it is unstable or touches an inner crop edge.
    private func mask(logits: UnsafePointer<Float>, side: Int, iou: Float, point: (x: Double, y: Double), crop: CropBox,
                      image: RGBImage, embedded: SamPredictor.ImageEmbedding) -> GeneratedMask? {
        let upscaled = MaskPostprocess.upscale(logits, side: side, imageSize: predictor.model.imageEncoder.imageSize,
                                               inputSize: embedded.inputSize, originalSize: embedded.originalSize)
        let stability = upscaled.withUnsafeBufferPointer {
            MaskStability.score($0, threshold: Sam.maskThreshold, offset: options.stabilityScoreOffset)
        }
        if options.stabilityScoreThresh > 0 && !(stability >= Float(options.stabilityScoreThresh)) { return nil }
        let binary = BinaryMask(width: crop.width, height: crop.height, pixels: upscaled.map { $0 > Sam.maskThreshold })
        let box = MaskBox(binary)
        if box.isNearCropEdge(crop, imageWidth: image.width, imageHeight: image.height) { return nil }
        return GeneratedMask(segmentation: RLE(binary, at: crop.x0, crop.y0, width: image.width, height: image.height),
                             box: box, predictedIoU: iou, point: GeneratedMask.Point(x: point.x, y: point.y),
                             stabilityScore: stability, cropBox: crop)
    }

    /// `postprocess_small_regions`: fills small holes and drops small islands, then NMS again,
    /// preferring masks that needed no change.
    func removeSmallRegions(_ masks: [GeneratedMask], minArea: Int, threshold: Double) -> [GeneratedMask] {
        var edited = [GeneratedMask?](repeating: nil, count: masks.count)
        var boxes = masks.map(\.box)
        edited.withUnsafeMutableBufferPointer { out in
            boxes.withUnsafeMutableBufferPointer { boxOut in
                nonisolated(unsafe) let (out, boxOut) = (out, boxOut)
                Parallel.forEach(masks.count) { i in
                    Parallel.withThreads(1) {
                        let original = BinaryMask(masks[i].segmentation)!
                        let (filled, holesChanged) = SmallRegions.remove(original, minArea: minArea, mode: .holes)
                        let (cleaned, islandsChanged) = SmallRegions.remove(filled, minArea: minArea, mode: .islands)
                        guard holesChanged || islandsChanged else { return }
                        var mask = masks[i]
                        mask.segmentation = RLE(cleaned)
                        mask.box = MaskBox(cleaned)
                        (out[i], boxOut[i]) = (mask, mask.box)
                    }
                }
            }
        }
        let scores = edited.map { $0 == nil ? Float(1) : 0 }
        return BoxNMS.keep(boxes: boxes, scores: scores, threshold: threshold).map { edited[$0] ?? masks[$0] }
    }
}
