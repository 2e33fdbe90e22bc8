import Testing
import Layers
import RegionSpot
import Tensors
import TestSupport
@testable import Training

/// The whole fusion module's backward (decoder, projector, to_clip, cosine logits, loss) against
/// central differences of its own training forward, with dropout on and both paddings: every
/// forward redraws the same masks from the same generator state.
struct ModuleGradientTests {
    @Test(arguments: [(RegionPadding.repeating, RegionLoss.sigmoidFocal()), (.masked, .softmaxCrossEntropy)])
    func moduleGradientMatchesCentralDifferences(padding: RegionPadding, loss: RegionLoss) throws {
        let reference = try TrainingParityTests.Reference()
        var options = TrainingOptions()
        options.loss = loss
        options.padding = padding
        // A smaller logit scale than CLIP's 100 keeps the loss smooth over a Float step of 1e-3;
        // the error left is the Float forwards' rounding (wrong gradients are off by order 1).
        let logitScale: Float = 10
        func lossAndGradients(_ model: RegionSpotModel) throws -> (Double, RegionSpotModel) {
            var trainer = try FusionTrainer(model: model, options: options, seed: 7)
            return try trainer.lossAndGradients(reference.batch, classEmbeddings: reference.classEmbeddings, logitScale: logitScale)
        }
        let (_, gradients) = try lossAndGradients(reference.model)
        var check = GradientCheck(step: 1e-3)
        var failure: Error?
        let error = check.parameterError(reference.model, gradients: gradients) { model in
            do { return Float(try lossAndGradients(model).0) } catch { failure = error; return .nan }
        }
        if let failure { throw failure }
        #expect(error < 1e-2, "\(padding), \(loss)")
        print("whole module, \(padding) padding, \(loss): worst directional-derivative error \(error) over \(gradients.parameters().count) parameters")
    }
}
