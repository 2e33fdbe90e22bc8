import Foundation
import Testing
import Layers
import Tensors
@testable import Training

/// Two free tensors as a model, so the optimizer can be checked without any layer.
struct TwoTensors: ParameterizedLayer {
    var first: Tensor
    var second: Tensor

    mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        try body(parameterKey(prefix, "0"), &first)
        try body(parameterKey(prefix, "1"), &second)
    }
}

struct OptimizerTests {
    static func scheduleSettings(_ settings: Any?) throws -> WarmupMultiStepSchedule {
        let s = try #require(settings as? [String: Any], "schedule settings")
        func number(_ key: String) throws -> NSNumber { try #require(s[key] as? NSNumber, "schedule setting \(key)") }
        return WarmupMultiStepSchedule(
            baseLearningRate: try number("base_lr").doubleValue, warmupFactor: try number("warmup_factor").doubleValue,
            warmupIterations: try number("warmup_iters").intValue, milestones: try #require(s["milestones"] as? [Int]),
            gamma: try number("gamma").doubleValue, maxIterations: try number("max_iter").intValue)
    }

    /// AdamW with weight decay 0.1, clipping on four of six steps, warm-up and a milestone,
    /// against torch.optim.AdamW, clip_grad_norm_ and detectron2's schedule.
    @Test func adamWWithClippingAndScheduleMatchesTorch() throws {
        let file = try Fixtures.file("training_adamw")
        let settings = try Fixtures.settings(file)
        let schedule = try Self.scheduleSettings(settings["schedule"])
        try schedule.validate()
        var model = TwoTensors(first: try file.tensor(named: "initial.0"), second: try file.tensor(named: "initial.1"))
        var optimizer = try AdamW(options: AdamW.Options(weightDecay: 0.1))
        var worst: Float = 0
        for step in 0..<6 {
            let rate = schedule.learningRate(at: step)
            let expectedRate = Double(try file.tensor(named: "lr.\(step)").scalars[0])
            #expect(abs(rate - expectedRate) <= 1e-7 * expectedRate, "step \(step): lr \(rate) vs \(expectedRate)")
            let gradients = TwoTensors(first: try file.tensor(named: "grad.\(step).0"), second: try file.tensor(named: "grad.\(step).1"))
            let norm = GradientClipping.globalNorm(gradients)
            let expectedNorm = Double(try file.tensor(named: "norm.\(step)").scalars[0])
            #expect(abs(norm - expectedNorm) <= 1e-6 * expectedNorm, "step \(step): norm \(norm) vs \(expectedNorm)")
            optimizer.step(&model, gradients: gradients, learningRate: rate,
                           gradientScale: GradientClipping.coefficient(norm: norm, maxNorm: 1))
            let difference = max(maxDifference(model.first.scalars, try file.tensor(named: "after.\(step).0").scalars),
                                 maxDifference(model.second.scalars, try file.tensor(named: "after.\(step).1").scalars))
            #expect(difference < 1e-6, "step \(step)")
            worst = max(worst, difference)
        }
        #expect(optimizer.steps == 6 && optimizer.moments.keys.sorted() == ["0", "1"])
        print("AdamW vs torch over 6 steps: max |Δ weight| \(worst)")
    }

    @Test func tenStepScheduleMatchesTorch() throws {
        let settings = try Fixtures.settings(try Fixtures.file("training_batch"))
        let schedule = try Self.scheduleSettings(settings["ten_steps"])
        let expected = try Fixtures.file("training_focal").tensor(named: "ten_learning_rates").scalars
        for (i, rate) in expected.enumerated() {
            #expect(abs(schedule.learningRate(at: i) - Double(rate)) <= 1e-7 * Double(rate), "iteration \(i)")
        }
    }

    @Test func referenceScheduleWarmsUpThenSteps() throws {
        let schedule = WarmupMultiStepSchedule()
        try schedule.validate()
        for (iteration, rate) in [(0, 2.5e-7), (500, 2.5e-5 * (0.01 + 0.99 * 0.5)), (999, 2.5e-5 * (0.01 + 0.99 * 0.999)),
                                  (1000, 2.5e-5), (349_999, 2.5e-5), (350_000, 2.5e-6), (420_000, 2.5e-7), (449_999, 2.5e-7)] {
            #expect(abs(schedule.learningRate(at: iteration) - rate) <= 1e-12 * rate, "iteration \(iteration)")
        }
        #expect(throws: TrainingError.self) { try WarmupMultiStepSchedule(milestones: [5, 3], maxIterations: 10).validate() }
        #expect(throws: TrainingError.self) { try WarmupMultiStepSchedule(milestones: [10], maxIterations: 10).validate() }
    }

    @Test func clippingLeavesSmallGradientsAlone() {
        let small = TwoTensors(first: Tensor(shape: [2], scalars: [0.3, 0.4]), second: Tensor(shape: [1], scalars: [0]))
        let smallNorm = GradientClipping.globalNorm(small)
        #expect(abs(smallNorm - 0.5) < 1e-7)
        #expect(GradientClipping.coefficient(norm: smallNorm, maxNorm: 1) == 1)
        let large = TwoTensors(first: Tensor(shape: [2], scalars: [3, 4]), second: Tensor(shape: [1], scalars: [0]))
        #expect(GradientClipping.globalNorm(large) == 5)
        #expect(abs(GradientClipping.coefficient(norm: 5, maxNorm: 1) - 0.2) < 1e-7)
    }

    @Test func badOptionsAreRejected() {
        #expect(throws: TrainingError.self) { try AdamW(options: AdamW.Options(beta1: 1)) }
        #expect(throws: TrainingError.self) { try AdamW(options: AdamW.Options(epsilon: 0)) }
    }
}
