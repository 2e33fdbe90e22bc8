import Foundation
import Imaging
import Tensors

/// What `regionspot segment` does, as a library call: load, embed, predict, write.
public enum SegmentRun {
    public static func parseBox(_ text: String) -> [Float]? {
        let parts = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 4, parts.allSatisfy({ $0?.isFinite == true }) else { return nil }
        return parts.map { $0! }
    }

    public struct Result: Sendable {
        public var embedding: Tensor
        public var prediction: SamPredictor.Prediction
    }

    /// With `pixels`, the tensor [3, S, S] is encoded as is; the image (if given) only sets the
    /// coordinate frame. Without an image, boxes are in model input pixels (S×S).
    public static func run(weights: URL, image imageURL: URL?, pixels pixelsURL: URL?, boxes: [Box],
                           multimask: Bool) throws -> Result {
        let predictor = SamPredictor(model: try Sam(contentsOf: weights))
        let size = predictor.model.imageEncoder.imageSize
        let image = try imageURL.map { try RGBImage(contentsOf: $0) }
        let embedded: SamPredictor.ImageEmbedding
        if let pixelsURL {
            let pixels = try NPY.read(pixelsURL)
            let tensor = pixels.rank == 4 && pixels.shape[0] == 1 ? pixels.reshaped(Array(pixels.shape.dropFirst())) : pixels
            guard tensor.shape == [3, size, size] else {
                throw SAMError.badInput(what: pixelsURL.path, reason: "pixels have shape \(pixels.shape), expected [3, \(size), \(size)]")
            }
            let original = image.map { ($0.height, $0.width) } ?? (size, size)
            let input = image.map { predictor.transform.preprocessShape(height: $0.height, width: $0.width) } ?? (size, size)
            embedded = predictor.embed(pixels: tensor, inputSize: input, originalSize: original)
        } else if let image {
            embedded = predictor.setImage(image)
        } else {
            throw SAMError.badInput(what: "segment", reason: "neither an image nor pixels given")
        }
        return Result(embedding: embedded.embedding,
                      prediction: try predictor.predict(boxes: boxes, on: embedded, multimask: multimask))
    }

    /// mask_<box>[_<k>].png, mask_tokens.npy [B, masks, E], iou.npy [B, masks], image_embedding.npy [E, g, g].
    public static func write(_ result: Result, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let p = result.prediction
        let perBox = p.masks.count / max(1, p.maskTokens.shape[0])
        for (i, mask) in p.masks.enumerated() {
            let name = perBox == 1 ? "mask_\(i).png" : "mask_\(i / perBox)_\(i % perBox + 1).png"
            try GrayImage(mask: mask.pixels, width: mask.width, height: mask.height).write(to: directory.appendingPathComponent(name))
        }
        try NPY.write(p.maskTokens, to: directory.appendingPathComponent("mask_tokens.npy"))
        try NPY.write(p.iouPredictions, to: directory.appendingPathComponent("iou.npy"))
        try NPY.write(result.embedding, to: directory.appendingPathComponent("image_embedding.npy"))
    }
}
