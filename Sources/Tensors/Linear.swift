extension Tensor {
    /// PyTorch `nn.Linear`: y = x·Wᵀ + b.
    /// - self: [..., in]; weight: [out, in]; bias: [out] or nil.
    /// - Returns: [..., out]. All leading dimensions fold into one product.
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        linear(weight: weight, bias: bias, outputRows: 0..<weight.dim(0))
    }

    /// The output features `outputRows` of `linear(weight:bias:)` (rows of a packed weight such as
    /// an in-projection [3D, D]), read in place: no copy of the weight.
    /// - Returns: [..., outputRows.count].
    public func linear(weight: Tensor, bias: Tensor?, outputRows: Range<Int>) -> Tensor {
        precondition(rank >= 1 && weight.rank == 2 && weight.dim(1) == dim(-1),
                     "linear: input \(shape) does not match weight \(weight.shape) ([out, in])")
        precondition(outputRows.lowerBound >= 0 && outputRows.upperBound <= weight.dim(0),
                     "linear: output rows \(outputRows) outside weight \(weight.shape)")
        let inputs = dim(-1), outputs = outputRows.count
        if let bias { precondition(bias.shape == [weight.dim(0)], "linear: bias \(bias.shape) does not match weight \(weight.shape)") }
        let rows = inputs == 0 ? count : count / inputs
        return Tensor(shape: Array(shape.dropLast()) + [outputs]) { out in
            guard rows > 0, outputs > 0 else { return }
            let c = out.baseAddress!
            // Start from the bias rows and accumulate the product onto them (beta = 1).
            Tensor.fillRows(c, count: rows, width: outputs, with: bias, from: outputRows.lowerBound)
            guard inputs > 0 else { return }
            scalars.withUnsafeBufferPointer { x in
                weight.scalars.withUnsafeBufferPointer { w in
                    GEMM.sgemm(m: rows, n: outputs, k: inputs, a: x.baseAddress!, lda: inputs,
                               b: w.baseAddress! + outputRows.lowerBound * inputs, ldb: inputs, transB: true,
                               c: c, ldc: outputs, beta: 1)
                }
            }
        }
    }
}

extension Tensor {
    /// self += input·Wᵀ + b, accumulated by the GEMM itself (beta = 1) so a residual costs no
    /// temporary. input: [rows, in]; weight: [out, in]; self: [rows, out].
    public mutating func addLinear(_ input: Tensor, weight: Tensor, bias: Tensor?) {
        let inputs = input.dim(-1), outputs = weight.dim(0)
        let rows = inputs == 0 ? 0 : input.count / inputs
        precondition(weight.rank == 2 && weight.dim(1) == inputs && count == rows * outputs,
                     "addLinear: \(input.shape) · \(weight.shape)ᵀ does not fit \(shape)")
        guard rows > 0, inputs > 0 else { return }
        withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { a in
                Tensor.accumulateLinear(a.baseAddress!, rows: rows, weight: weight, bias: bias, into: out.baseAddress!, parallel: true)
            }
        }
    }

    /// Every row of `target` [count, width] set to `bias[offset..<offset + width]` (or zero):
    /// where a product accumulates.
    public static func fillRows(_ target: UnsafeMutablePointer<Float>, count: Int, width: Int, with bias: Tensor?, from offset: Int = 0) {
        guard let bias else { target.update(repeating: 0, count: count * width); return }
        precondition(offset + width <= bias.count, "fillRows: bias \(bias.shape) has no columns \(offset)..<\(offset + width)")
        bias.withUnsafeBufferPointer { b in
            for r in 0..<count { (target + r * width).update(from: b.baseAddress! + offset, count: width) }
        }
    }

    /// c[rows, out] += a[rows, in]·Wᵀ + b, split over workers or on the calling thread.
    static func accumulateLinear(_ a: UnsafePointer<Float>, rows: Int, weight: Tensor, bias: Tensor?,
                                 into c: UnsafeMutablePointer<Float>, parallel: Bool) {
        let (outputs, inputs) = (weight.dim(0), weight.dim(1))
        if let bias {
            bias.withUnsafeBufferPointer { b in
                for row in 0..<rows {
                    let target = c + row * outputs
                    for j in 0..<outputs { target[j] += b[j] }
                }
            }
        }
        weight.withUnsafeBufferPointer { w in
            if parallel {
                GEMM.sgemm(m: rows, n: outputs, k: inputs, a: a, lda: inputs, b: w.baseAddress!, ldb: inputs, transB: true,
                           c: c, ldc: outputs, beta: 1)
            } else {
                GEMM.serial(m: rows, n: outputs, k: inputs, a: a, lda: inputs, b: w.baseAddress!, ldb: inputs, transB: true,
                            c: c, ldc: outputs, beta: 1)
            }
        }
    }
}
