import Foundation

/// RegionSpot's sigmoid focal loss per class, and its derivative, computed from the logit in a
/// form that stays finite for large |x| (logits reach ±logit_scale = ±100): with p = σ(x),
/// q = 1 − p = σ(−x), −log p = softplus(−x) and −log q = softplus(x),
///   target:     ℓ = α·q^γ·softplus(−x),      dℓ/dx = −α·q^γ·(γ·p·softplus(−x) + q)
///   non-target: ℓ = (1−α)·p^γ·softplus(x),   dℓ/dx = (1−α)·p^γ·(γ·q·softplus(x) + p)
enum SigmoidFocalLoss {
    /// Σ_c ℓ of one row (returned), and weight · dℓ/dx into `gradient`.
    static func row(_ x: UnsafePointer<Float>, classes: Int, label: Int, weight: Float, alpha: Float, gamma: Float,
                    gradient: UnsafeMutablePointer<Float>) -> Double {
        let (targetWeight, otherWeight) = alpha >= 0 ? (alpha, 1 - alpha) : (Float(1), Float(1))
        var sum = 0.0
        for c in 0..<classes {
            let v = x[c]
            let e = Foundation.exp(-abs(v)), tail = log1p(e)
            let softplusOfX = max(v, 0) + tail, softplusOfMinusX = max(-v, 0) + tail
            let p = v >= 0 ? 1 / (1 + e) : e / (1 + e)
            let q = v >= 0 ? e / (1 + e) : 1 / (1 + e)
            if c == label {
                let modulation = power(q, gamma)
                sum += Double(targetWeight * modulation * softplusOfMinusX)
                gradient[c] = -weight * targetWeight * modulation * (gamma * p * softplusOfMinusX + q)
            } else {
                let modulation = power(p, gamma)
                sum += Double(otherWeight * modulation * softplusOfX)
                gradient[c] = weight * otherWeight * modulation * (gamma * q * softplusOfX + p)
            }
        }
        return sum
    }

    @inline(__always)
    private static func power(_ base: Float, _ exponent: Float) -> Float {
        exponent == 2 ? base * base : Foundation.pow(base, exponent)
    }
}
