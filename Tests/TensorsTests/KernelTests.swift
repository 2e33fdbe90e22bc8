import Foundation
import Testing
@testable import Tensors

/// Every fast kernel against a plain double-precision loop on random inputs and odd shapes.
@Suite struct KernelTests {
    @Test func linearMatchesLoop() {
        var generator = SplitMix64(seed: 11)
        for (lead, k, n) in [([1], 1, 1), ([3], 7, 5), ([2, 3], 33, 17), ([130], 257, 65), ([4, 1, 9], 64, 300)] {
            let x = Tensor.random(lead + [k], using: &generator)
            let w = Tensor.random([n, k], using: &generator)
            let b = Tensor.random([n], using: &generator)
            let withBias = x.linear(weight: w, bias: b)
            #expect(withBias.shape == lead + [n])
            #expect(maxRelativeError(withBias.scalars, Reference.linear(x, w, b)) <= 1e-5)
            #expect(maxRelativeError(x.linear(weight: w).scalars, Reference.linear(x, w, nil)) <= 1e-5)
        }
    }

    @Test func layerNormMatchesLoop() {
        var generator = SplitMix64(seed: 12)
        for shape in [[1, 1], [3, 5], [7, 33], [2, 4, 768], [1000, 9]] {
            let x = Tensor.random(shape, in: -3...5, using: &generator)
            let w = Tensor.random([shape.last!], using: &generator)
            let b = Tensor.random([shape.last!], using: &generator)
            #expect(maxRelativeError(x.layerNorm(weight: w, bias: b, eps: 1e-5).scalars, Reference.layerNorm(x, w, b, eps: 1e-5)) <= 1e-5)
            #expect(maxRelativeError(x.layerNorm(weight: nil, bias: nil, eps: 1e-6).scalars, Reference.layerNorm(x, nil, nil, eps: 1e-6)) <= 1e-5)
        }
        // A constant row has zero variance: the output is the bias.
        let constant = Tensor(shape: [2, 4], repeating: 3).layerNorm(weight: nil, bias: Tensor(shape: [4], scalars: [1, 2, 3, 4]))
        #expect(constant.scalars == [1, 2, 3, 4, 1, 2, 3, 4])
    }

    @Test func layerNorm2dMatchesLoop() {
        var generator = SplitMix64(seed: 13)
        for shape in [[1, 1, 1], [3, 5, 7], [2, 16, 9, 31], [256, 8, 40], [1, 1, 300, 2]] {
            let c = shape[shape.count - 3]
            let x = Tensor.random(shape, in: -2...3, using: &generator)
            let w = Tensor.random([c], using: &generator)
            let b = Tensor.random([c], using: &generator)
            #expect(maxRelativeError(x.layerNorm2d(weight: w, bias: b).scalars, Reference.layerNorm2d(x, w, b, eps: 1e-6)) <= 1e-5)
        }
    }

    @Test func geluMatchesDoubleErf() {
        // Dense sweep over the range where GELU is a normal float, relative to the value itself.
        let values = (0...26_000).map { Float(-13) + Float($0) * 0.001 } + [0, -0.0, 1e-30, -1e-30, 1e-8, 40, 1e10]
        let x = Tensor(shape: [values.count], scalars: values)
        #expect(maxRelativeError(x.gelu().scalars, values.map(Reference.gelu), floor: 1e-37) <= 1e-6)
        let special = Tensor(shape: [3], scalars: [.infinity, -.infinity, .nan]).gelu().scalars
        #expect(special[0] == .infinity && special[1].isNaN && special[2].isNaN)
    }

    @Test func quickGeluAndSigmoidMatchDouble() {
        let values = (0...20_000).map { Float(-50) + Float($0) * 0.005 } + [0, 80, -80, 100, -100, 1e-30]
        let x = Tensor(shape: [values.count], scalars: values)
        #expect(maxRelativeError(x.quickGelu().scalars, values.map(Reference.quickGelu), floor: 1e-30) <= 1e-6)
        #expect(maxRelativeError(x.sigmoid().scalars, values.map { Reference.sigmoid(Double($0)) }, floor: 1e-30) <= 1e-6)
        #expect(x.relu().scalars == values.map { max($0, 0) })
        let extremes = Tensor(shape: [3], scalars: [.infinity, -.infinity, .nan]).sigmoid().scalars
        #expect(extremes[0] == 1 && extremes[1] == 0 && extremes[2].isNaN)
    }

    @Test(arguments: [
        // (input shape, weight shape, stride, padding, groups)
        ([3, 9, 11], [4, 3, 3, 3], 1, 1, 1),
        ([2, 6, 9, 11], [4, 3, 3, 3], 2, 1, 2),
        ([1, 5, 8], [2, 1, 1, 1], 1, 0, 1),
        ([2, 6, 7, 7], [9, 2, 1, 1], 1, 0, 3),
        ([8, 10, 7], [8, 1, 3, 3], 1, 1, 8),
        ([2, 8, 10, 7], [8, 1, 3, 3], 2, 1, 8),
        ([4, 6, 6], [4, 1, 5, 5], 1, 2, 4),
        ([3, 32, 32], [8, 3, 16, 16], 16, 0, 1),
        ([2, 7, 13], [5, 2, 3, 5], 3, 2, 1),
        ([4, 2, 2], [6, 2, 3, 3], 1, 1, 2),
        ([1, 1, 1], [1, 1, 1, 1], 1, 0, 1),
        ([3, 40, 33], [16, 3, 3, 3], 2, 1, 1),
        ([6, 5, 5], [12, 1, 3, 3], 1, 1, 6),
    ] as [([Int], [Int], Int, Int, Int)])
    func conv2dMatchesLoop(input: [Int], weight: [Int], stride: Int, padding: Int, groups: Int) {
        var generator = SplitMix64(seed: UInt64(input.reduce(17, *) + weight.reduce(5, *)))
        let x = Tensor.random(input, using: &generator)
        let w = Tensor.random(weight, using: &generator)
        let b = Tensor.random([weight[0]], using: &generator)
        for bias in [b, nil] {
            let expected = Reference.conv2d(x, w, bias, stride: stride, padding: padding, groups: groups)
            let y = x.conv2d(weight: w, bias: bias, stride: stride, padding: padding, groups: groups)
            #expect(y.shape == expected.shape)
            #expect(maxRelativeError(y.scalars, expected.values) <= 1e-5)
        }
    }

    @Test func conv2dColumnTilesCoverEveryPosition() {
        // A small im2col budget forces tiles that start and end mid-row.
        var generator = SplitMix64(seed: 21)
        let x = Tensor.random([4, 13, 11], using: &generator)
        let w = Tensor.random([6, 2, 3, 3], using: &generator)
        let b = Tensor.random([6], using: &generator)
        let expected = Reference.conv2d(x, w, b, stride: 2, padding: 1, groups: 2)
        for budget in [18, 18 * 5, 18 * 7, 1 << 20] {
            let g = ConvGeometry(channels: 4, height: 13, width: 11, outputs: 6, kernelHeight: 3, kernelWidth: 3,
                                 stride: 2, padding: 1, groups: 2)
            var y = [Float](repeating: .nan, count: g.outputSize)
            x.scalars.withUnsafeBufferPointer { xp in w.scalars.withUnsafeBufferPointer { wp in b.scalars.withUnsafeBufferPointer { bp in
                y.withUnsafeMutableBufferPointer { yp in
                    Convolution.conv2d(g, input: xp.baseAddress!, weight: wp.baseAddress!, bias: bp.baseAddress!,
                                       output: yp.baseAddress!, columnBudget: budget)
                }
            } } }
            #expect(maxRelativeError(y, expected.values) <= 1e-5, "budget \(budget)")
        }
    }

    @Test func convTransposeMatchesLoop() {
        var generator = SplitMix64(seed: 22)
        for (input, outputs) in [([3, 4, 5], 2), ([2, 5, 3, 7], 4), ([1, 1, 1], 1), ([16, 9, 8], 6)] {
            let x = Tensor.random(input, using: &generator)
            let w = Tensor.random([input[input.count - 3], outputs, 2, 2], using: &generator)
            let b = Tensor.random([outputs], using: &generator)
            let y = x.convTranspose2x2(weight: w, bias: b)
            let h = input[input.count - 2], wd = input[input.count - 1]
            #expect(y.shape == Array(input.dropLast(3)) + [outputs, 2 * h, 2 * wd])
            #expect(maxRelativeError(y.scalars, Reference.convTranspose2x2(x, w, b)) <= 1e-5)
        }
    }

    @Test func batchNormFoldMatchesSeparateNormalisation() {
        var generator = SplitMix64(seed: 23)
        let x = Tensor.random([3, 6, 5], using: &generator)
        let w = Tensor.random([4, 3, 3, 3], using: &generator)
        let gamma = Tensor.random([4], using: &generator), beta = Tensor.random([4], using: &generator)
        let mean = Tensor.random([4], using: &generator), variance = Tensor.random([4], in: 0.1...2, using: &generator)
        let folded = BatchNorm.fold(convWeight: w, convBias: nil, weight: gamma, bias: beta, runningMean: mean, runningVar: variance, eps: 1e-5)
        let y = x.conv2d(weight: folded.weight, bias: folded.bias, padding: 1)
        let raw = Reference.conv2d(x, w, nil, stride: 1, padding: 1, groups: 1)
        let plane = 30
        let expected = raw.values.enumerated().map { i, v in
            let o = i / plane
            return (v - Double(mean.scalars[o])) / (Double(variance.scalars[o]) + 1e-5).squareRoot() * Double(gamma.scalars[o]) + Double(beta.scalars[o])
        }
        #expect(maxRelativeError(y.scalars, expected) <= 1e-5)
    }
}

@Suite struct SoftmaxOverRowsTests {
    /// Softmax over dim −2 of [groups, T, N] against the row softmax of the transposed matrix.
    @Test func matchesRowSoftmaxOfTheTranspose() {
        var generator = SplitMix64(seed: 41)
        for (groups, t, n) in [(1, 1, 5), (8, 7, 4096), (3, 5, 37), (2, 16, 16), (4, 3, 1)] {
            var x = Tensor.random([groups * t, n], in: -20...20, using: &generator)
            var expected = [Double](repeating: 0, count: x.count)
            for g in 0..<groups {
                for c in 0..<n {
                    let column = (0..<t).map { Double(x.scalars[(g * t + $0) * n + c]) }
                    let top = column.max()!
                    let weights = column.map { exp($0 - top) }
                    let total = weights.reduce(0, +)
                    for i in 0..<t { expected[(g * t + i) * n + c] = weights[i] / total }
                }
            }
            x.softmaxOverRows(groups: groups)
            #expect(maxRelativeError(x.scalars, expected, floor: 1e-30) <= 1e-5, "groups \(groups) T \(t) N \(n)")
        }
    }
}
