import Tensors

/// The text tower of `clip/model.py: CLIP` (`encode_text`; keys at the top level).
///
/// Because of the causal mask, tokens after the end token cannot change the end token's output,
/// so each batch runs only up to its longest sequence; prompts are grouped by length first.
public struct TextTransformer: Sendable {
    public let configuration: CLIPConfiguration.Text
    let tokenEmbedding: Tensor          // token_embedding.weight [V, W]
    let positionalEmbedding: Tensor     // positional_embedding [context, W]
    let transformer: Transformer
    let lnFinalWeight: Tensor, lnFinalBias: Tensor
    let textProjection: Tensor          // text_projection [W, E]

    /// Prompts per forward pass: bounds the activations ([batch·length, 4W]).
    public static let batchSize = 256

    init(_ weights: WeightLoader, configuration c: CLIPConfiguration.Text) throws {
        configuration = c
        tokenEmbedding = try weights.tensor("token_embedding.weight", shape: [c.vocabularySize, c.width])
        positionalEmbedding = try weights.tensor("positional_embedding", shape: [c.contextLength, c.width])
        transformer = try Transformer(weights.scoped("transformer"), width: c.width, layers: c.layers, heads: c.heads)
        lnFinalWeight = try weights.tensor("ln_final.weight", shape: [c.width])
        lnFinalBias = try weights.tensor("ln_final.bias", shape: [c.width])
        textProjection = try weights.tensor("text_projection", shape: [c.width, c.outputDimension])
    }

    /// `encode_text`: token ids per prompt (as from `SimpleTokenizer.tokenize`, padding optional)
    /// → [prompts, E], the end token's features after `ln_final`, projected (not normalised).
    /// The end token is the position of the largest id, as OpenAI's `argmax` pooling.
    public func encode(_ prompts: [[Int]]) throws -> Tensor {
        let dimension = configuration.outputDimension
        var ends: [Int] = []
        for (index, ids) in prompts.enumerated() {
            guard !ids.isEmpty, ids.count <= configuration.contextLength else {
                throw CLIPError.badInput("prompt \(index) has \(ids.count) tokens; CLIP takes 1...\(configuration.contextLength)")
            }
            if let bad = ids.first(where: { $0 < 0 || $0 >= configuration.vocabularySize }) {
                throw CLIPError.badInput("prompt \(index) has token id \(bad) outside the vocabulary (0..<\(configuration.vocabularySize))")
            }
            ends.append(ids.indices.max { ids[$0] < ids[$1] || (ids[$0] == ids[$1] && $0 > $1) }!)
        }
        // Shortest first, so each batch's longest sequence is close to its others.
        let order = prompts.indices.sorted { ends[$0] < ends[$1] }
        var result = [Float](repeating: 0, count: prompts.count * dimension)
        for start in stride(from: 0, to: order.count, by: Self.batchSize) {
            let batch = Array(order[start..<min(start + Self.batchSize, order.count)])
            let features = encodeBatch(batch.map { prompts[$0] }, ends: batch.map { ends[$0] })
            for (row, prompt) in batch.enumerated() {
                for j in 0..<dimension { result[prompt * dimension + j] = features.scalars[row * dimension + j] }
            }
        }
        return Tensor(shape: [prompts.count, dimension], scalars: result)
    }

    /// One batch, truncated after its longest end token.
    private func encodeBatch(_ prompts: [[Int]], ends: [Int]) -> Tensor {
        let width = configuration.width
        let length = ends.max()! + 1
        var x = Tensor(shape: [prompts.count * length, width]) { out in
            for (p, ids) in prompts.enumerated() {
                for t in 0..<length {
                    let id = t < ids.count ? ids[t] : 0
                    let target = out.baseAddress! + (p * length + t) * width
                    for c in 0..<width {
                        target[c] = tokenEmbedding.scalars[id * width + c] + positionalEmbedding.scalars[t * width + c]
                    }
                }
            }
        }
        transformer(&x, sequences: prompts.count, mask: CausalMask())
        // ln_final is per token, so only the end tokens need it.
        let pooled = Tensor(shape: [prompts.count, width]) { out in
            for (p, end) in ends.enumerated() {
                for c in 0..<width { out[p * width + c] = x.scalars[(p * length + end) * width + c] }
            }
        }
        return pooled.layerNorm(weight: lnFinalWeight, bias: lnFinalBias, eps: 1e-5).matmul(textProjection)
    }
}
