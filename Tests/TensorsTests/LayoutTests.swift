import Foundation
import Testing
@testable import Tensors

/// Layout, reduction, elementwise and softmax kernels against plain loops.
@Suite struct LayoutTests {
    /// out[index] = x[permuted index], by brute force over every output index.
    static func referencePermute(_ x: Tensor, _ axes: [Int]) -> [Float] {
        let outShape = axes.map { x.shape[$0] }
        var inputStrides = [Int](repeating: 1, count: x.rank)
        for i in stride(from: x.rank - 2, through: 0, by: -1) { inputStrides[i] = inputStrides[i + 1] * x.shape[i + 1] }
        return (0..<x.count).map { flat in
            var remaining = flat, offset = 0
            for axis in stride(from: outShape.count - 1, through: 0, by: -1) {
                offset += (remaining % outShape[axis]) * inputStrides[axes[axis]]
                remaining /= outShape[axis]
            }
            return x.scalars[offset]
        }
    }

    @Test func permutedMatchesBruteForce() {
        var generator = SplitMix64(seed: 31)
        let cases: [([Int], [Int])] = [
            ([2, 3, 4], [0, 2, 1]), ([2, 3, 4], [2, 1, 0]), ([5, 7], [1, 0]), ([70, 45], [1, 0]),
            ([2, 9, 4, 8], [0, 2, 1, 3]), ([3, 1, 5, 2], [3, 1, 0, 2]), ([1, 1], [1, 0]), ([4], [0]),
            ([2, 33, 65], [0, 2, 1]), ([2, 3, 4, 5, 6], [4, 0, 3, 1, 2]), ([6, 1, 40, 3], [0, 3, 2, 1]),
        ]
        for (shape, axes) in cases {
            let x = Tensor.random(shape, using: &generator)
            let y = x.permuted(axes)
            #expect(y.shape == axes.map { shape[$0] })
            #expect(y.scalars == Self.referencePermute(x, axes), "\(shape) permuted \(axes)")
        }
        let m = Tensor.random([3, 17, 40], using: &generator)
        #expect(m.transposed().scalars == Self.referencePermute(m, [0, 2, 1]))
        #expect(m.transposed().transposed() == m)
    }

    @Test func sliceAndConcatenateInvertEachOther() {
        var generator = SplitMix64(seed: 32)
        let x = Tensor.random([3, 5, 7], using: &generator)
        for axis in 0..<3 {
            let n = x.shape[axis]
            let parts = [0..<1, 1..<(n - 2), (n - 2)..<(n - 2), (n - 2)..<n].map { x.slice(axis: axis, range: $0) }
            #expect(Tensor.concatenate(parts, axis: axis) == x)
            #expect(Tensor.concatenate(parts, axis: axis - 3) == x)
        }
        let middle = x.slice(axis: 1, range: 2..<4)
        #expect(middle.shape == [3, 2, 7])
        #expect(middle.scalars[7 * 1 + 3] == x.scalars[3 * 7 + 3])
        #expect(Tensor.concatenate([x], axis: 2) == x)
    }

    @Test func meanMatchesLoop() {
        var generator = SplitMix64(seed: 33)
        let x = Tensor.random([4, 6, 37], using: &generator)
        for axis in 0..<3 {
            let y = x.mean(axis: axis)
            var shape = x.shape
            let n = shape.remove(at: axis)
            #expect(y.shape == shape)
            var expected = [Double](repeating: 0, count: y.count)
            for i in 0..<4 { for j in 0..<6 { for k in 0..<37 {
                let index = [i, j, k]
                var kept = index
                kept.remove(at: axis)
                let flat = shape.count == 2 ? kept[0] * shape[1] + kept[1] : 0
                expected[flat] += Double(x.scalars[(i * 6 + j) * 37 + k]) / Double(n)
            } } }
            #expect(maxRelativeError(y.scalars, expected) <= 1e-5)
        }
        #expect(x.mean(axis: -1) == x.mean(axis: 2))
    }

    @Test func l2NormalizedRowsHaveUnitNorm() {
        var generator = SplitMix64(seed: 34)
        let x = Tensor.random([5, 77], using: &generator)
        let y = x.l2Normalized()
        for row in 0..<5 {
            let values = x.scalars[(row * 77)..<((row + 1) * 77)].map(Double.init)
            let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(maxRelativeError(Array(y.scalars[(row * 77)..<((row + 1) * 77)]), values.map { $0 / norm }) <= 1e-6)
        }
        #expect(Tensor(shape: [2, 3]).l2Normalized().scalars == [0, 0, 0, 0, 0, 0])
    }

    @Test func scaledByInverseNormBackwardMatchesCentralDifferences() {
        var generator = SplitMix64(seed: 36)
        let (rows, width, scale, epsilon) = (4, 37, 100.0, 1e-7)
        let x = Tensor.random([rows, width], using: &generator)
        let upstream = Tensor.random([rows, width], using: &generator)
        let gradient = x.scaledByInverseNormBackward(upstream, scale: Float(scale), epsilon: Float(epsilon))
        // Σ upstream · s·x/(‖x‖+ε) in Double, differentiated one element at a time.
        func objective(_ values: [Double], row: Int) -> Double {
            let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return zip(values, upstream.scalars[(row * width)..<((row + 1) * width)]).reduce(0) {
                $0 + Double($1.1) * scale * $1.0 / (norm + epsilon)
            }
        }
        var expected: [Double] = []
        for row in 0..<rows {
            let values = x.scalars[(row * width)..<((row + 1) * width)].map(Double.init)
            for j in 0..<width {
                var plus = values, minus = values
                plus[j] += 1e-6
                minus[j] -= 1e-6
                expected.append((objective(plus, row: row) - objective(minus, row: row)) / 2e-6)
            }
        }
        #expect(maxRelativeError(gradient.scalars, expected, floor: 1) <= 1e-4)
        // A zero row: only the direct term, s/ε·dy.
        let zero = Tensor(shape: [1, 3]).scaledByInverseNormBackward(Tensor(shape: [1, 3], scalars: [1, -2, 0]), scale: 2, epsilon: 0.5)
        #expect(zero.scalars == [4, -8, 0])
    }

    @Test func elementwiseMatchesLoop() {
        var generator = SplitMix64(seed: 35)
        for shape in [[1], [7], [3, 33], [200_001]] {
            let a = Tensor.random(shape, using: &generator), b = Tensor.random(shape, using: &generator)
            #expect((a + b).scalars == zip(a.scalars, b.scalars).map(+))
            #expect((a - b).scalars == zip(a.scalars, b.scalars).map(-))
            #expect((a * b).scalars == zip(a.scalars, b.scalars).map(*))
            #expect((a + 2).scalars == a.scalars.map { $0 + 2 })
            #expect((a - 2).scalars == a.scalars.map { $0 - 2 })
            #expect((3 * a).scalars == a.scalars.map { $0 * 3 })
            #expect((1 - a).scalars == a.scalars.map { 1 - $0 })
            var c = a
            c += b
            #expect(c == a + b)
            var d = a
            let shared = d
            d.addInPlace(b)
            #expect(d == a + b && shared == a)  // copy-on-write keeps the other value intact
        }
        let x = Tensor.random([3, 4, 5], using: &generator), v = Tensor.random([5], using: &generator)
        #expect(x.adding(rowVector: v).scalars == x.scalars.enumerated().map { $0.element + v.scalars[$0.offset % 5] })
    }

    @Test func softmaxMatchesLoopAndHandlesMasks() {
        var generator = SplitMix64(seed: 36)
        for shape in [[1, 1], [3, 7], [2, 5, 64], [4, 1000], [2, 17]] {
            let x = Tensor.random(shape, in: -30...30, using: &generator)
            let width = shape.last!
            var expected = [Double]()
            for row in 0..<(x.count / width) {
                let values = x.scalars[(row * width)..<((row + 1) * width)].map(Double.init)
                let m = values.max()!
                let e = values.map { exp($0 - m) }
                let s = e.reduce(0, +)
                expected += e.map { $0 / s }
            }
            #expect(maxRelativeError(x.softmax().scalars, expected, floor: 1e-30) <= 1e-5)
        }
        let masked = Tensor(shape: [3, 3], scalars: [0, -.infinity, 0, -.infinity, -.infinity, -.infinity, 1, 1, .nan]).softmax()
        #expect(masked.scalars[0..<6] == [0.5, 0, 0.5, 0, 0, 0])
        #expect(masked.scalars[6...].allSatisfy { $0.isNaN })
    }

    @Test func interpolationMatchesDirectFormula() {
        // A 2-D evaluation straight from PyTorch's formulas, on random odd sizes.
        var generator = SplitMix64(seed: 37)
        for (h, w, oh, ow) in [(5, 8, 11, 3), (1, 4, 2, 9), (9, 9, 9, 9), (12, 7, 5, 20)] {
            let x = Tensor.random([2, h, w], using: &generator)
            for mode in [InterpolationMode.bilinear, .bicubic] {
                let rows = ResamplingTaps(input: h, output: oh, mode: mode), columns = ResamplingTaps(input: w, output: ow, mode: mode)
                var expected = [Double]()
                for c in 0..<2 { for i in 0..<oh { for j in 0..<ow {
                    var sum = 0.0
                    for a in 0..<rows.taps { for b in 0..<columns.taps {
                        sum += Double(rows.weights[i * rows.taps + a]) * Double(columns.weights[j * columns.taps + b])
                            * Double(x.scalars[(c * h + rows.indices[i * rows.taps + a]) * w + columns.indices[j * columns.taps + b]])
                    } }
                    expected.append(sum)
                } } }
                #expect(maxRelativeError(x.interpolated(height: oh, width: ow, mode: mode).scalars, expected) <= 1e-5)
                // Taps sum to one, so constants stay constant.
                for taps in [rows, columns] {
                    for o in 0..<(taps.weights.count / taps.taps) {
                        #expect(abs(taps.weights[(o * taps.taps)..<((o + 1) * taps.taps)].reduce(0, +) - 1) < 1e-6)
                    }
                }
            }
        }
    }
}
