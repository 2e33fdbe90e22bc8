import Tensors

// How far a result is from its reference, for the test targets' tolerances. Tensors of
// different shapes are infinitely far apart, and a NaN anywhere makes the distance NaN, so a
// comparison `<= tolerance` fails in both cases.

/// The largest |a − b| over all elements.
public func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    var largest: Float = 0
    for (x, y) in zip(a.scalars, b.scalars) {
        let difference = abs(x - y)
        if difference.isNaN { return .nan }
        largest = max(largest, difference)
    }
    return largest
}

/// `maxDifference` relative to the reference's largest magnitude (the output's scale).
public func relativeError(_ a: Tensor, _ reference: Tensor) -> Float {
    let scale = reference.scalars.reduce(0) { max($0, abs($1)) }
    return maxDifference(a, reference) / max(scale, 1e-12)
}
