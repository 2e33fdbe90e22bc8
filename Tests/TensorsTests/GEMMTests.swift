import Testing
import TestSupport
@testable import Tensors

@Suite struct GEMMTests {
    @Test func loadedKernelComputesCorrectly() {
        #expect(BLASRuntime.verifyKernel())
    }

    @Test func batchedMatmulMatchesNaiveLoop() {
        var generator = SplitMix64(seed: 7)
        for (batch, m, n, k) in [(1, 1, 1, 1), (3, 17, 33, 9), (2, 130, 70, 257), (5, 1, 64, 3)] {
            for transposed in [false, true] {
                let a = Tensor.random([batch, m, k], using: &generator)
                let b = Tensor.random(transposed ? [batch, n, k] : [batch, k, n], using: &generator)
                let c = a.matmul(b, transposeOther: transposed)
                #expect(c.shape == [batch, m, n])
                var worst = 0.0
                for t in 0..<batch { for i in 0..<m { for j in 0..<n {
                    var expected = 0.0
                    for p in 0..<k {
                        let bv = transposed ? b.scalars[t * n * k + j * k + p] : b.scalars[t * k * n + p * n + j]
                        expected += Double(a.scalars[t * m * k + i * k + p]) * Double(bv)
                    }
                    worst = max(worst, abs(Double(c.scalars[t * m * n + i * n + j]) - expected) / max(1, abs(expected)))
                } } }
                #expect(worst <= 1e-5, "batch \(batch) m \(m) n \(n) k \(k) transposed \(transposed): \(worst)")
            }
        }
    }

    @Test func sharedRightHandSideFoldsBatch() {
        var generator = SplitMix64(seed: 8)
        let a = Tensor.random([4, 5, 6], using: &generator)
        let w = Tensor.random([7, 6], using: &generator)
        let folded = a.matmul(w, transposeOther: true)
        let perBatch = Tensor.concatenate((0..<4).map { a.rows($0..<($0 + 1)).reshaped([5, 6]).matmul(w, transposeOther: true).reshaped([1, 5, 7]) })
        // Equal up to rounding: how many rows share a product may change a row's bits (see rowTileMultiple).
        #expect(folded.shape == perBatch.shape && maxDifference(folded, perBatch) <= 1e-6)
    }

    /// What the fusion head's batching stands on (`RowBlocks`): in a product wide enough to be
    /// split by columns, a block of `rowTileMultiple` rows gets the same bits alone as stacked
    /// with others, split over workers or not, through both OpenBLAS's small-matrix sizes and its
    /// blocked kernel.
    @Test(arguments: [(32, 512), (256, 768), (768, 2048), (2048, 768), (100, 700)])
    func rowBlocksOfWideProductsAreComputedAsAlone(inputs: Int, outputs: Int) {
        var generator = SplitMix64(seed: 9)
        let block = GEMM.rowTileMultiple
        let w = Tensor.random([outputs, inputs], using: &generator), b = Tensor.random([outputs], using: &generator)
        let x = Tensor.random([5 * block, inputs], using: &generator)
        for threads in [1, 2] {
            Parallel.withThreads(threads) {
                for blocks in [2, 3, 5] {
                    let stacked = x.rows(0..<blocks * block).linear(weight: w, bias: b)
                    for i in 0..<blocks {
                        let rows = i * block..<(i + 1) * block
                        #expect(stacked.rows(rows) == x.rows(rows).linear(weight: w, bias: b),
                                "\(inputs)→\(outputs), block \(i) of \(blocks), \(threads) threads")
                    }
                }
            }
        }
    }
}

@Suite struct BuildTargetTests {
    @Test func namesTheMissingFeatures() throws {
        #expect(BuildTarget.unsupportedCPUReason(features: Set(BuildTarget.requiredCPUFeatures)) == nil)
        let without = Set(BuildTarget.requiredCPUFeatures.dropLast())
        let reason = try #require(BuildTarget.unsupportedCPUReason(features: without))
        #expect(reason.contains(BuildTarget.requiredCPUFeatures.last!) && reason.contains("REGIONSPOT_TARGET_CPU=haswell"))
        // This machine runs the build it made.
        #expect(BuildTarget.unsupportedCPUReason() == nil)
    }
}
