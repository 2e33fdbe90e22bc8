import ArgumentParser
import Foundation
import Imaging
import RegionSpot
import Tensors

/// Option groups every verb that loads a model shares.

/// `--model BUNDLE`: a model bundle directory (with regionspot.json), by default the embedded demo bundle.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Model bundle directory (with regionspot.json).",
                               discussion: "Default: the embedded demo bundle (\(DemoBundle.summary))."))
    var model: String?

    func directory() throws -> URL { try model.map { URL(fileURLWithPath: $0) } ?? DemoBundle.directory() }
    func bundle() throws -> ModelBundle { try ModelBundle(directory: directory()) }
}

/// `--threads N`: the compute threads this command's kernels use.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Compute threads (default: every core).")
    var threads: Int = Parallel.processorCount

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    /// Runs `body` with kernels split over `threads` workers.
    func run<Result>(_ body: () throws -> Result) rethrows -> Result { try Parallel.withThreads(threads, body) }
}

/// `--cache-dir DIR` / `--no-disk-cache`: where class embeddings of vocabularies are kept between runs.
struct CacheOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Directory keeping class embeddings between runs.",
                               discussion: "Default: $REGIONSPOT_CACHE, else $XDG_CACHE_HOME/regionspot, else ~/.cache/regionspot."))
    var cacheDir: String?
    @Flag(help: "Keep class embeddings in memory only.")
    var noDiskCache = false

    var directory: URL? {
        if noDiskCache { return nil }
        if let cacheDir { return URL(fileURLWithPath: cacheDir) }
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["REGIONSPOT_CACHE"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("regionspot")
    }
}

/// The vocabulary and what to report per box, as predict, client and watch take them.
struct LabelOptions: ParsableArguments {
    @Option(help: "Comma-separated class names.")
    var vocab: String?
    @Option(help: "File of class names, one per line.")
    var vocabFile: String?
    @Option(help: "Labels to report per box.")
    var topK: Int = 5
    @Flag(help: "Also output each box's SAM mask (COCO compressed RLE).")
    var masks = false

    func validate() throws {
        guard vocab == nil || vocabFile == nil else { throw ValidationError("give at most one of --vocab and --vocab-file") }
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
    }

    /// The names given, or nil when neither option was.
    func vocabulary() throws -> [String]? {
        try vocab.map(VocabularyInput.parse(commaSeparated:)) ?? vocabFile.map { try VocabularyInput.read(URL(fileURLWithPath: $0)) }
    }
}

/// What to recognize, as predict and client take it: boxes, a vocabulary, how many labels, masks;
/// and how to show the answer.
struct RecognitionOptions: ParsableArguments {
    @Option(help: "JSON file of boxes [x0, y0, x1, y1] in image pixels, optionally with detector scores.")
    var boxes: String?
    @OptionGroup var labels: LabelOptions
    @Option(help: "Write a picture of the boxes, labels, scores and masks here (.png or .jpg).")
    var visualize: String?
    @Flag(help: "Print one line per region instead of JSON.")
    var text = false

    var topK: Int { labels.topK }
    var masks: Bool { labels.masks }

    /// The checks of a command that recognizes (`client --health` does not, so they are not `validate()`).
    func check(boxesRequired: Bool = true) throws {
        guard boxes != nil || !boxesRequired else { throw ValidationError("give --boxes") }
        guard labels.vocab != nil || labels.vocabFile != nil else { throw ValidationError("give one of --vocab and --vocab-file") }
    }

    func vocabulary() throws -> [String] { try labels.vocabulary()! }

    func boxesFile() throws -> BoxesFile { try BoxesFile(contentsOf: URL(fileURLWithPath: boxes!)) }

    /// Prints `output` as asked (JSON or text), without masks unless --masks asked for them (the
    /// picture needs them, so they are computed for --visualize alone), and draws the picture when asked.
    func show(_ output: PredictionOutput, _ recognition: Recognition, vocabulary: [String], picture: @autoclosure () throws -> RGBImage) throws {
        if let visualize {
            try Visualization.draw(recognition, vocabulary: vocabulary, on: picture()).write(to: URL(fileURLWithPath: visualize))
        }
        var output = output
        if !masks { output.regions.indices.forEach { output.regions[$0].mask = nil } }
        print(text ? output.text() : String(decoding: try output.json(), as: UTF8.self))
    }
}

/// A recognizer for a command's options.
func makeRecognizer(_ model: ModelOptions, _ threads: ThreadOptions, _ cache: CacheOptions) throws -> Recognizer {
    try Recognizer(bundle: model.bundle(), cacheDirectory: cache.directory?.appendingPathComponent("class-embeddings"), threads: threads.threads)
}
