import ArgumentParser
import Foundation
import Imaging
import RegionSpot

/// Time per image of the whole recognizer (SAM ‖ CLIP encoders, SAM decoder per box, fusion) on a
/// bundle, for a given set of boxes. Benchmarks/pipeline.sh runs it beside the PyTorch pipeline.
struct PipelineBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline", abstract: "Recognizer seconds per image and per stage (bundle, image, boxes).")

    @Option(help: "Bundle directory (Tools/make_pipeline_fixtures.py --bench writes Benchmarks/out/pipeline/bundle).")
    var bundle = "Benchmarks/out/pipeline/bundle"
    @Option(help: "Image file.")
    var image = "Benchmarks/out/pipeline/image.png"
    @Option(parsing: .upToNextOption, help: "Box files to time, one after the other.")
    var boxes = ["Benchmarks/out/pipeline/boxes_10.json", "Benchmarks/out/pipeline/boxes_100.json"]
    @Option(help: "Class names, one per line.")
    var vocabFile = "Benchmarks/out/pipeline/vocabulary.txt"
    @Option(help: "Timed runs per box file (after one warm-up run).")
    var runs = 2
    @Flag(help: "Also produce masks (SAM mask upsampling to the image size).")
    var masks = false

    func run() throws {
        let vocabulary = try VocabularyInput.read(URL(fileURLWithPath: vocabFile))
        let picture = try RGBImage(contentsOf: URL(fileURLWithPath: image))
        let loadStart = Date()
        let recognizer = try Recognizer(bundle: ModelBundle(directory: URL(fileURLWithPath: bundle)))
        print(String(format: "ours load %.2f s", Date().timeIntervalSince(loadStart)))
        let warm = try recognizer.recognize(image: picture, boxes: [Box(x0: 0, y0: 0, x1: 10, y1: 10)], vocabulary: vocabulary)
        print(String(format: "ours text embeddings (%d classes × %d prompts, once, then cached) %.2f s",
                     vocabulary.count, recognizer.bundle.templates.count, warm.timings.textEmbeddings))
        for file in boxes {
            let request = try BoxesFile(contentsOf: URL(fileURLWithPath: file))
            var best: StageTimings?
            for _ in 0..<runs {
                let t = try recognizer.recognize(image: picture, boxes: request.boxes, boxScores: request.scores,
                                                 vocabulary: vocabulary, topK: 5, masks: masks).timings
                if best == nil || t.total < best!.total { best = t }
            }
            let t = best!
            print(String(format: "ours %d boxes: total %.2f s | encoders %.2f s (SAM %.2f ‖ CLIP %.3f) | SAM decoder %.2f s | fusion %.3f s",
                         request.boxes.count, t.total, t.encoders, t.samEncoder, t.clipEncoder, t.samDecoder, t.fusion))
        }
    }
}
