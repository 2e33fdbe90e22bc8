import Foundation
import Layers
import RegionSpot
import Tensors

/// A whole training run on cached features: batches in `DataOrder`, `FusionTrainer` steps,
/// a checkpoint every N steps (and when asked to stop), validation every N steps with the best
/// weights kept, and the output written as a model bundle that `predict` and `serve` load:
///   OUT/regionspot.json, OUT/sam.safetensors, OUT/clip.safetensors (hard links to the frozen
///   encoders, copies across file systems), OUT/fusion.safetensors (the best validated weights,
///   or the latest without validation), OUT/checkpoint.safetensors (the state to resume from).
public final class TrainingRun {
    public struct Configuration: Sendable {
        public var settings: RunSettings
        public var steps: Int
        public var checkpointEvery: Int
        public var validateEvery: Int
        public var output: URL

        public init(settings: RunSettings, steps: Int, checkpointEvery: Int, validateEvery: Int, output: URL) {
            self.settings = settings
            self.steps = steps
            self.checkpointEvery = checkpointEvery
            self.validateEvery = validateEvery
            self.output = output
        }
    }

    /// One training dataset: its images with usable features (indices into `dataset.images`),
    /// where they are cached, and its vocabulary's class embeddings.
    public struct Source {
        public let dataset: TrainingDataset
        public let usable: [Int]
        public let folder: URL
        public let classEmbeddings: Tensor

        public init(dataset: TrainingDataset, usable: [Int], folder: URL, classEmbeddings: Tensor) {
            self.dataset = dataset
            self.usable = usable
            self.folder = folder
            self.classEmbeddings = classEmbeddings
        }
    }

    public enum Event {
        case step(StepReport, regions: Int, seconds: Double)
        case validated(iteration: Int, Validation.Result, best: Bool)
        case checkpointed(iteration: Int)
    }

    public enum Outcome: Equatable { case finished, interrupted(iteration: Int) }

    public let configuration: Configuration
    let sources: [Source]
    let cache: FeatureCache
    let recognizer: Recognizer
    let validation: Validation?
    public private(set) var trainer: FusionTrainer
    var dataOrder: DataOrder
    var bestAP: Double?, bestIteration: Int?

    public static func checkpointURL(_ output: URL) -> URL { output.appendingPathComponent("checkpoint.safetensors") }

    /// A fresh run from `initial` weights, or with `resume` the state in OUT/checkpoint.safetensors.
    public init(configuration: Configuration, sources: [Source], cache: FeatureCache, recognizer: Recognizer, validation: Validation?,
                initial: RegionSpotModel, resume: Bool) throws {
        self.configuration = configuration
        self.sources = sources
        self.cache = cache
        self.recognizer = recognizer
        self.validation = validation
        let settings = configuration.settings
        let checkpointURL = Self.checkpointURL(configuration.output)
        if resume {
            guard FileManager.default.fileExists(atPath: checkpointURL.path) else {
                throw TrainingError.badCheckpoint("--resume: \(checkpointURL.path) does not exist")
            }
            let checkpoint = try TrainingCheckpoint(contentsOf: checkpointURL, config: initial.config)
            guard checkpoint.state.settings == settings else {
                throw TrainingError.badCheckpoint("\(checkpointURL.path) was written by a run with other settings "
                                                  + "(\(checkpoint.state.settings)); resume with the same ones (\(settings))")
            }
            let optimizer = try AdamW(options: settings.options.optimizer, steps: checkpoint.state.optimizerSteps, moments: checkpoint.moments)
            trainer = try FusionTrainer(model: checkpoint.model, options: settings.options, optimizer: optimizer,
                                        iteration: checkpoint.state.iteration, generator: checkpoint.state.generator)
            dataOrder = checkpoint.state.dataOrder
            bestAP = checkpoint.state.bestAP
            bestIteration = checkpoint.state.bestIteration
        } else {
            guard !FileManager.default.fileExists(atPath: checkpointURL.path) else {
                throw TrainingError.badCheckpoint("\(checkpointURL.path) exists: pass --resume to continue it, or choose another --out")
            }
            trainer = try FusionTrainer(model: initial, options: settings.options, seed: settings.seed)
            dataOrder = DataOrder(seed: settings.seed, imageCounts: sources.map(\.usable.count))
        }
        guard dataOrder.imageCounts == sources.map(\.usable.count) else {
            throw TrainingError.badCheckpoint("\(checkpointURL.path): its data order covers \(dataOrder.imageCounts) images, the datasets now have "
                                              + "\(sources.map(\.usable.count))")
        }
    }

    /// Trains until `steps`, or until `shouldStop` says so after a step (then checkpoints first).
    public func run(shouldStop: () -> Bool = { false }, report: (Event) -> Void = { _ in }) throws -> Outcome {
        try writeBundle()
        let c = configuration
        // The starting point's AP, what training must improve on.
        if trainer.iteration == 0 { try validate(report) }
        while trainer.iteration < c.steps {
            let start = DispatchTime.now()
            let (dataset, batch) = try nextBatch()
            let step = try trainer.step(batch, classEmbeddings: sources[dataset].classEmbeddings, logitScale: recognizer.logitScale)
            report(.step(step, regions: batch.labels.count, seconds: seconds(since: start)))
            let done = trainer.iteration
            if validation != nil, done % c.validateEvery == 0 || done == c.steps { try validate(report) }
            if done % c.checkpointEvery == 0 || done == c.steps {
                try checkpoint()
                report(.checkpointed(iteration: done))
            }
            if done < c.steps, shouldStop() {
                try checkpoint()
                report(.checkpointed(iteration: done))
                return .interrupted(iteration: done)
            }
        }
        return .finished
    }

    func nextBatch() throws -> (dataset: Int, batch: FeatureBatch) {
        let (dataset, picks) = dataOrder.next(size: configuration.settings.batchSize)
        let source = sources[dataset]
        var tokens: [Tensor] = [], maps: [Tensor] = [], labels: [Int] = [], counts: [Int] = []
        for pick in picks {
            let index = source.usable[pick]
            let features = try cache.features(source.dataset, image: index, folder: source.folder, recognizer: recognizer)
            tokens.append(features.maskTokens)
            maps.append(features.tokenMap.reshaped([1] + features.tokenMap.shape))
            labels += source.dataset.images[index].labels
            counts.append(features.maskTokens.dim(0))
        }
        return (dataset, try FeatureBatch(maskTokens: Tensor.concatenate(tokens), labels: labels, regionCounts: counts,
                                          tokenMaps: Tensor.concatenate(maps)))
    }

    func validate(_ report: (Event) -> Void) throws {
        guard let validation else { return }
        let result = try validation.evaluate(trainer.model)
        let best = bestAP.map { result.ap > $0 } ?? true
        if best {
            bestAP = result.ap
            bestIteration = trainer.iteration
            try writeFusion()
        }
        report(.validated(iteration: trainer.iteration, result, best: best))
    }

    func checkpoint() throws {
        let state = TrainingCheckpoint.State(settings: configuration.settings, iteration: trainer.iteration,
                                             optimizerSteps: trainer.optimizer.steps, generator: trainer.generator,
                                             dataOrder: dataOrder, bestAP: bestAP, bestIteration: bestIteration)
        try TrainingCheckpoint(state: state, model: trainer.model, moments: trainer.optimizer.moments)
            .write(to: Self.checkpointURL(configuration.output))
        if validation == nil { try writeFusion() }
    }

    /// The fusion weights under RegionSpot's keys.
    func writeFusion() throws {
        let tensors = Dictionary(uniqueKeysWithValues: trainer.model.parameters().map { ($0.key, $0.tensor) })
        try AtomicFile.write(SafeTensors.encode(tensors), to: configuration.output.appendingPathComponent("fusion.safetensors"))
    }

    /// The bundle around the fusion weights: the frozen encoders linked in, the manifest.
    func writeBundle() throws {
        let out = configuration.output, source = recognizer.bundle
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        for (name, url) in [("sam.safetensors", source.samURL), ("clip.safetensors", source.clipURL)] {
            let target = out.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: target.path) { continue }
            do { try FileManager.default.linkItem(at: url, to: target) } catch { try FileManager.default.copyItem(at: url, to: target) }
        }
        if !FileManager.default.fileExists(atPath: out.appendingPathComponent("fusion.safetensors").path) { try writeFusion() }
        let m = source.manifest
        try ModelBundle.write(ModelBundle.Manifest(name: (m.name ?? "regionspot") + "-trained", sam: .init(weights: "sam.safetensors"),
                                                   clip: .init(weights: "clip.safetensors", inputSize: m.clip.inputSize),
                                                   fusion: .init(weights: "fusion.safetensors"), logitScale: m.logitScale, templates: m.templates),
                              to: out)
    }

    private func seconds(since start: DispatchTime) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }
}
