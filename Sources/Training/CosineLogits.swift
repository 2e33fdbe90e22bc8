import RegionSpot
import Tensors

/// The backward of RegionSpot's `get_logits` (`RegionSpotModel.logits`),
/// logits = s · x/(‖x‖ + 1e-7) @ Cᵀ, with the class embeddings C frozen and the logit scale s
/// fixed (CLIP's, not trained): only the region features get a gradient.
public enum CosineLogits {
    /// dL/d(region features) [N, E] from dL/d(logits) [N, C]; class embeddings [C, E].
    public static func backward(regionFeatures: Tensor, classEmbeddings: Tensor, logitScale: Float, logitGradient: Tensor) -> Tensor {
        precondition(logitGradient.rank == 2 && logitGradient.dim(0) == regionFeatures.dim(0) && logitGradient.dim(1) == classEmbeddings.dim(0),
                     "CosineLogits.backward: gradient \(logitGradient.shape) for \(regionFeatures.shape) regions × \(classEmbeddings.shape) classes")
        let scaledGradient = logitGradient.matmul(classEmbeddings)  // [N, E]: the gradient of s·x/(‖x‖+ε)
        return regionFeatures.scaledByInverseNormBackward(scaledGradient, scale: logitScale, epsilon: RegionSpotModel.logitNormEpsilon)
    }
}
