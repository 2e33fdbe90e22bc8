import Foundation
import Layers
import Tensors

/// `torch.optim.AdamW` (decoupled weight decay, no amsgrad), as RegionSpot's train_net.py builds
/// it: every parameter in one group with the same weight decay, biases and norms included.
/// Each element's update follows PyTorch's single-tensor path operation for operation, with the
/// step's scalars (bias corrections, step size) computed in Double as Python computes them.
public struct AdamW: Sendable {
    public struct Options: Sendable, Codable, Equatable {
        public var beta1: Double
        public var beta2: Double
        public var epsilon: Double
        public var weightDecay: Double

        /// RegionSpot's: PyTorch's betas and eps, SOLVER.WEIGHT_DECAY 1e-4 (configs/Base-RegionSpot.yaml).
        public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 1e-4) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }

        public func validate() throws {
            guard (0..<1).contains(beta1), (0..<1).contains(beta2) else {
                throw TrainingError.badOption("AdamW betas must lie in [0, 1), got \(beta1), \(beta2)")
            }
            guard epsilon > 0, weightDecay >= 0 else {
                throw TrainingError.badOption("AdamW needs eps > 0 and weight decay ≥ 0, got \(epsilon), \(weightDecay)")
            }
        }
    }

    /// One parameter's running averages (PyTorch's `exp_avg`, `exp_avg_sq`).
    public struct Moments: Sendable, Equatable {
        public var first: Tensor
        public var second: Tensor

        public init(first: Tensor, second: Tensor) {
            self.first = first
            self.second = second
        }
    }

    public let options: Options
    /// Updates taken so far (PyTorch's `state['step']`).
    public private(set) var steps: Int
    /// Per parameter key, created as zeros at the first update.
    public private(set) var moments: [String: Moments]

    /// A fresh optimizer, or (with `steps` and `moments`) one restored from a checkpoint.
    public init(options: Options = Options(), steps: Int = 0, moments: [String: Moments] = [:]) throws {
        try options.validate()
        self.options = options
        self.steps = steps
        self.moments = moments
    }

    /// Updates every parameter of `model` with the tensor of `gradients` (a model of the same
    /// structure holding gradients) under the same key, at `learningRate`, each gradient
    /// multiplied by `gradientScale` first (the clipping coefficient).
    public mutating func step<Model: ParameterizedLayer>(_ model: inout Model, gradients: Model, learningRate: Double,
                                                         gradientScale: Float = 1) {
        let gradientList = gradients.parameters()
        steps += 1
        let scalars = StepScalars(options: options, learningRate: learningRate, step: steps, gradientScale: gradientScale)
        var index = 0
        model.updateParameters(prefix: "") { key, parameter in
            let (gradientKey, gradient) = gradientList[index]
            index += 1
            precondition(gradientKey == key && gradient.shape == parameter.shape,
                         "AdamW: gradient \(gradientKey) \(gradient.shape) for parameter \(key) \(parameter.shape)")
            var state = moments.removeValue(forKey: key) ?? Moments(first: Tensor(shape: parameter.shape), second: Tensor(shape: parameter.shape))
            Self.update(&parameter, gradient: gradient, moments: &state, scalars)
            moments[key] = state
        }
        precondition(index == gradientList.count, "AdamW: \(gradientList.count) gradients for \(index) parameters")
    }

    /// What one step applies to every element, as Float (PyTorch passes its Python scalars to
    /// float32 kernels).
    struct StepScalars {
        let gradientScale: Float, decay: Float, firstWeight: Float, beta2: Float, secondWeight: Float
        let biasCorrection2Root: Float, epsilon: Float, negativeStepSize: Float

        init(options: Options, learningRate: Double, step: Int, gradientScale: Float) {
            self.gradientScale = gradientScale
            decay = Float(1 - learningRate * options.weightDecay)
            firstWeight = Float(1 - options.beta1)
            beta2 = Float(options.beta2)
            secondWeight = Float(1 - options.beta2)
            let biasCorrection1 = 1 - Foundation.pow(options.beta1, Double(step))
            biasCorrection2Root = Float((1 - Foundation.pow(options.beta2, Double(step))).squareRoot())
            epsilon = Float(options.epsilon)
            negativeStepSize = Float(-(learningRate / biasCorrection1))
        }
    }

    private static func update(_ parameter: inout Tensor, gradient: Tensor, moments: inout Moments, _ s: StepScalars) {
        let count = parameter.count
        parameter.withUnsafeMutableBufferPointer { p in
            moments.first.withUnsafeMutableBufferPointer { m in
                moments.second.withUnsafeMutableBufferPointer { v in
                    gradient.withUnsafeBufferPointer { g in
                        let (p, m, v, g) = (p.baseAddress!, m.baseAddress!, v.baseAddress!, g.baseAddress!)
                        Parallel.forEachChunk(count, minimumPerChunk: 1 << 15) { range in
                            // 16 lanes at a time (the compiler does not vectorise through four
                            // pointers); the tail goes through zero-padded copies.
                            var i = range.lowerBound
                            while i + 16 <= range.upperBound {
                                update(p + i, m + i, v + i, g + i, s)
                                i += 16
                            }
                            let tail = range.upperBound - i
                            guard tail > 0 else { return }
                            withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { buffer in
                                let b = buffer.baseAddress!
                                b.initialize(repeating: 0, count: 64)
                                for (lane, source) in [p, m, v, UnsafeMutablePointer(mutating: g)].enumerated() {
                                    (b + 16 * lane).update(from: source + i, count: tail)
                                }
                                update(b, b + 16, b + 32, b + 48, s)
                                for (lane, target) in [p, m, v].enumerated() { (target + i).update(from: b + 16 * lane, count: tail) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Sixteen elements: the gradient's scale, decay, exp_avg.lerp_(grad, 1 − β1) in PyTorch's two-branch form
    /// (the same branch for every element), exp_avg_sq, and the step.
    @inline(__always)
    private static func update(_ p: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                               _ v: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ s: StepScalars) {
        typealias V = SIMD16<Float>
        let gradient = UnsafeRawPointer(g).loadUnaligned(as: V.self) * s.gradientScale
        var first = UnsafeRawPointer(m).loadUnaligned(as: V.self)
        first = s.firstWeight < 0.5 ? first + s.firstWeight * (gradient - first) : gradient - (gradient - first) * (1 - s.firstWeight)
        var second = UnsafeRawPointer(v).loadUnaligned(as: V.self)
        second = second * s.beta2 + s.secondWeight * gradient * gradient
        let denominator = second.squareRoot() / s.biasCorrection2Root + s.epsilon
        var value = UnsafeRawPointer(p).loadUnaligned(as: V.self) * s.decay
        value += s.negativeStepSize * (first / denominator)
        UnsafeMutableRawPointer(p).storeBytes(of: value, as: V.self)
        UnsafeMutableRawPointer(m).storeBytes(of: first, as: V.self)
        UnsafeMutableRawPointer(v).storeBytes(of: second, as: V.self)
    }
}
