import Foundation
@testable import Tensors

/// Plain double-precision loops the fast kernels are checked against.
enum Reference {
    static func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> [Double] {
        let k = x.dim(-1), n = w.dim(0), rows = x.count / max(1, k)
        var y = [Double](repeating: 0, count: rows * n)
        for r in 0..<rows { for o in 0..<n {
            var s = Double(b?.scalars[o] ?? 0)
            for i in 0..<k { s += Double(x.scalars[r * k + i]) * Double(w.scalars[o * k + i]) }
            y[r * n + o] = s
        } }
        return y
    }

    static func layerNorm(_ x: Tensor, _ w: Tensor?, _ b: Tensor?, eps: Double) -> [Double] {
        let n = x.dim(-1), rows = x.count / max(1, n)
        var y = [Double](repeating: 0, count: x.count)
        for r in 0..<rows {
            let row = (0..<n).map { Double(x.scalars[r * n + $0]) }
            let mean = row.reduce(0, +) / Double(n)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
            for i in 0..<n {
                y[r * n + i] = (row[i] - mean) / (variance + eps).squareRoot() * Double(w?.scalars[i] ?? 1) + Double(b?.scalars[i] ?? 0)
            }
        }
        return y
    }

    static func layerNorm2d(_ x: Tensor, _ w: Tensor?, _ b: Tensor?, eps: Double) -> [Double] {
        let c = x.dim(-3), plane = x.dim(-2) * x.dim(-1), batch = x.count / max(1, c * plane)
        var y = [Double](repeating: 0, count: x.count)
        for n in 0..<batch { for p in 0..<plane {
            let column = (0..<c).map { Double(x.scalars[(n * c + $0) * plane + p]) }
            let mean = column.reduce(0, +) / Double(c)
            let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
            for k in 0..<c {
                y[(n * c + k) * plane + p] = (column[k] - mean) / (variance + eps).squareRoot() * Double(w?.scalars[k] ?? 1) + Double(b?.scalars[k] ?? 0)
            }
        } }
        return y
    }

    static func gelu(_ x: Float) -> Double { let d = Double(x); return d * 0.5 * erfc(-d / 2.0.squareRoot()) }
    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
    /// The argument 1.702·x is rounded to float, as PyTorch (and our kernel) computes it.
    static func quickGelu(_ x: Float) -> Double { Double(x) * sigmoid(Double(Float(1.702) * x)) }

    static func conv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: Int, padding: Int, groups: Int) -> (shape: [Int], values: [Double]) {
        let batch = x.rank == 4 ? x.dim(0) : 1
        let c = x.dim(-3), h = x.dim(-2), wd = x.dim(-1)
        let o = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3), og = o / groups
        let oh = (h + 2 * padding - kh) / stride + 1, ow = (wd + 2 * padding - kw) / stride + 1
        var y = [Double](repeating: 0, count: batch * o * oh * ow)
        for n in 0..<batch { for oc in 0..<o { for oy in 0..<oh { for ox in 0..<ow {
            var s = Double(b?.scalars[oc] ?? 0)
            let g = oc / og
            for ci in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                s += Double(x.scalars[((n * c + g * cg + ci) * h + iy) * wd + ix]) * Double(w.scalars[((oc * cg + ci) * kh + ky) * kw + kx])
            } } }
            y[((n * o + oc) * oh + oy) * ow + ox] = s
        } } } }
        return ((x.rank == 4 ? [batch] : []) + [o, oh, ow], y)
    }

    static func convTranspose2x2(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> [Double] {
        let batch = x.rank == 4 ? x.dim(0) : 1
        let c = x.dim(-3), h = x.dim(-2), wd = x.dim(-1), o = w.dim(1)
        var y = [Double](repeating: 0, count: batch * o * 4 * h * wd)
        for n in 0..<batch { for oc in 0..<o { for oy in 0..<(2 * h) { for ox in 0..<(2 * wd) {
            var s = Double(b?.scalars[oc] ?? 0)
            for ci in 0..<c {
                s += Double(x.scalars[((n * c + ci) * h + oy / 2) * wd + ox / 2]) * Double(w.scalars[((ci * o + oc) * 2 + oy % 2) * 2 + ox % 2])
            }
            y[((n * o + oc) * 2 * h + oy) * 2 * wd + ox] = s
        } } } }
        return y
    }
}

/// Largest |actual − expected| / max(|expected|, floor) over all elements.
func maxRelativeError(_ actual: [Float], _ expected: [Double], floor: Double = 1) -> Double {
    precondition(actual.count == expected.count, "compared arrays differ in length: \(actual.count) vs \(expected.count)")
    var worst = 0.0
    for (a, e) in zip(actual, expected) {
        let error = abs(Double(a) - e) / max(abs(e), floor)
        if !(error <= worst) { worst = error.isNaN ? .infinity : error }
    }
    return worst
}

func maxRelativeError(_ actual: [Float], _ expected: [Float], floor: Double = 1) -> Double {
    maxRelativeError(actual, expected.map(Double.init), floor: floor)
}
