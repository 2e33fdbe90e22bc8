import ArgumentParser
import Foundation
import RegionSpot
import Tensors

/// One in-process loop over a directory of images with sidecars, doing what `watch` does for
/// each (read, recognize, write predict's JSON atomically) without the watching: the baseline
/// Benchmarks/watch.sh holds `watch --once` and `predict` calls against.
struct RecognitionLoopBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recognition-loop", abstract: "Seconds to recognize every NAME.png + NAME.boxes.json of a directory in one process.")

    @Option(help: "Bundle directory.") var bundle: String
    @Option(help: "Directory of NAME.png and NAME.boxes.json.") var images: String
    @Option(help: "Where NAME.regions.json files go.") var out: String
    @Option(help: "Class names, one per line.") var vocabFile: String
    @Option(help: "Compute threads.") var threads = Parallel.processorCount

    func run() throws {
        let vocabulary = try VocabularyInput.read(URL(fileURLWithPath: vocabFile))
        let recognizer = try Recognizer(bundle: ModelBundle(directory: URL(fileURLWithPath: bundle)), threads: threads)
        _ = try recognizer.classEmbeddings(for: vocabulary)  // as watch's first image pays it once too
        let directory = URL(fileURLWithPath: images), outbox = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outbox, withIntermediateDirectories: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: images).filter { $0.hasSuffix(".png") }.sorted()
        let start = Date(), cpuAtStart = CPUTime.processSeconds()
        for name in names {
            let stem = String(name.dropLast(4))
            let boxes = try BoxesFile(contentsOf: directory.appendingPathComponent("\(stem).boxes.json"))
            let url = directory.appendingPathComponent(name)
            let recognition = try recognizer.recognize(RecognitionRequest(
                image: .encoded(try Data(contentsOf: url), source: url.path), boxes: boxes.boxes, boxScores: boxes.scores,
                vocabulary: vocabulary))
            let output = PredictionOutput(image: name, width: recognition.imageWidth, height: recognition.imageHeight,
                                          recognition: recognition, vocabulary: vocabulary)
            try AtomicFile.write(output.json(), to: outbox.appendingPathComponent("\(stem).regions.json"))
        }
        let seconds = Date().timeIntervalSince(start), cpu = CPUTime.processSeconds() - cpuAtStart
        print(String(format: "in-process loop: %d images in %.2f s (%.3f images/s, CPU %.2f cores)", names.count, seconds,
                     Double(names.count) / seconds, cpu / seconds))
    }
}
