import ArgumentParser
import CLIP
import Foundation
import Tensors

/// CLIP vision token map (RegionSpot's `encode_image_featuremap`, batch 1) and the 81-prompt
/// ensemble of one class through the text tower. Run by Benchmarks/clip.sh beside PyTorch.
struct CLIPBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clip", abstract: "CLIP token map and 81-prompt text ensemble, best of N runs.")

    @Option(help: "OpenAI-named CLIP safetensors.") var weights: String
    @Option(help: "Input pixels [1, 3, S, S] (.npy).") var pixels: String
    @Option(help: "Class name filled into the 81 templates.") var className = "traffic light"
    @Option var runs = 5
    @Option var threads = 2
    @Option(help: "Directory for the outputs (token_map.npy, text.npy), for the parity check.") var out: String?

    func run() throws {
        try Parallel.withThreads(threads) { try measure() }
    }

    private func measure() throws {
        let model = try CLIP(file: URL(fileURLWithPath: weights))
        let vision = try model.vision(), text = try model.textTower()
        let input = try NPY.read(URL(fileURLWithPath: pixels))
        let tokenizer = try SimpleTokenizer.bundled()
        let prompts = try PromptEnsemble.prompts(for: className).map { try tokenizer.tokenize($0) }

        var tokenMap = try vision.tokenMap(input)                 // warm-up
        let visionSeconds = try best(of: runs) { tokenMap = try vision.tokenMap(input) }
        var features = try text.encode(prompts)
        let textSeconds = try best(of: runs) { features = try text.encode(prompts) }
        let longest = prompts.map { $0.firstIndex(of: tokenizer.endOfText)! + 1 }.max()!
        print(String(format: "clip vision token map %@: %.3f s", "\(tokenMap.shape)", visionSeconds))
        print(String(format: "clip text 81 prompts (stopped at %d of 77 tokens): %.3f s", longest, textSeconds))
        if let out {
            try NPY.write(tokenMap, to: URL(fileURLWithPath: out).appendingPathComponent("swift_token_map.npy"))
            try NPY.write(features, to: URL(fileURLWithPath: out).appendingPathComponent("swift_text.npy"))
        }
    }

    private func best(of runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<max(1, runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return best
    }
}
