import ArgumentParser
import Foundation
import RegionSpot
import Tensors
import Training

extension RegionSpotCommand {
    /// `regionspot train`: trains RegionSpot's fusion module on frozen, cached SAM and CLIP features.
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train the fusion module on labelled boxes (frozen SAM and CLIP, cached features); writes a model bundle.",
            subcommands: [Run.self, Precompute.self], defaultSubcommand: Run.self)
    }
}

/// The model, the datasets and the feature cache: what `train` and `train precompute` share.
struct TrainDataOptions: ParsableArguments {
    @OptionGroup var model: ModelOptions
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var cache: CacheOptions
    @Option(name: .customLong("data"), help: "A training dataset lvis:ANNOTATIONS.json:IMAGES_DIR or coco:… (repeat for several, sampled equally).")
    var data: [String] = []
    @Option(help: "A validation dataset lvis:ANNOTATIONS.json:IMAGES_DIR or coco:….")
    var val: String?
    @Option(help: "Hold out this fraction of the first dataset's images for validation instead of --val.")
    var valSplit: Double?
    @Option(help: ArgumentHelp("Disk the cached CLIP token maps may take (e.g. 300G, 512M); past it they are recomputed on the fly.",
                               valueName: "bytes"))
    var cacheLimit: String?

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("give at least one --data lvis:TRAIN.json:IMAGES_DIR") }
        guard val == nil || valSplit == nil else { throw ValidationError("give --val or --val-split, not both") }
        if let valSplit, !(valSplit > 0 && valSplit < 1) { throw ValidationError("--val-split must lie in (0, 1), got \(valSplit)") }
        if cache.noDiskCache { throw ValidationError("training reads its features from the disk cache; --no-disk-cache does not apply") }
        if let cacheLimit, Self.bytes(cacheLimit) == nil { throw ValidationError("--cache-limit \(cacheLimit): expected a size such as 300G or 512M") }
    }

    static func bytes(_ text: String) -> Int? {
        let units: [Character: Double] = ["K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12]
        let unit = text.last.flatMap { units[Character($0.uppercased())] }
        guard let number = Double(unit == nil ? text : String(text.dropLast())), number >= 0 else { return nil }
        return Int(number * (unit ?? 1))
    }

    /// Everything read and cached: the training sources, and the validation set if any.
    struct Prepared {
        let recognizer: Recognizer
        let cache: FeatureCache
        let sources: [TrainingRun.Source]
        /// The validation images: `indices` of `dataset`'s (all of --val's; the held-out ones of --val-split).
        let validation: (dataset: TrainingDataset, indices: [Int], groundTruth: String, folder: URL)?
    }

    /// Reads the datasets, reports their bad records, computes the missing features (saying
    /// how much disk they take first) and returns what training reads. `splitFile` is where a
    /// held-out split's ground truth goes; `seed` chooses it.
    func prepare(splitFile: URL?, seed: UInt64) throws -> Prepared {
        let bundle = try model.bundle()
        let recognizer = try Recognizer(bundle: bundle, cacheDirectory: cache.directory?.appendingPathComponent("class-embeddings"),
                                        threads: threads.threads)
        let cache = try FeatureCache(root: self.cache.directory!.appendingPathComponent("training-features"), bundle: bundle,
                                     tokenMapLimit: cacheLimit.flatMap(Self.bytes) ?? .max)
        let datasets = try data.map { try TrainingDataset(DatasetSource(parsing: $0)) }
        var heldOut: [Int] = []
        var validation: (dataset: TrainingDataset, indices: [Int], groundTruth: String)?
        var all = datasets
        if let val {
            let dataset = try TrainingDataset(DatasetSource(parsing: val))
            validation = (dataset, Array(dataset.images.indices), dataset.source.annotations)
            all.append(dataset)
        } else if let valSplit, let splitFile {
            // Held-out images stay the first dataset's (and its cached features).
            let split = try ValidationSplit(datasets[0], fraction: valSplit, seed: seed)
            try split.writeGroundTruth(to: splitFile)
            heldOut = split.heldOut
            validation = (datasets[0], heldOut, splitFile.path)
        }
        for problem in all.flatMap(\.problems) { note(problem) }

        let v = recognizer.clipConfiguration.vision!
        let grid = recognizer.clipInputSize / v.patchSize
        let plan = try cache.plan(all, tokens: 1 + grid * grid, width: v.width, tokenDim: recognizer.fusion.config.tokenDim)
        note(String(format: "feature cache %@: %d images, %.2f GB in all, %d images (%.2f GB) to compute", cache.directory.path,
                    all.reduce(0) { $0 + $1.images.count }, Double(plan.totalBytes) / 1e9, plan.missing.count, Double(plan.missingBytes) / 1e9))
        if !plan.missing.isEmpty {
            let progress = ProgressBar(total: plan.missing.count)
            try cache.precompute(all, plan: plan, recognizer: recognizer) { done, _ in
                progress.update(done, String(format: "%.2f images/s", Double(done) / max(progress.elapsed, 1e-9)))
            }
        }
        var sources: [TrainingRun.Source] = []
        for (index, dataset) in datasets.enumerated() {
            let bad = try cache.badImages(dataset)
            for (image, reason) in bad.sorted(by: { $0.key < $1.key }) {
                note("\(dataset.source.annotations): image id \(dataset.images[image].id) (\(dataset.images[image].file)): \(reason); skipped")
            }
            let excluded = Set(index == 0 ? heldOut : []).union(bad.keys)
            let usable = dataset.images.indices.filter { !excluded.contains($0) }
            guard !usable.isEmpty else { throw TrainingError.badData("\(dataset.source.annotations): no usable training image") }
            sources.append(TrainingRun.Source(dataset: dataset, usable: usable, folder: try cache.directory(for: dataset),
                                              classEmbeddings: try cache.classEmbeddings(dataset.vocabulary, recognizer: recognizer)))
        }
        let validationFolder = try validation.map {
            (dataset: $0.dataset, indices: $0.indices, groundTruth: $0.groundTruth, folder: try cache.directory(for: $0.dataset))
        }
        return Prepared(recognizer: recognizer, cache: cache, sources: sources, validation: validationFolder)
    }
}

func note(_ text: String) { FileHandle.standardError.write(Data("note: \(text)\n".utf8)) }

extension RegionSpotCommand.Train {
    struct Precompute: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compute and cache the features training reads (SAM mask tokens, CLIP token maps, class embeddings); resumable.")

        @OptionGroup var data: TrainDataOptions

        func run() throws {
            _ = try data.prepare(splitFile: nil, seed: 0)
            note("feature cache complete")
        }
    }
}
