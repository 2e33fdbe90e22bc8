/// A transformer's position-wise feed-forward sublayer added onto its input:
/// x += act(norm(x)·W1ᵀ + b1)·W2ᵀ + b2, with an optional LayerNorm in front.
///
/// It runs block of rows by block of rows, each worker with its own scratch, so the
/// [rows, hidden] activations (50 MB in SAM ViT-B) are never allocated whole, the activation is
/// applied while its block is still in cache, and the second product accumulates straight
/// into x (beta = 1): no temporary the size of x either.
public struct FeedForward: Sendable {
    public enum Activation: Sendable { case gelu, quickGelu, relu }

    /// The LayerNorm applied to x before the first product (pre-norm blocks).
    public struct Norm: Sendable {
        public var weight: Tensor, bias: Tensor, eps: Float
        public init(weight: Tensor, bias: Tensor, eps: Float) { (self.weight, self.bias, self.eps) = (weight, bias, eps) }
    }

    public let fc1Weight: Tensor, fc1Bias: Tensor?  // [hidden, C], [hidden]
    public let fc2Weight: Tensor, fc2Bias: Tensor?  // [C, hidden], [C]
    public let activation: Activation
    public let norm: Norm?
    /// Rows per block: large enough that each weight matrix is packed rarely, small enough that
    /// a block's hidden activations stay in the last-level cache (6 MB per worker for ViT-B;
    /// on SAM ViT-B 128 rows ran 5% slower than 512 and 1024 rows no faster).
    static let maximumBlockRows = 512

    public init(fc1Weight: Tensor, fc1Bias: Tensor?, fc2Weight: Tensor, fc2Bias: Tensor?, activation: Activation, norm: Norm? = nil) {
        let (hidden, width) = (fc1Weight.dim(0), fc1Weight.dim(1))
        precondition(fc1Weight.rank == 2 && fc2Weight.shape == [width, hidden],
                     "FeedForward: fc1 \(fc1Weight.shape) and fc2 \(fc2Weight.shape) do not chain")
        precondition(fc1Bias.map { $0.shape == [hidden] } ?? true && fc2Bias.map { $0.shape == [width] } ?? true,
                     "FeedForward: biases do not match the weights")
        precondition(norm.map { $0.weight.shape == [width] && $0.bias.shape == [width] } ?? true,
                     "FeedForward: norm does not match width \(width)")
        (self.fc1Weight, self.fc1Bias, self.fc2Weight, self.fc2Bias) = (fc1Weight, fc1Bias, fc2Weight, fc2Bias)
        (self.activation, self.norm) = (activation, norm)
    }

    public var width: Int { fc1Weight.dim(1) }
    public var hidden: Int { fc1Weight.dim(0) }

    /// x [..., C] += feed-forward(x), in place.
    public func addResidual(to x: inout Tensor) {
        let (width, hidden) = (width, hidden)
        precondition(x.dim(-1) == width, "FeedForward: input \(x.shape) does not have width \(width)")
        let rows = x.count / width
        guard rows > 0 else { return }
        let blockRows = max(1, min(Self.maximumBlockRows, (rows + Parallel.threadCount - 1) / Parallel.threadCount))
        let blocks = (rows + blockRows - 1) / blockRows
        x.withUnsafeMutableBufferPointer { xBuffer in
            let x = xBuffer.baseAddress!
            Parallel.forEachChunk(blocks) { range in
                // One scratch per worker for all its blocks.
                let normed = UnsafeMutablePointer<Float>.allocate(capacity: norm == nil ? 0 : blockRows * width)
                let activations = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * hidden)
                defer { normed.deallocate(); activations.deallocate() }
                for block in range {
                    let first = block * blockRows, count = min(blockRows, rows - first)
                    apply(rows: x + first * width, count: count, normed: normed, activations: activations)
                }
            }
        }
    }

    /// One block of `count` rows at `rows`, updated in place.
    private func apply(rows: UnsafeMutablePointer<Float>, count: Int, normed: UnsafeMutablePointer<Float>,
                       activations: UnsafeMutablePointer<Float>) {
        let (width, hidden) = (width, hidden)
        var input = UnsafePointer(rows)
        if let norm {
            norm.weight.withUnsafeBufferPointer { g in
                norm.bias.withUnsafeBufferPointer { b in
                    for r in 0..<count {
                        Normalization.layerNormRow(rows + r * width, normed + r * width, width, g.baseAddress!, b.baseAddress!, norm.eps)
                    }
                }
            }
            input = UnsafePointer(normed)
        }
        Tensor.fillRows(activations, count: count, width: hidden, with: fc1Bias)
        fc1Weight.withUnsafeBufferPointer { w in
            GEMM.serial(m: count, n: hidden, k: width, a: input, lda: width, b: w.baseAddress!, ldb: width, transB: true,
                        c: activations, ldc: hidden, beta: 1)
        }
        switch activation {
        case .gelu: Pointwise.apply(GELUKernel.self, activations, activations, count * hidden)
        case .quickGelu: Pointwise.apply(QuickGELUKernel.self, activations, activations, count * hidden)
        case .relu: Pointwise.apply(ReLUKernel.self, activations, activations, count * hidden)
        }
        Tensor.accumulateLinear(activations, rows: count, weight: fc2Weight, bias: fc2Bias, into: rows, parallel: false)
    }
}
