import Foundation
import Imaging
import Tensors

// Port of segment_anything/modeling/prompt_encoder.py (PromptEncoder, PositionEmbeddingRandom).

/// Encodes box and point prompts into sparse embeddings, and gives the dense positional
/// encoding and the no-mask dense embedding of the image grid.
public struct PromptEncoder: Sendable {
    public let embedDim: Int
    /// Image embedding grid (64 for 1024-pixel inputs) and the model's input size in pixels.
    public let gridSize: Int
    public let inputImageSize: Int
    let gaussianMatrix: Tensor  // [2, embed/2]
    let pointEmbeddings: [Tensor]  // 4 × [embed]: negative point, positive point, box corner 0, box corner 1
    let notAPointEmbed: Tensor  // [embed]
    let noMaskEmbed: Tensor  // [embed]

    /// A point prompt label, as in `SamPredictor.predict`.
    public enum PointLabel: Int, Sendable { case padding = -1, background = 0, foreground = 1 }

    init(_ loader: WeightLoader, embedDim: Int, gridSize: Int, inputImageSize: Int) throws {
        self.embedDim = embedDim
        self.gridSize = gridSize
        self.inputImageSize = inputImageSize
        gaussianMatrix = try loader.tensor("pe_layer.positional_encoding_gaussian_matrix", shape: [2, embedDim / 2])
        pointEmbeddings = try (0..<4).map {
            try loader.tensor("point_embeddings.\($0).weight", shape: [1, embedDim]).reshaped([embedDim])
        }
        notAPointEmbed = try loader.tensor("not_a_point_embed.weight", shape: [1, embedDim]).reshaped([embedDim])
        noMaskEmbed = try loader.tensor("no_mask_embed.weight", shape: [1, embedDim]).reshaped([embedDim])
        // Mask prompts (mask_downscaling) are not supported; their weights are accepted and ignored.
        let maskKeys = loader.scoped("mask_downscaling").keys
        loader.markUsed(maskKeys.map { String($0.dropFirst(loader.prefix.count + 1)) })
    }

    /// `PositionEmbeddingRandom._pe_encoding` of points already normalised to [0, 1]: (x, y) pairs → [n, embed].
    func positionalEncoding(_ normalized: [Float]) -> Tensor {
        let n = normalized.count / 2, half = embedDim / 2
        return Tensor(shape: [n, embedDim]) { out in
            gaussianMatrix.withUnsafeBufferPointer { g in
                for i in 0..<n {
                    let x = 2 * normalized[2 * i] - 1, y = 2 * normalized[2 * i + 1] - 1
                    for j in 0..<half {
                        // Same operation order as the reference: (c @ G) then · 2π.
                        let c = 2 * Float.pi * (x * g[j] + y * g[half + j])
                        out[i * embedDim + j] = sin(c)
                        out[i * embedDim + half + j] = cos(c)
                    }
                }
            }
        }
    }

    /// `get_dense_pe` in token layout: [g·g, embed], token (i, j) at x = (j + 0.5)/g, y = (i + 0.5)/g.
    public func densePositionalEncoding() -> Tensor {
        var coords: [Float] = []
        coords.reserveCapacity(2 * gridSize * gridSize)
        for i in 0..<gridSize {
            for j in 0..<gridSize {
                coords.append((Float(j) + 0.5) / Float(gridSize))
                coords.append((Float(i) + 0.5) / Float(gridSize))
            }
        }
        return positionalEncoding(coords)
    }

    /// The dense prompt embedding without a mask prompt: `no_mask_embed` at every token, [g·g, embed].
    public func noMaskDenseEmbedding() -> Tensor {
        Tensor(shape: [gridSize * gridSize, embedDim]) { out in
            noMaskEmbed.withUnsafeBufferPointer { e in
                for t in 0..<(gridSize * gridSize) {
                    (out.baseAddress! + t * embedDim).update(from: e.baseAddress!, count: embedDim)
                }
            }
        }
    }

    /// Positional encoding plus label embedding of points normalised to [0, 1]: [n, embed]
    /// (`_embed_points` after its division by the input size).
    func pointEmbeddings(_ normalized: [(x: Float, y: Float, label: PointLabel)]) -> Tensor {
        var pe = positionalEncoding(normalized.flatMap { [$0.x, $0.y] })
        pe.withUnsafeMutableBufferPointer { p in
            for (i, point) in normalized.enumerated() {
                let row = p.baseAddress! + i * embedDim
                let add: Tensor
                switch point.label {
                case .padding: row.update(repeating: 0, count: embedDim); add = notAPointEmbed
                case .background: add = pointEmbeddings[0]
                case .foreground: add = pointEmbeddings[1]
                }
                for c in 0..<embedDim { row[c] += add.scalars[c] }
            }
        }
        return pe
    }

    /// Sparse embeddings [B, 2, embed] for B single foreground points in model input coordinates, in
    /// double precision as segment-anything's automatic mask generator passes them: the shift to the
    /// pixel centre and the division by the input size happen in float64, then float32 (as PyTorch
    /// does for a float64 points tensor).
    public func sparseEmbeddings(foregroundPoints points: [(x: Double, y: Double)]) -> Tensor {
        let size = Double(inputImageSize)
        let rows = points.map { p in
            pointEmbeddings([(x: Float((p.x + 0.5) / size), y: Float((p.y + 0.5) / size), label: .foreground),
                             (x: 0, y: 0, label: .padding)])
        }
        guard !rows.isEmpty else { return Tensor(shape: [0, 2, embedDim]) }
        return Tensor.concatenate(rows).reshaped([points.count, 2, embedDim])
    }

    /// Sparse embeddings for B prompts, in model input coordinates (after ResizeLongestSide).
    /// - boxes: B boxes or nil; points: B × n × (x, y) with labels, or nil.
    /// - Returns: [B, tokens, embed], points first (padded with one not-a-point when there is no box), then box corners.
    public func sparseEmbeddings(boxes: [Box]?, points: [[(x: Float, y: Float, label: PointLabel)]]?) throws -> Tensor {
        let batch = boxes?.count ?? points?.count ?? 0
        if let boxes, let points, boxes.count != points.count {
            throw SAMError.badInput(what: "prompts", reason: "\(boxes.count) boxes but \(points.count) point sets")
        }
        let size = Float(inputImageSize)
        var rows: [Tensor] = []
        for b in 0..<batch {
            var parts: [Tensor] = []
            if let points {
                var set = points[b].map { (x: $0.x + 0.5, y: $0.y + 0.5, label: $0.label) }
                if points.contains(where: { $0.count != points[0].count }) {
                    throw SAMError.badInput(what: "points", reason: "point sets differ in length")
                }
                if boxes == nil { set.append((x: 0, y: 0, label: .padding)) }
                parts.append(pointEmbeddings(set.map { (x: $0.x / size, y: $0.y / size, label: $0.label) }))
            }
            if let boxes {
                let box = boxes[b]
                var pe = positionalEncoding([box.x0 + 0.5, box.y0 + 0.5, box.x1 + 0.5, box.y1 + 0.5].map { $0 / size })
                pe.withUnsafeMutableBufferPointer { p in
                    for c in 0..<embedDim {
                        p[c] += pointEmbeddings[2].scalars[c]
                        p[embedDim + c] += pointEmbeddings[3].scalars[c]
                    }
                }
                parts.append(pe)
            }
            rows.append(Tensor.concatenate(parts))
        }
        guard let first = rows.first else { return Tensor(shape: [0, 0, embedDim]) }
        return Tensor.concatenate(rows).reshaped([batch, first.shape[0], embedDim])
    }
}
