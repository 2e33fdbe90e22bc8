import ArgumentParser
import Foundation
import Imaging
import SAM
import Tensors

/// SAM on full-size random weights: image encoder seconds (best of --runs), peak memory beyond the
/// weights, the 100-box decoder, and our GEMM peak from the same run. Benchmarks/sam.sh prints
/// PyTorch's and ONNX Runtime's figures beside these.
struct SAMBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sam", abstract: "SAM image encoder and mask decoder timings.")

    @Option(help: "SAM weights (.safetensors).") var weights: String
    @Option(help: "Preprocessed pixels [3, S, S] (.npy).") var pixels: String
    @Option(help: "Encoder runs (best is reported).") var runs: Int = 3
    @Option(help: "Boxes for the decoder benchmark (0 to skip).") var boxes: Int = 100
    @Option(help: "Where to write image_embedding.npy, mask_tokens.npy and iou.npy for comparison.") var out: String?
    @Flag(help: "Also measure the GEMM peak.") var gemmPeak = false
    @Option(help: "Prompts per decoder pass.") var batch: Int = SamPredictor.defaultBatchSize

    func run() throws {
        let model = try Sam(contentsOf: URL(fileURLWithPath: weights))
        let input = try NPY.read(URL(fileURLWithPath: pixels))
        var predictor = SamPredictor(model: model)
        predictor.batchSize = batch
        let size = model.imageEncoder.imageSize
        let baseline = MemoryUsage.residentBytes()
        var best = Double.infinity
        var embedding: Tensor?
        for _ in 0..<max(1, runs) {
            // The image encoder alone, as the peers' figures are.
            let start = DispatchTime.now().uptimeNanoseconds
            embedding = model.imageEncoder(input)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let peak = MemoryUsage.peakResidentBytes()
        let embedded = embedding.map { predictor.use(embedding: $0, inputSize: (size, size), originalSize: (size, size)) }
        let (name, macs) = model.imageEncoder.nameAndMACs
        print(String(format: "ours %@ encoder %.3f s, %.1f GFLOP/s (%.1f GMACs), peak memory beyond weights %.0f MB",
                     name, best, 2 * macs / best / 1e9, macs / 1e9, Double(peak - baseline) / 1e6))
        guard let embedded else { return }
        if boxes > 0 {
            // Deterministic boxes spread over the image, as the reference script builds them.
            var rng = SplitMix64(seed: 7)
            let list: [Box] = (0..<boxes).map { _ in
                let x0 = Float(rng.next() % 800), y0 = Float(rng.next() % 800)
                return Box(x0: x0, y0: y0, x1: x0 + 50 + Float(rng.next() % 170), y1: y0 + 50 + Float(rng.next() % 170))
            }
            var decodeBest = Double.infinity
            var prediction: SamPredictor.Prediction?
            for _ in 0..<2 {
                let start = DispatchTime.now().uptimeNanoseconds
                prediction = try predictor.predict(boxes: list, on: embedded)
                decodeBest = min(decodeBest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            print(String(format: "ours decoder %d boxes %.3f s (with masks at full size)", boxes, decodeBest))
            var tokensBest = Double.infinity
            for _ in 0..<2 {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try predictor.predict(boxes: list, on: embedded, masks: false)
                tokensBest = min(tokensBest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            print(String(format: "ours decoder, mask tokens and IoU only (RegionSpot without masks): %.3f s", tokensBest))
            if let out, let prediction {
                let dir = URL(fileURLWithPath: out)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try NPY.write(prediction.maskTokens, to: dir.appendingPathComponent("mask_tokens.npy"))
                try NPY.write(prediction.iouPredictions, to: dir.appendingPathComponent("iou.npy"))
                try NPY.write(Tensor(shape: [boxes, 4], scalars: list.flatMap(\.corners)), to: dir.appendingPathComponent("boxes.npy"))
            }
        }
        if let out {
            let dir = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try NPY.write(embedded.embedding, to: dir.appendingPathComponent("image_embedding.npy"))
        }
        if gemmPeak {
            print(String(format: "ours gemm-peak %.1f GFLOP/s", GEMMThroughput.measure(size: 1024, seconds: 2)))
        }
    }
}

extension SamImageEncoder {
    /// Multiply-adds of one forward pass as we run it, counted from the configuration (GEMMs,
    /// attention, convolutions). The reference also runs qkv and proj on the zero-padded window
    /// tokens (15 GMACs more for ViT-B); we compute those rows' qkv (the bias) without a product.
    var nameAndMACs: (String, Double) {
        switch self {
        case let .vit(e):
            let c = e.configuration, g = Double(c.gridSize), dim = Double(c.embedDim)
            let tokens = g * g
            var macs = tokens * 3 * Double(c.patchSize * c.patchSize) * dim  // patch embedding
            for i in 0..<c.depth {
                let global = c.globalAttentionIndexes.contains(i)
                let ws = Double(c.windowSize)
                let padded = global ? tokens : pow((g / ws).rounded(.up) * ws, 2)
                let perWindow = global ? tokens : ws * ws
                macs += tokens * dim * dim * 4  // qkv + proj
                macs += padded * perWindow * dim * 2  // q·kᵀ and p·v
                macs += tokens * dim * dim * 8  // MLP
            }
            macs += tokens * dim * Double(c.outChannels) + tokens * Double(c.outChannels * c.outChannels) * 9
            return ("vit-\(c.embedDim)x\(c.depth)", macs)
        case let .tinyViT(e):
            return ("tinyvit-\(e.configuration.embedDims.map(String.init).joined(separator: "-"))", 38.8e9 * pow(Double(e.configuration.imageSize) / 1024, 2))
        }
    }
}
