import Testing
import TestSupport
@testable import Tensors

@Suite struct AttentionTests {
    /// Value heads of whole vectors and enough rows take the register-tiled path; the others
    /// (value widths d + 3) the BLAS one. Sizes straddle tiles of 6 rows, 16 keys and key blocks.
    @Test(arguments: [
        (1, 1, 1, 8, 11), (7, 13, 2, 16, 19), (64, 64, 4, 32, 35), (65, 130, 3, 24, 27), (200, 2500, 2, 16, 19),
        (25, 33, 2, 16, 16), (97, 1030, 3, 64, 64), (200, 700, 2, 80, 80), (31, 517, 1, 20, 32),
    ])
    func tiledMatchesNaive(queries: Int, keys: Int, heads: Int, headDim: Int, valueDim: Int) {
        var generator = SplitMix64(seed: UInt64(queries * 1000 + keys))
        let q = Tensor.random([queries, heads * headDim], in: -2...2, using: &generator)
        let k = Tensor.random([keys, heads * headDim], in: -2...2, using: &generator)
        let v = Tensor.random([keys, heads * valueDim], using: &generator)
        let tiled = Attention.multiHead(queries: q, keys: k, values: v, heads: heads)
        let reference = Attention.naive(queries: q, keys: k, values: v, heads: heads)
        #expect(relativeError(tiled, reference) <= 1e-5)
        #expect(Attention.usesRegisterTiles(queryCount: queries, keyCount: keys, valueDim: valueDim) == (valueDim % 16 == 0))
    }

    @Test func denseBiasPerHeadAndShared() {
        var generator = SplitMix64(seed: 3)
        let (nq, nk, heads, d) = (70, 1500, 3, 16)
        let q = Tensor.random([nq, heads * d], using: &generator)
        let k = Tensor.random([nk, heads * d], using: &generator)
        for (biasHeads, valueDim) in [(1, 8), (heads, 8), (1, 16), (heads, 16)] {
            let v = Tensor.random([nk, heads * valueDim], using: &generator)
            let bias = DenseAttentionBias(Tensor.random([biasHeads, nq, nk], in: -3...3, using: &generator))
            let tiled = Attention.multiHead(queries: q, keys: k, values: v, heads: heads, bias: bias)
            let reference = Attention.naive(queries: q, keys: k, values: v, heads: heads, bias: bias)
            #expect(relativeError(tiled, reference) <= 1e-5)
        }
    }

    @Test func causalMaskAcrossKeyTiles() {
        var generator = SplitMix64(seed: 4)
        let (n, heads, d) = (1100, 2, 16)
        let x = Tensor.random([n, heads * d], using: &generator)
        let tiled = Attention.multiHead(queries: x, keys: x, values: x, heads: heads, scale: 0.3, bias: CausalMask())
        let reference = Attention.naive(queries: x, keys: x, values: x, heads: heads, scale: 0.3, bias: CausalMask())
        #expect(relativeError(tiled, reference) <= 1e-5)
        // Query 0 sees only key 0.
        #expect(Array(tiled.scalars[0..<(heads * d)]) == Array(x.scalars[0..<(heads * d)]))
    }

    @Test func batchedInput() {
        var generator = SplitMix64(seed: 5)
        let q = Tensor.random([3, 9, 16], using: &generator)
        let k = Tensor.random([3, 11, 16], using: &generator)
        let v = Tensor.random([3, 11, 16], using: &generator)
        let tiled = Attention.multiHead(queries: q, keys: k, values: v, heads: 4)
        #expect(tiled.shape == [3, 9, 16])
        #expect(relativeError(tiled, Attention.naive(queries: q, keys: k, values: v, heads: 4)) <= 1e-5)
    }

    @Test func batchedSequencesSeeTheirOwnBias() {
        // A bias that differs per sequence (as ViT windows' relative positions do).
        struct PerSequence: AttentionBias {
            func add(sequence: Int, head: Int, queries: Range<Int>, keys: Range<Int>, prepared: UnsafePointer<Float>,
                     to tile: UnsafeMutablePointer<Float>, rowStride: Int) {
                for (i, q) in queries.enumerated() {
                    for (j, k) in keys.enumerated() { tile[i * rowStride + j] += Float((sequence + 1) * (k - q + head)) * 0.01 }
                }
            }
        }
        var generator = SplitMix64(seed: 8)
        let q = Tensor.random([5, 300, 16], using: &generator), k = Tensor.random([5, 70, 16], using: &generator)
        for valueWidth in [2 * 8, 2 * 16] {
            let v = Tensor.random([5, 70, valueWidth], using: &generator)
            let tiled = Attention.multiHead(queries: q, keys: k, values: v, heads: 2, bias: PerSequence())
            #expect(relativeError(tiled, Attention.naive(queries: q, keys: k, values: v, heads: 2, bias: PerSequence())) <= 1e-5)
        }
    }

    @Test func nanPoisonsItsRowOnly() {
        // As in PyTorch: a NaN score makes its query's output NaN, and no other's.
        var generator = SplitMix64(seed: 9)
        for (rows, width) in [(4, 8), (40, 16)] {  // the BLAS path and the register-tiled one
            var q = Tensor.random([rows, width], using: &generator)
            let kv = Tensor.random([rows, width], using: &generator)
            q.scalars[width] = .nan  // query 1
            let out = Attention.multiHead(queries: q, keys: kv, values: kv, heads: 1)
            #expect(out.scalars[width..<(2 * width)].allSatisfy { $0.isNaN })
            #expect(out.scalars.enumerated().allSatisfy { $0.offset / width == 1 || $0.element.isFinite })
        }
    }

    @Test func fullyMaskedRowGivesZeros() {
        struct MaskFirstRow: AttentionBias {
            func add(sequence: Int, head: Int, queries: Range<Int>, keys: Range<Int>, prepared: UnsafePointer<Float>,
                     to tile: UnsafeMutablePointer<Float>, rowStride: Int) {
                if queries.contains(0) { for j in 0..<keys.count { tile[j] = -.infinity } }
            }
        }
        var generator = SplitMix64(seed: 6)
        for (rows, width) in [(4, 8), (40, 16)] {  // the BLAS path and the register-tiled one
            let x = Tensor.random([rows, width], using: &generator)
            let out = Attention.multiHead(queries: x, keys: x, values: x, heads: 1, bias: MaskFirstRow())
            #expect(out.scalars[0..<width].allSatisfy { $0 == 0 })
            #expect(out.scalars.allSatisfy { $0.isFinite })
        }
    }

    /// Largest relative error of a vector exponential against libm's, on vectors of 16 arguments
    /// `spacing` apart whose first runs from `start` in steps of `step` while the last stays below `end`.
    func worstErrorAgainstLibm(_ exp: (FastMath.Vector) -> FastMath.Vector, from start: Float, below end: Float,
                               step: Float, spacing: Float) -> Float {
        var worst: Float = 0
        var x = start
        while x < end - 16 * spacing {
            var v = FastMath.Vector()
            for i in 0..<v.scalarCount { v[i] = x + Float(i) * spacing }
            let e = exp(v)
            for i in 0..<v.scalarCount { worst = max(worst, abs(e[i] - Foundation.exp(v[i])) / Foundation.exp(v[i])) }
            x += step
        }
        return worst
    }

    @Test func vectorExpMatchesLibm() {
        // normal results only: below -87, exp is denormal
        #expect(worstErrorAgainstLibm(FastMath.exp, from: -87, below: 88, step: 0.219, spacing: 0.0137) <= 3e-7)
        #expect(FastMath.exp(FastMath.Vector(repeating: -.infinity))[0] == 0)
    }

    @Test func softmaxExpMatchesLibm() {
        #expect(worstErrorAgainstLibm(FastMath.expOfNonPositive, from: -87, below: 0, step: 0.113, spacing: 0.0071) <= 3e-7)
        #expect(FastMath.expOfNonPositive(FastMath.Vector(repeating: 0))[0] == 1)
        #expect(FastMath.expOfNonPositive(FastMath.Vector(repeating: -.infinity))[0] == 0)
        #expect(FastMath.expOfNonPositive(FastMath.Vector(repeating: -89))[0] == 0)
        #expect(FastMath.expOfNonPositive(FastMath.Vector(repeating: .nan))[0].isNaN)
    }
}

import Foundation
