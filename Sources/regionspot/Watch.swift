import ArgumentParser
import Dispatch
import Foundation
import Pipeline
import RegionSpot
import Watch

extension RegionSpotCommand {
    struct Watch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recognize the images dropped into a directory; results appear in another.",
            discussion: """
            An image waits for its sidecar NAME.boxes.json (the format predict --boxes reads, optionally with a \
            "vocabulary"); an LVIS/COCO JSON manifest recognizes a whole batch (images by file_name relative to INBOX, \
            best kept in a subdirectory; boxes from its annotations or from the results file it names under \
            "detections") into one results file for `regionspot eval`. Outputs: OUTBOX/NAME.regions.json (predict's \
            JSON), OUTBOX/NAME.png with --visualize, OUTBOX/NAME.results.json for a manifest, all written atomically. \
            Inputs move to INBOX/done/, or after --max-attempts failures to INBOX/failed/ with NAME.error.json. \
            With --proposals sam, an image without a sidecar is recognized at once, on the regions SAM's automatic \
            mask generator proposes (with --connect, with the parameters of the daemon's pipeline file). Each input is done exactly once, across restarts and kill -9. SIGTERM or SIGINT finishes the inputs in \
            flight and exits.
            """)

        @Argument(help: "The directory to watch.")
        var inbox: String
        @Option(help: "Where results are written.")
        var out: String
        @OptionGroup(title: "Recognize in this process (the default)") var model: ModelOptions
        @Option(help: "Or a running daemon's endpoint (tcp://HOST:PORT): recognize there, with the same outputs.")
        var connect: String?
        @Option(help: "With --connect: milliseconds to wait for each attempt's reply (also the request's deadline).")
        var timeoutMs: Int = 120_000
        @Option(help: "With --connect: attempts after the first when no reply comes.")
        var retries: Int = 2
        @OptionGroup var threads: ThreadOptions
        @OptionGroup var cache: CacheOptions
        @OptionGroup(title: "Vocabulary (for images whose sidecar has none) and outputs") var labels: LabelOptions
        @Flag(help: "Also write NAME.png with the boxes, labels and masks drawn.")
        var visualize = false
        @Flag(help: "Leave inputs where they are instead of moving them to done/.")
        var keepInputs = false
        @Flag(help: "Process what is in INBOX, then exit (non-zero if anything failed).")
        var once = false
        @Option(help: "Tries per input before it goes to failed/.")
        var maxAttempts = 3
        @Option(help: "Inputs recognized at the same time.")
        var jobs = 1
        @Option(help: "Seconds an image waits for its sidecar.")
        var sidecarTimeout: Double = 60
        @Option(help: "sam: recognize images without a sidecar at once, on the regions SAM's automatic mask generator proposes.")
        var proposals: ProposalSource?
        @OptionGroup(title: "Automatic mask generator (with --proposals sam)") var generator: MaskGeneratorOptions

        func validate() throws {
            guard model.model == nil || connect == nil else { throw ValidationError("give --model or --connect, not both") }
            guard timeoutMs >= 1, retries >= 0 else { throw ValidationError("--timeout-ms must be at least 1 and --retries at least 0") }
            guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
            guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
            guard sidecarTimeout > 0 else { throw ValidationError("--sidecar-timeout must be positive") }
            if proposals != nil && labels.vocab == nil && labels.vocabFile == nil {
                throw ValidationError("--proposals needs --vocab or --vocab-file for images without a sidecar")
            }
        }

        func run() throws {
            var options = WatchOptions(inbox: URL(fileURLWithPath: inbox), outbox: URL(fileURLWithPath: out))
            options.vocabulary = try labels.vocabulary()
            (options.topK, options.masks, options.visualize, options.keepInputs) = (labels.topK, labels.masks, visualize, keepInputs)
            (options.once, options.maxAttempts, options.jobs, options.sidecarTimeout) = (once, maxAttempts, jobs, sidecarTimeout)
            options.proposals = proposals.map { _ in generator.options }
            let engine: any Recognizing = try connect.map { try PipelineClient(endpoint: $0, timeoutMilliseconds: timeoutMs, retries: retries) }
                ?? makeRecognizer(model, threads, cache)
            let watcher = try Watcher(options: options, engine: engine) { line in
                FileHandle.standardError.write(Data("\n\(line)\n".utf8))
            }
            let signals = [SIGTERM, SIGINT].map { number in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { watcher.stop() }
                source.resume()
                return source
            }
            let summary = try watcher.run(progress: WatchProgress())
            signals.forEach { $0.cancel() }
            if summary.failed > 0 { throw ExitCode(1) }
        }
    }
}
