import ArgumentParser
import Foundation
import RegionSpot
import Tensors
import Training

extension RegionLoss: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument {
        case "focal": self = .sigmoidFocal()
        case "cross-entropy": self = .softmaxCrossEntropy
        default: return nil
        }
    }
    public static var allValueStrings: [String] { ["focal", "cross-entropy"] }
    public var defaultValueDescription: String { self == .softmaxCrossEntropy ? "cross-entropy" : "focal" }
}

extension RegionPadding: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument {
        case "repeat": self = .repeating
        case "masked": self = .masked
        default: return nil
        }
    }
    public static var allValueStrings: [String] { ["repeat", "masked"] }
    public var defaultValueDescription: String { self == .repeating ? "repeat" : "masked" }
}

extension RegionSpotCommand.Train {
    /// The training run; defaults are RegionSpot's recipe (configs/Base-RegionSpot.yaml).
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Train (the default of `regionspot train`): checkpoints, exact --resume, validation, a bundle in --out.")

        @OptionGroup var data: TrainDataOptions
        @Option(help: "Output bundle directory (also holds checkpoint.safetensors).") var out: String
        @Option(help: "Iterations (SOLVER.MAX_ITER).") var steps: Int = 450_000
        @Option(help: "Images per batch (SOLVER.IMS_PER_BATCH).") var batchSize: Int = 16
        @Option(help: "Base learning rate (SOLVER.BASE_LR).") var lr: Double = 2.5e-5
        @Option(help: "Seed of the initialisation, data order and dropout.") var seed: UInt64 = 0
        @Option(help: "Write a checkpoint every N steps.") var checkpointEvery: Int = 1000
        @Option(help: "Validate every N steps (and at the end); the best AP's weights become the bundle's.") var validateEvery: Int = 5000
        @Flag(help: "Continue the run in --out from its checkpoint.") var resume = false
        @Flag(help: "Start from --model's fusion weights (fine-tuning) instead of PyTorch's default initialisation.") var initFromModel = false
        @Option(help: "focal (RegionSpot's sigmoid focal loss) or cross-entropy.") var loss: RegionLoss = .sigmoidFocal()
        @Option(help: "Focal loss alpha.") var focalAlpha: Float = 0.25
        @Option(help: "Focal loss gamma.") var focalGamma: Float = 2
        @Option(help: "repeat (RegionSpot's repeat_interleave) or masked (key padding, padding out of the loss).") var padding: RegionPadding = .repeating
        @Option(help: "Dropout in the decoder layers.") var dropout: Float = 0.1
        @Option(help: "AdamW weight decay (SOLVER.WEIGHT_DECAY).") var weightDecay: Double = 1e-4
        @Option(help: "Clip gradients by the full model's L2 norm at this value (SOLVER.CLIP_GRADIENTS.CLIP_VALUE).") var clipNorm: Double = 1
        @Option(help: "Linear warm-up iterations (SOLVER.WARMUP_ITERS).") var warmupIters: Int = 1000
        @Option(help: "Warm-up start factor (SOLVER.WARMUP_FACTOR).") var warmupFactor: Double = 0.01
        @Option(help: ArgumentHelp("Comma-separated iterations where the rate is multiplied by --gamma (SOLVER.STEPS).",
                                   discussion: "Default: 350/450 and 420/450 of --steps, RegionSpot's 350k and 420k of 450k."))
        var lrSteps: String?
        @Option(help: "Rate factor at each of --lr-steps (SOLVER.GAMMA).") var gamma: Double = 0.1

        func validate() throws {
            guard steps >= 1, batchSize >= 1, checkpointEvery >= 1, validateEvery >= 1 else {
                throw ValidationError("--steps, --batch-size, --checkpoint-every and --validate-every must be at least 1")
            }
            guard (0..<1).contains(dropout) else { throw ValidationError("--dropout must lie in [0, 1), got \(dropout)") }
            if let lrSteps, milestones(lrSteps) == nil { throw ValidationError("--lr-steps \(lrSteps): expected comma-separated iterations") }
        }

        func milestones(_ text: String) -> [Int]? {
            let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            return values.contains(nil) ? nil : values.map { $0! }
        }

        var options: TrainingOptions {
            var o = TrainingOptions()
            if case .sigmoidFocal = loss { o.loss = .sigmoidFocal(alpha: focalAlpha, gamma: focalGamma) } else { o.loss = loss }
            o.padding = padding
            o.dropout = dropout
            o.maxGradientNorm = clipNorm
            o.optimizer.weightDecay = weightDecay
            let defaultMilestones = [steps * 350 / 450, steps * 420 / 450].filter { $0 > 0 && $0 < steps }
            o.schedule = WarmupMultiStepSchedule(baseLearningRate: lr, warmupFactor: warmupFactor, warmupIterations: warmupIters,
                                                 milestones: lrSteps.flatMap(milestones) ?? Array(Set(defaultMilestones)).sorted(),
                                                 gamma: gamma, maxIterations: steps)
            return o
        }

        func run() throws {
            let output = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            let prepared = try data.prepare(splitFile: data.valSplit == nil ? nil : output.appendingPathComponent("validation.json"), seed: seed)
            let recognizer = prepared.recognizer
            let validation = try prepared.validation.map { val -> Validation in
                let bad = try prepared.cache.badImages(val.dataset)
                let kept = val.indices.filter { bad[$0] == nil }
                let features = try kept.map { try prepared.cache.features(val.dataset, image: $0, folder: val.folder, recognizer: recognizer) }
                return try Validation(dataset: TrainingDataset(val.dataset, keeping: kept), groundTruth: val.groundTruth, features: features,
                                      classEmbeddings: try prepared.cache.classEmbeddings(val.dataset.vocabulary, recognizer: recognizer),
                                      logitScale: recognizer.logitScale)
            }
            let settings = RunSettings(options: options, seed: seed, batchSize: batchSize, datasets: data.data)
            let initial = initFromModel ? recognizer.fusion : try RegionSpotModel.pytorchDefault(config: recognizer.fusion.config, seed: seed)
            let training = try TrainingRun(
                configuration: .init(settings: settings, steps: steps, checkpointEvery: checkpointEvery, validateEvery: validateEvery, output: output),
                sources: prepared.sources, cache: prepared.cache, recognizer: recognizer, validation: validation, initial: initial, resume: resume)
            let first = training.trainer.iteration
            let stop = StopRequest()
            let progress = ProgressBar(total: steps)
            var regions = 0, busy = 0.0
            let outcome = try data.threads.run {
                try training.run(shouldStop: { stop.isRequested }) { event in
                    switch event {
                    case let .step(report, count, seconds):
                        regions += count
                        busy += seconds
                        progress.update(report.iteration + 1, startedAt: first, String(
                            format: "loss %.4f lr %.3g %.0f regions/s", report.loss, report.learningRate, Double(regions) / max(busy, 1e-9)))
                    case let .validated(iteration, r, best):
                        note(String(format: "validation at %d: AP %.4f APr %.4f APc %.4f APf %.4f%@", iteration, r.ap, r.apr, r.apc, r.apf,
                                    best ? " (best so far: weights kept)" : ""))
                    case let .checkpointed(iteration):
                        note("checkpoint at \(iteration) in \(TrainingRun.checkpointURL(output).path)")
                    }
                }
            }
            if case let .interrupted(iteration) = outcome {
                note("interrupted at step \(iteration); continue with --resume")
                throw ExitCode(130)
            }
            print("wrote bundle \(output.path)")
        }
    }
}
