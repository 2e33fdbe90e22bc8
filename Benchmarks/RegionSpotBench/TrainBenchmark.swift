import ArgumentParser
import Foundation
import RegionSpot
import Tensors
import Training

/// Training steps of the fusion module on fixed features (what `regionspot train` does with a
/// warm cache): `images` × `regions` mask tokens, token maps [images, tokens, D], a vocabulary
/// of `classes`, focal loss, dropout 0.1, clipping and AdamW. Prints regions/s beside GEMM peak.
struct TrainBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Fusion-module training throughput (regions/s).")

    @Option var dModel = 768
    @Option var textDim = 512
    @Option(help: "CLIP tokens per image (197: ViT-B/16 at 224; 257: ViT-L/14 at 224).") var tokens = 197
    @Option var images = 8
    @Option var regions = 32
    @Option var classes = 365
    @Option var seconds: Double = 5
    @Option var threads = Parallel.processorCount

    func run() throws { try Parallel.withThreads(threads) { try measure() } }

    func measure() throws {
        var generator = SplitMix64(seed: 3)
        let config = FusionConfig(dModel: dModel, textDim: textDim)
        let model = try RegionSpotModel.pytorchDefault(config: config, seed: 1)
        let batch = try FeatureBatch(maskTokens: Tensor.random([images * regions, 256], using: &generator),
                                     labels: (0..<(images * regions)).map { _ in Int(generator.next() % UInt64(classes)) },
                                     regionCounts: Array(repeating: regions, count: images),
                                     tokenMaps: Tensor.random([images, tokens, dModel], using: &generator))
        let classEmbeddings = Tensor.random([classes, textDim], using: &generator).l2Normalized()
        var trainer = try FusionTrainer(model: model, seed: 5)
        for _ in 0..<2 { try trainer.step(batch, classEmbeddings: classEmbeddings, logitScale: 100) }  // warm-up
        var steps = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            try trainer.step(batch, classEmbeddings: classEmbeddings, logitScale: 100)
            steps += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        let peak = GEMMThroughput.measure(size: 1024, seconds: 1)
        print(String(format: "train D=%d text=%d: %d images × %d regions, %d tokens, %d classes: %.1f ms/step, %.0f regions/s (GEMM peak %.1f GFLOP/s, %d threads)",
                     dModel, textDim, images, regions, tokens, classes, elapsed / Double(steps) * 1e3,
                     Double(steps * images * regions) / elapsed, peak, Parallel.threadCount))
    }
}
