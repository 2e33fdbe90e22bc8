import Layers
import Tensors

/// Central-difference checks of a backward pass along random directions: for each parameter
/// (and the input), ⟨gradient, u⟩ against (f(θ + h·u) − f(θ − h·u)) / 2h, where f is a scalar
/// function of the layer (a loss, or Σ upstream ⊙ output for a fixed random upstream). The
/// forwards run in Float, so h is not tiny and errors are relative to the derivative's size.
public struct GradientCheck {
    public let step: Float
    var generator = SplitMix64(seed: 91)

    public init(step: Float = 1e-2) { self.step = step }

    /// The worst |numeric − analytic| / max(|analytic|, 1) over the layer's parameters.
    public mutating func parameterError<Layer: ParameterizedLayer>(_ layer: Layer, gradients: Layer, _ f: (Layer) -> Float) -> Float {
        var worst: Float = 0
        for (key, gradient) in gradients.parameters() {
            let direction = sparseDirection(gradient.shape)
            func moved(_ sign: Float) -> Layer {
                var copy = layer
                copy.updateParameters(prefix: "") { name, tensor in
                    if name == key { tensor = tensor + direction * (sign * step) }
                }
                return copy
            }
            let numeric = (f(moved(1)) - f(moved(-1))) / (2 * step)
            let analytic = (gradient * direction).scalars.reduce(0, +)
            worst = max(worst, abs(numeric - analytic) / max(abs(analytic), 1))
        }
        return worst
    }

    /// The same for the input x.
    public mutating func inputError(_ x: Tensor, gradient: Tensor, _ f: (Tensor) -> Float) -> Float {
        let direction = sparseDirection(x.shape)
        let numeric = (f(x + direction * step) - f(x - direction * step)) / (2 * step)
        let analytic = (gradient * direction).scalars.reduce(0, +)
        return abs(numeric - analytic) / max(abs(analytic), 1)
    }

    /// Random values in [−1, 1] at up to 16 random positions, zero elsewhere: a step along it
    /// moves few ReLUs across their kink, whose crossings a dense step of a large tensor piles up.
    mutating func sparseDirection(_ shape: [Int]) -> Tensor {
        var direction = Tensor(shape: shape)
        for _ in 0..<min(16, direction.count) {
            direction.scalars[Int.random(in: 0..<direction.count, using: &generator)] = Float.random(in: -1...1, using: &generator)
        }
        return direction
    }
}

/// Σ upstream ⊙ output, accumulated in Double.
public func weightedSum(_ output: Tensor, _ upstream: Tensor) -> Float {
    Float(zip(output.scalars, upstream.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) })
}
