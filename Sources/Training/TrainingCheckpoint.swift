import Foundation
import Layers
import RegionSpot
import Tensors

/// Everything an exact resume needs, in one safetensors file written atomically: the fusion
/// weights (`model.<key>`), AdamW's moments (`exp_avg.<key>`, `exp_avg_sq.<key>`) in fp32, and
/// in the metadata the step counts, the data order, the dropout generator and the best
/// validation so far, with the settings the run was started with (a resume must use the same).
public struct TrainingCheckpoint: Sendable {
    public struct State: Sendable, Codable, Equatable {
        public var settings: RunSettings
        public var iteration: Int
        public var optimizerSteps: Int
        public var generator: SplitMix64
        public var dataOrder: DataOrder
        /// The best validation AP so far and the iteration it was reached at.
        public var bestAP: Double?
        public var bestIteration: Int?
    }

    public var state: State
    public var model: RegionSpotModel
    public var moments: [String: AdamW.Moments]

    public init(state: State, model: RegionSpotModel, moments: [String: AdamW.Moments]) {
        self.state = state
        self.model = model
        self.moments = moments
    }

    public func write(to url: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (key, tensor) in model.parameters() { tensors["model." + key] = tensor }
        for (key, moment) in moments {
            tensors["exp_avg." + key] = moment.first
            tensors["exp_avg_sq." + key] = moment.second
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let metadata = ["state": String(decoding: try encoder.encode(state), as: UTF8.self)]
        try AtomicFile.write(SafeTensors.encode(tensors, metadata: metadata), to: url)
    }

    /// Reads a checkpoint whose fusion module has `config`.
    public init(contentsOf url: URL, config: FusionConfig) throws {
        let file = try SafeTensorsFile(url: url)
        guard let json = file.metadata["state"] else { throw TrainingError.badCheckpoint("\(url.path): no training state in its metadata") }
        do { state = try JSONDecoder().decode(State.self, from: Data(json.utf8)) } catch {
            throw TrainingError.badCheckpoint("\(url.path): unreadable training state: \(error)")
        }
        let all = try file.tensors()
        let weights = all.filter { $0.key.hasPrefix("model.") }
        let loader = try WeightLoader(tensors: Dictionary(uniqueKeysWithValues: weights.map { (String($0.key.dropFirst(6)), $0.value) }))
        model = try RegionSpotModel(weights: loader, config: config)
        var moments: [String: AdamW.Moments] = [:]
        for (key, _) in model.parameters() {
            guard let first = all["exp_avg." + key], let second = all["exp_avg_sq." + key] else {
                if state.optimizerSteps == 0 { continue }
                throw TrainingError.badCheckpoint("\(url.path): no AdamW moments for \(key)")
            }
            moments[key] = AdamW.Moments(first: first, second: second)
        }
        self.moments = moments
    }
}

/// The settings a run is started with; resuming with different ones is refused.
public struct RunSettings: Sendable, Codable, Equatable {
    public var options: TrainingOptions
    public var seed: UInt64
    public var batchSize: Int
    public var datasets: [String]

    public init(options: TrainingOptions, seed: UInt64, batchSize: Int, datasets: [String]) {
        self.options = options
        self.seed = seed
        self.batchSize = batchSize
        self.datasets = datasets
    }
}
