import Foundation
import Imaging
import Tensors

// Port of segment_anything/predictor.py (SamPredictor): inference state apart from the model.
// Embed an image once, then answer any number of prompts against it; all prompts of a call go
// through the mask decoder in batches, and the image-only part of the decoder is done once.

public struct SamPredictor: Sendable {
    public let model: Sam
    public let transform: ResizeLongestSide
    /// Prompts per decoder pass: bounds memory (each prompt carries its own copy of the image tokens).
    public var batchSize: Int = SamPredictor.defaultBatchSize
    public static let defaultBatchSize = 4
    let densePE: Tensor
    let noMask: Tensor

    public init(model: Sam) {
        self.model = model
        transform = ResizeLongestSide(targetLength: model.imageEncoder.imageSize)
        densePE = model.promptEncoder.densePositionalEncoding()
        noMask = model.promptEncoder.noMaskDenseEmbedding()
    }

    /// What `set_image` computes: the image embedding and the decoder's prompt-independent state.
    public struct ImageEmbedding: Sendable {
        /// [E, g, g]
        public let embedding: Tensor
        /// Size after ResizeLongestSide, and of the original image (height, width).
        public let inputSize: (height: Int, width: Int)
        public let originalSize: (height: Int, width: Int)
        let decoderState: MaskDecoder.ImageState
    }

    /// `set_image`: resize, normalise, pad, encode.
    public func setImage(_ image: RGBImage) -> ImageEmbedding {
        let resized = transform.apply(image: image)
        let pixels = Sam.preprocess(resized, size: model.imageEncoder.imageSize)
        return embed(pixels: pixels, inputSize: (resized.height, resized.width), originalSize: (image.height, image.width))
    }

    /// `set_torch_image` on an already preprocessed tensor [3, S, S].
    public func embed(pixels: Tensor, inputSize: (height: Int, width: Int), originalSize: (height: Int, width: Int)) -> ImageEmbedding {
        let embedding = model.imageEncoder(pixels)
        return use(embedding: embedding, inputSize: inputSize, originalSize: originalSize)
    }

    /// Wraps an embedding computed earlier (e.g. read from `image_embedding.npy`).
    public func use(embedding: Tensor, inputSize: (height: Int, width: Int), originalSize: (height: Int, width: Int)) -> ImageEmbedding {
        let state = model.maskDecoder.prepare(imageEmbedding: embedding, densePE: densePE, denseEmbedding: noMask)
        return ImageEmbedding(embedding: embedding, inputSize: inputSize, originalSize: originalSize, decoderState: state)
    }

    public struct Prediction: Sendable {
        /// [B, numMaskTokens, E]: all mask tokens after the transformer; token 0 is RegionSpot's region feature.
        public var maskTokens: Tensor
        /// [B, numMaskTokens]
        public var iouPredictions: Tensor
        /// [B, numMaskTokens, 4g, 4g]: all low-resolution mask logits (nil without `masks`).
        public var lowResMasks: Tensor?
        /// Binary masks at the original size for the selected outputs: mask 0 per prompt, or masks 1…3
        /// with `multimask` (prompt-major); empty without `masks`.
        public var masks: [BinaryMask]
    }

    /// `predict_torch` for boxes and/or point sets in original image coordinates.
    /// `masks: false` returns only the mask tokens and IoU predictions, at about half the cost.
    public func predict(boxes: [Box]? = nil, points: [[(x: Float, y: Float, label: PromptEncoder.PointLabel)]]? = nil,
                        on image: ImageEmbedding, multimask: Bool = false, masks wantMasks: Bool = true) throws -> Prediction {
        let (oh, ow) = image.originalSize
        let count = boxes?.count ?? points?.count ?? 0
        guard count > 0 else { throw SAMError.badInput(what: "prompts", reason: "no boxes or points given") }
        for (i, box) in (boxes ?? []).enumerated() where !box.corners.allSatisfy(\.isFinite) {
            throw SAMError.badInput(what: "box \(i)", reason: "expected 4 finite numbers x0,y0,x1,y1, got \(box)")
        }
        let modelBoxes = boxes?.map { transform.apply(box: $0, originalHeight: oh, originalWidth: ow) }
        let modelPoints = points?.map { set in
            set.map { p in
                let t = transform.apply(x: p.x, y: p.y, originalHeight: oh, originalWidth: ow)
                return (x: t.x, y: t.y, label: p.label)
            }
        }
        var tokens: [Tensor] = [], ious: [Tensor] = [], lowRes: [Tensor] = [], masks: [BinaryMask] = []
        for start in stride(from: 0, to: count, by: max(1, batchSize)) {
            let range = start..<min(count, start + max(1, batchSize))
            let sparse = try model.promptEncoder.sparseEmbeddings(boxes: modelBoxes.map { Array($0[range]) },
                                                                  points: modelPoints.map { Array($0[range]) })
            let out = model.maskDecoder.predictMasks(sparse: sparse, state: image.decoderState, masks: wantMasks)
            tokens.append(out.maskTokens); ious.append(out.iouPredictions)
            if let low = out.lowResMasks {
                lowRes.append(low)
                masks += binaryMasks(low, selected: Array(selectedOutputs(multimask: multimask)), image: image)
            }
        }
        return Prediction(maskTokens: Tensor.concatenate(tokens), iouPredictions: Tensor.concatenate(ious),
                          lowResMasks: lowRes.isEmpty ? nil : Tensor.concatenate(lowRes), masks: masks)
    }

    /// The outputs segment-anything returns per prompt: mask 0 (`multimask_output=False`), or
    /// masks 1… (`multimask_output=True`: three for SAM). Indexes the second axis of `Prediction`'s tensors.
    public func selectedOutputs(multimask: Bool) -> Range<Int> {
        multimask ? 1..<model.maskDecoder.numMaskTokens : 0..<1
    }

    private func binaryMasks(_ lowRes: Tensor, selected: [Int], image: ImageEmbedding) -> [BinaryMask] {
        let (batch, maskCount, side) = (lowRes.shape[0], lowRes.shape[1], lowRes.shape[2])
        return lowRes.withUnsafeBufferPointer { p in
            (0..<batch).flatMap { b in
                selected.map { m in
                    MaskPostprocess.binaryMask(p.baseAddress! + (b * maskCount + m) * side * side, side: side,
                                               imageSize: model.imageEncoder.imageSize,
                                               inputSize: image.inputSize, originalSize: image.originalSize)
                }
            }
        }
    }
}
