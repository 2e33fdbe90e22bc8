import Tensors

/// Multi-head attention with PyTorch's parameter names, in both of the reference layouts:
/// - **packed**, `nn.MultiheadAttention` (CLIP's blocks, RegionSpot's decoder): `in_proj_weight`
///   [3D, D] = [W_q; W_k; W_v], `in_proj_bias` [3D], `out_proj.{weight,bias}`;
/// - **split**, segment-anything's `Attention`: `q_proj`, `k_proj`, `v_proj` (to an internal width
///   D / downsample_rate), `out_proj`.
/// Heads are contiguous column blocks of the projections, scores are scaled by 1/√head dim.
public struct MultiheadAttention: ParameterizedLayer {
    public enum Projection: Sendable {
        case packed(Linear)
        case split(query: Linear, key: Linear, value: Linear)
    }

    public var projection: Projection
    public var outProj: Linear
    public let heads: Int

    public init(projection: Projection, outProj: Linear, heads: Int) {
        self.projection = projection
        self.outProj = outProj
        self.heads = heads
        precondition(heads > 0 && innerDim % heads == 0, "MultiheadAttention: width \(innerDim) not divisible by \(heads) heads")
    }

    /// `nn.MultiheadAttention(dim, heads)`: keys `in_proj_weight`, `in_proj_bias`, `out_proj.*`.
    public init(packed loader: WeightLoader, dim: Int, heads: Int) throws {
        let inProj = Linear(weight: try loader.tensor("in_proj_weight", shape: [3 * dim, dim]),
                            bias: try loader.tensor("in_proj_bias", shape: [3 * dim]))
        try self.init(loader, projection: .packed(inProj), dim: dim, inner: dim, heads: heads)
    }

    /// segment-anything's `Attention(dim, heads, downsample_rate)`: keys `q_proj`, `k_proj`,
    /// `v_proj`, `out_proj`; the internal width is read from `q_proj`.
    public init(split loader: WeightLoader, dim: Int, heads: Int) throws {
        let query = try Linear(loader.scoped("q_proj"), inputs: dim)
        let inner = query.outputs
        let key = try Linear(loader.scoped("k_proj"), inputs: dim, outputs: inner)
        let value = try Linear(loader.scoped("v_proj"), inputs: dim, outputs: inner)
        try self.init(loader, projection: .split(query: query, key: key, value: value), dim: dim, inner: inner, heads: heads)
    }

    private init(_ loader: WeightLoader, projection: Projection, dim: Int, inner: Int, heads: Int) throws {
        guard heads > 0, inner % heads == 0 else {
            throw LayerError.headsDoNotDivide(key: loader.key(""), width: inner, heads: heads)
        }
        self.init(projection: projection, outProj: try Linear(loader.scoped("out_proj"), inputs: inner, outputs: dim), heads: heads)
    }

    /// Width of the projected queries, keys and values (D, or D / downsample_rate).
    public var innerDim: Int { outProj.inputs }
    public var headDim: Int { innerDim / heads }
    public var scale: Float { 1 / Float(headDim).squareRoot() }

    // MARK: Projections

    public func queries(_ x: Tensor) -> Tensor { project(x, part: 0) }
    public func keys(_ x: Tensor) -> Tensor { project(x, part: 1) }
    public func values(_ x: Tensor) -> Tensor { project(x, part: 2) }

    /// The query, key or value projection (0, 1, 2); a packed weight is read in place.
    private func project(_ x: Tensor, part: Int) -> Tensor {
        switch projection {
        case let .packed(inProj): return inProj(x, outputs: (part * innerDim)..<((part + 1) * innerDim))
        case let .split(query, key, value): return [query, key, value][part](x)
        }
    }

    /// q | k | v of the same tokens [rows, 3·inner] in one product (packed), or three.
    public func queriesKeysValues(_ x: Tensor) -> Tensor {
        switch projection {
        case let .packed(inProj): return inProj(x)
        case .split: return Tensor.concatenate([queries(x), keys(x), values(x)], axis: -1)
        }
    }

    /// k | v of a memory [rows, 2·inner] (cross-attention keys, computed once per memory).
    public func keysValues(_ memory: Tensor) -> Tensor {
        switch projection {
        case let .packed(inProj): return inProj(memory, outputs: innerDim..<(3 * innerDim))
        case .split: return Tensor.concatenate([keys(memory), values(memory)], axis: -1)
        }
    }

    // MARK: Attention

    /// Self-attention of `x` [sequences·length, D] (each sequence's rows contiguous), out_proj included.
    public func selfAttention(_ x: Tensor, sequences: Int = 1, bias: (any AttentionBias)? = nil) -> Tensor {
        outProj(selfAttentionHeads(x, sequences: sequences, bias: bias))
    }

    /// The heads' outputs of self-attention [sequences·length, inner], before out_proj (for
    /// callers that add out_proj into a residual).
    public func selfAttentionHeads(_ x: Tensor, sequences: Int = 1, bias: (any AttentionBias)? = nil) -> Tensor {
        let qkv = queriesKeysValues(x)
        let inner = innerDim
        return attend(queries: Columns(qkv, from: 0), keys: Columns(qkv, from: inner), values: Columns(qkv, from: 2 * inner),
                      sequences: sequences, bias: bias)
    }

    /// Cross-attention of `x` [N, D] to a memory projected by `keysValues` [T, 2·inner], out_proj included.
    public func crossAttention(_ x: Tensor, memoryKeysValues kv: Tensor) -> Tensor {
        outProj(attend(queries: Columns(queries(x)), keys: Columns(kv, from: 0), values: Columns(kv, from: innerDim)))
    }

    /// Projected tokens as attention reads them: columns `from..<from + inner` of each row of
    /// `tensor`, holding every sequence's rows one after another, or (`shared`) one sequence's
    /// rows that every sequence uses.
    public struct Columns {
        public let tensor: Tensor
        public let from: Int
        public let shared: Bool
        public init(_ tensor: Tensor, from: Int = 0, shared: Bool = false) {
            self.tensor = tensor
            self.from = from
            self.shared = shared
        }
        var stride: Int { tensor.dim(-1) }
        var rows: Int { tensor.count / max(1, stride) }
    }

    /// Scaled dot-product attention of already projected tokens, over `sequences` independent
    /// sequences (windows, prompts, texts). Returns the heads' outputs [sequences·queries, inner],
    /// before out_proj.
    public func attend(queries q: Columns, keys k: Columns, values v: Columns, sequences: Int = 1,
                       bias: (any AttentionBias)? = nil) -> Tensor {
        let inner = innerDim, hd = headDim
        let qShared = q.shared && sequences > 1, kvShared = k.shared && sequences > 1
        precondition(k.shared == v.shared, "attend: keys and values must be shared alike")
        let nq = qShared ? q.rows : q.rows / sequences, nk = kvShared ? k.rows : k.rows / sequences
        precondition((qShared || nq * sequences == q.rows) && (kvShared || nk * sequences == k.rows) && v.rows == k.rows,
                     "attend: \(q.tensor.shape), \(k.tensor.shape), \(v.tensor.shape) do not split into \(sequences) sequences")
        precondition(bias == nil || !(qShared || kvShared), "attend: a bias needs every sequence's own queries, keys and values")
        return Tensor(shape: [sequences * nq, inner]) { out in
            guard !out.isEmpty else { return }
            q.tensor.withUnsafeBufferPointer { qp in
                k.tensor.withUnsafeBufferPointer { kp in
                    v.tensor.withUnsafeBufferPointer { vp in
                        let (qBase, kBase, vBase) = (qp.baseAddress! + q.from, kp.baseAddress! + k.from, vp.baseAddress! + v.from)
                        let (qStride, kStride, vStride) = (q.stride, k.stride, v.stride)
                        func run(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                                 queryCount: Int, sequences: Int) {
                            Attention.compute(queries: q, queryStride: qStride, keys: k, keyStride: kStride,
                                              values: v, valueStride: vStride, output: out, outputStride: inner,
                                              queryCount: queryCount, keyCount: nk, heads: heads, headDim: hd, valueDim: hd,
                                              scale: scale, bias: bias, sequences: sequences)
                        }
                        if !qShared && !kvShared {
                            run(q: qBase, k: kBase, v: vBase, out: out.baseAddress!, queryCount: nq, sequences: sequences)
                        } else if kvShared && !qShared {
                            // Every sequence's queries against the same keys: one call over all query rows.
                            run(q: qBase, k: kBase, v: vBase, out: out.baseAddress!, queryCount: sequences * nq, sequences: 1)
                        } else {
                            for s in 0..<sequences {
                                run(q: qBase + (qShared ? 0 : s * nq * qStride), k: kBase + (kvShared ? 0 : s * nk * kStride),
                                    v: vBase + (kvShared ? 0 : s * nk * vStride), out: out.baseAddress! + s * nq * inner,
                                    queryCount: nq, sequences: 1)
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: Training

    /// What the backward needs from one training forward.
    public struct Trace: Sendable {
        let input: Tensor
        let attention: Attended
        let heads: Tensor

        enum Attended: Sendable {
            /// Self-attention: q | k | v of the input [rows, 3·inner] and the probabilities.
            case projected(queriesKeysValues: Tensor, probabilities: Tensor, weights: Tensor, dropoutMask: Tensor?, sequences: Int)
            /// Cross-attention to a frozen memory, which is never projected (`MemoryAttention`).
            case memory(MemoryAttention.Trace)
        }
    }

    /// Training forward of the packed layout (`nn.MultiheadAttention` in training mode): self-
    /// attention of x [sequences·n, D] (memory nil), or cross-attention of x to `memory`
    /// [sequences·t, D], each sequence attending to its own keys. A memory is a frozen input
    /// (RegionSpot's CLIP token map). Keys flagged in `keyPadding` ([sequences·keys], self-
    /// attention only) are ignored, and the attention weights are dropped by `dropout`.
    public func trainingForward(_ x: Tensor, memory: Tensor? = nil, sequences: Int, keyPadding: [Bool]? = nil,
                                dropout: Dropout, generator: inout SplitMix64) -> (output: Tensor, trace: Trace) {
        let inProj = packedProjection, d = innerDim
        if let memory {
            precondition(keyPadding == nil, "MultiheadAttention training: key padding of a memory is not supported")
            let (attended, trace) = MemoryAttention.forward(queries: inProj(x, outputs: 0..<d), memory: memory, weight: inProj.weight,
                                                            bias: inProj.bias!, sequences: sequences, heads: heads, scale: scale) {
                dropout.mask($0.shape, generator: &generator)
            }
            return (outProj(attended), Trace(input: x, attention: .memory(trace), heads: attended))
        }
        let qkv = inProj(x)  // one product for q | k | v
        let q = qkv.slice(axis: 1, range: 0..<d), k = qkv.slice(axis: 1, range: d..<(2 * d)), v = qkv.slice(axis: 1, range: (2 * d)..<(3 * d))
        let p = MaterializedAttention.probabilities(queries: q, keys: k, sequences: sequences, heads: heads, scale: scale,
                                                    keyPadding: keyPadding)
        let mask = dropout.mask(p.shape, generator: &generator)
        let weights = Dropout.apply(p, mask: mask)
        let attended = MaterializedAttention.weightedValues(weights, values: v, sequences: sequences, heads: heads)
        let trace = Trace(input: x, attention: .projected(queriesKeysValues: qkv, probabilities: p, weights: weights, dropoutMask: mask,
                                                          sequences: sequences), heads: attended)
        return (outProj(attended), trace)
    }

    /// Adds every parameter's gradient into `gradients` and returns that of x. A memory gets no
    /// gradient. The key bias gets none either: softmax ignores what it adds (the same q·b for
    /// every key of a query), so its exact gradient is zero, where a computed one would be
    /// rounding noise that Adam's normalisation turns into steps.
    public func backward(_ dy: Tensor, trace: Trace, into gradients: inout MultiheadAttention) -> Tensor {
        let inProj = packedProjection, d = innerDim
        let dHeads = outProj.backward(trace.heads, outputGradient: dy, into: &gradients.outProj)
        var gradientProjection = gradients.takePackedProjection()
        defer { gradients.projection = .packed(gradientProjection) }
        switch trace.attention {
        case let .memory(memoryTrace):
            var (weight, bias) = (gradientProjection.weight, gradientProjection.bias!)
            let dq = MemoryAttention.backward(dHeads, trace: memoryTrace, weight: inProj.weight, bias: inProj.bias!,
                                              weightGradient: &weight, biasGradient: &bias)
            (gradientProjection.weight, gradientProjection.bias) = (weight, bias)
            inProj.accumulateGradients(input: trace.input, outputGradient: dq, into: &gradientProjection, outputs: 0..<d)
            return inProj.inputGradient(dq, outputs: 0..<d)
        case let .projected(qkv, probabilities, weights, mask, sequences):
            let (dq, dk, dv) = MaterializedAttention.backward(
                outputGradient: dHeads, queries: qkv.slice(axis: 1, range: 0..<d), keys: qkv.slice(axis: 1, range: d..<(2 * d)), values: qkv.slice(axis: 1, range: (2 * d)..<(3 * d)),
                probabilities: probabilities, weights: weights, dropoutMask: mask, sequences: sequences, heads: heads, scale: scale)
            let dqkv = Tensor.concatenate([dq, dk, dv], axis: -1)
            let keyBias = gradientProjection.bias!.scalars[d..<(2 * d)]
            inProj.accumulateGradients(input: trace.input, outputGradient: dqkv, into: &gradientProjection)
            gradientProjection.bias!.scalars.replaceSubrange(d..<(2 * d), with: keyBias)  // exactly zero: see above
            return inProj.inputGradient(dqkv)
        }
    }

    /// The in-projection of the packed layout; training supports only that one (RegionSpot's).
    private var packedProjection: Linear {
        guard case let .packed(inProj) = projection else { preconditionFailure(Self.packedOnly) }
        return inProj
    }

    private static let packedOnly = "MultiheadAttention training: only the packed in_proj layout (nn.MultiheadAttention) is supported"

    /// The projection moved out of the layer (an empty one is left until it is put back): a
    /// copy of an enum's payload shares its tensors, so changing them would copy them first
    /// (14 MB per decoder layer and step in training), where the moved-out one changes in place.
    private mutating func takeProjection() -> Projection {
        defer { projection = .packed(Linear(weight: Tensor(shape: [0, 0]), bias: nil)) }
        return projection
    }

    private mutating func takePackedProjection() -> Linear {
        guard case let .packed(inProj) = takeProjection() else { preconditionFailure(Self.packedOnly) }
        return inProj
    }

    public mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        switch takeProjection() {
        case var .packed(inProj):
            defer { projection = .packed(inProj) }
            try body(parameterKey(prefix, "in_proj_weight"), &inProj.weight)
            try body(parameterKey(prefix, "in_proj_bias"), &inProj.bias!)
        case .split(var query, var key, var value):
            defer { projection = .split(query: query, key: key, value: value) }
            try query.updateParameters(prefix: parameterKey(prefix, "q_proj"), body)
            try key.updateParameters(prefix: parameterKey(prefix, "k_proj"), body)
            try value.updateParameters(prefix: parameterKey(prefix, "v_proj"), body)
        }
        try outProj.updateParameters(prefix: parameterKey(prefix, "out_proj"), body)
    }
}
