import Foundation

/// Softmax cross-entropy of one row: ℓ = logsumexp(x) − x[label], dℓ/dx = softmax(x) − onehot(label).
enum SoftmaxCrossEntropy {
    /// ℓ of one row (returned), and weight · dℓ/dx into `gradient`.
    static func row(_ x: UnsafePointer<Float>, classes: Int, label: Int, weight: Float,
                    gradient: UnsafeMutablePointer<Float>) -> Double {
        var maximum = -Float.infinity
        for c in 0..<classes { maximum = max(maximum, x[c]) }
        var total = 0.0
        for c in 0..<classes {
            let e = Foundation.exp(x[c] - maximum)
            gradient[c] = e
            total += Double(e)
        }
        let logSumExp = Double(maximum) + Foundation.log(total)
        let scale = weight / Float(total)
        for c in 0..<classes { gradient[c] *= scale }
        gradient[label] -= weight
        return logSumExp - Double(x[label])
    }
}
