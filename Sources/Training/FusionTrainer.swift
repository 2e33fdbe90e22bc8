import Layers
import RegionSpot
import Tensors

/// One batch of cached features: every image's SAM mask tokens and labels (image after image),
/// its region count, and its CLIP token map.
public struct FeatureBatch: Sendable {
    public let maskTokens: Tensor  // [regions, 256]
    public let labels: [Int]
    public let regionCounts: [Int]
    public let tokenMaps: Tensor  // [images, tokens, D]

    public init(maskTokens: Tensor, labels: [Int], regionCounts: [Int], tokenMaps: Tensor) throws {
        let regions = regionCounts.reduce(0, +)
        guard maskTokens.rank == 2, maskTokens.dim(0) == regions, labels.count == regions else {
            throw TrainingError.badBatch("\(regions) regions need one mask token row and one label each, got \(maskTokens.shape) and \(labels.count)")
        }
        guard tokenMaps.rank == 3, tokenMaps.dim(0) == regionCounts.count else {
            throw TrainingError.badBatch("\(regionCounts.count) images need token maps [images, tokens, D], got \(tokenMaps.shape)")
        }
        self.maskTokens = maskTokens
        self.labels = labels
        self.regionCounts = regionCounts
        self.tokenMaps = tokenMaps
    }
}

/// How the fusion module is trained; the defaults are RegionSpot's.
public struct TrainingOptions: Sendable, Equatable, Codable {
    public var loss: RegionLoss = .sigmoidFocal()
    public var padding: RegionPadding = .repeating
    /// `build_decoder`'s dropout (0.1); 0 computes evaluation-mode numbers.
    public var dropout: Float = 0.1
    /// SOLVER.CLIP_GRADIENTS.CLIP_VALUE over the full model.
    public var maxGradientNorm: Double = 1
    public var optimizer = AdamW.Options()
    public var schedule = WarmupMultiStepSchedule()

    public init() {}
}

/// What one step did.
public struct StepReport: Sendable, Equatable {
    public let iteration: Int
    public let loss: Double
    /// The gradients' L2 norm before clipping.
    public let gradientNorm: Double
    public let learningRate: Double
}

/// RegionSpot's training step on cached features: forward through the fusion module, logits
/// against the vocabulary's class embeddings, the loss, the backward, full-model clipping and an
/// AdamW update at the schedule's rate. SAM, CLIP and the class embeddings stay frozen.
public struct FusionTrainer: Sendable {
    public private(set) var model: RegionSpotModel
    public private(set) var optimizer: AdamW
    public let options: TrainingOptions
    /// Updates done; the next step uses the schedule's rate for this iteration.
    public private(set) var iteration: Int
    /// The source of every dropout mask; its state is part of an exact resume.
    public private(set) var generator: SplitMix64

    public init(model: RegionSpotModel, options: TrainingOptions = TrainingOptions(), seed: UInt64) throws {
        try options.schedule.validate()
        guard options.maxGradientNorm > 0 else { throw TrainingError.badOption("max gradient norm must be > 0, got \(options.maxGradientNorm)") }
        self.model = model
        self.options = options
        optimizer = try AdamW(options: options.optimizer)
        iteration = 0
        generator = SplitMix64(seed: seed)
    }

    /// A trainer continuing from a checkpoint: the model, the optimizer's moments and step, the
    /// iteration and the dropout generator's state.
    public init(model: RegionSpotModel, options: TrainingOptions, optimizer: AdamW, iteration: Int, generator: SplitMix64) throws {
        try self.init(model: model, options: options, seed: 0)
        guard optimizer.options == options.optimizer else {
            throw TrainingError.badCheckpoint("the optimizer's settings \(optimizer.options) differ from the run's \(options.optimizer)")
        }
        self.optimizer = optimizer
        self.iteration = iteration
        self.generator = generator
    }

    /// One update from `batch`, whose labels index `classEmbeddings` [classes, text dim] (L2-normalised).
    @discardableResult
    public mutating func step(_ batch: FeatureBatch, classEmbeddings: Tensor, logitScale: Float) throws -> StepReport {
        let (loss, gradients) = try lossAndGradients(batch, classEmbeddings: classEmbeddings, logitScale: logitScale)
        let norm = GradientClipping.globalNorm(gradients)
        let rate = options.schedule.learningRate(at: iteration)
        optimizer.step(&model, gradients: gradients, learningRate: rate,
                       gradientScale: GradientClipping.coefficient(norm: norm, maxNorm: options.maxGradientNorm))
        iteration += 1
        return StepReport(iteration: iteration - 1, loss: loss, gradientNorm: norm, learningRate: rate)
    }

    /// The loss of `batch` and every parameter's gradient (a model of gradients), before
    /// clipping; dropout masks come from the trainer's generator.
    public mutating func lossAndGradients(_ batch: FeatureBatch, classEmbeddings: Tensor, logitScale: Float) throws
        -> (loss: Double, gradients: RegionSpotModel) {
        let padded = try PaddedRegions(regionCounts: batch.regionCounts, padding: options.padding)
        let tokenMaps = batch.tokenMaps.reshaped([-1, batch.tokenMaps.dim(2)])
        let (features, trace) = try model.trainingForward(
            maskTokens: padded.gather(batch.maskTokens), tokenMaps: tokenMaps, images: padded.images, keyPadding: padded.keyPadding,
            dropout: Dropout(probability: options.dropout), generator: &generator)
        let logits = RegionSpotModel.logits(regionFeatures: features, classEmbeddings: classEmbeddings, logitScale: logitScale)
        let (loss, logitGradient) = try options.loss.evaluate(logits: logits, labels: padded.gather(labels: batch.labels),
                                                             weights: padded.lossWeights)
        let featureGradient = CosineLogits.backward(regionFeatures: features, classEmbeddings: classEmbeddings, logitScale: logitScale,
                                                    logitGradient: logitGradient)
        return (loss, model.backward(featureGradient, trace: trace))
    }
}
