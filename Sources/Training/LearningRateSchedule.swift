import Foundation

/// detectron2's `WarmupMultiStepLR` (solver/build.py `build_lr_scheduler` through fvcore's
/// param schedulers and `LRMultiplier`), which RegionSpot trains with: a linear warm-up from
/// `warmupFactor`× over `warmupIterations`, then ×`gamma` at each milestone. Evaluated as
/// detectron2 does, on where = iteration / maxIterations with fvcore's 1e-6 tolerance at the
/// boundaries, so every iteration gets the reference's rate.
public struct WarmupMultiStepSchedule: Sendable, Codable, Equatable {
    public var baseLearningRate: Double
    public var warmupFactor: Double
    public var warmupIterations: Int
    public var milestones: [Int]
    public var gamma: Double
    public var maxIterations: Int

    /// RegionSpot's (configs/Base-RegionSpot.yaml, objects365_v3det_openimages_bl.yaml).
    public init(baseLearningRate: Double = 2.5e-5, warmupFactor: Double = 0.01, warmupIterations: Int = 1000,
                milestones: [Int] = [350_000, 420_000], gamma: Double = 0.1, maxIterations: Int = 450_000) {
        self.baseLearningRate = baseLearningRate
        self.warmupFactor = warmupFactor
        self.warmupIterations = warmupIterations
        self.milestones = milestones
        self.gamma = gamma
        self.maxIterations = maxIterations
    }

    public func validate() throws {
        guard maxIterations > 0, warmupIterations >= 0, baseLearningRate > 0 else {
            throw TrainingError.badOption("schedule needs max iterations > 0, warm-up ≥ 0 and a learning rate > 0, got "
                                          + "\(maxIterations), \(warmupIterations), \(baseLearningRate)")
        }
        guard zip(milestones, milestones.dropFirst()).allSatisfy({ $0 < $1 }), milestones.allSatisfy({ 0 < $0 && $0 < maxIterations }) else {
            throw TrainingError.badOption("milestones \(milestones) must increase and lie strictly between 0 and \(maxIterations) iterations")
        }
    }

    /// The rate for `iteration` (0-based: the first update uses iteration 0).
    public func learningRate(at iteration: Int) -> Double {
        let epsilon = 1e-6  // fvcore's WHERE_EPSILON
        let maxIterations = Double(self.maxIterations)
        func stepMultiplier(_ where: Double) -> Double {  // MultiStepParamScheduler
            let epoch = Int((`where` + epsilon) * maxIterations)
            return Foundation.pow(gamma, Double(milestones.filter { $0 <= epoch }.count))
        }
        let position = Double(iteration) / maxIterations
        let warmupLength = min(Double(warmupIterations) / maxIterations, 1)
        // CompositeParamScheduler: the warm-up ("rescaled") until where reaches its length.
        guard position + epsilon <= warmupLength else { return baseLearningRate * stepMultiplier(position) }
        let start = warmupFactor * stepMultiplier(0), end = stepMultiplier(warmupLength)
        let fraction = position / warmupLength
        return baseLearningRate * (end * fraction + start * (1 - fraction))
    }
}
