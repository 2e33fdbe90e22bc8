import ArgumentParser
import Foundation
import Pipeline
import PipelineProtocol
import RegionSpot

extension RegionSpotCommand {
    struct Client: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask a running daemon (regionspot serve) what is in each box of an image; prints the JSON predict prints.",
            discussion: """
                Without an answer within --timeout-ms it retries with a new socket and the same request id, \
                --retries times. With --health it prints the daemon's health and readiness instead.
                """)

        @Option(help: "The daemon's endpoint (tcp://HOST:PORT).")
        var connect: String
        @Argument(help: "The image (JPEG, PNG, WebP, BMP), sent as it is.")
        var image: String?
        @Option(help: "JSON file of boxes [x0, y0, x1, y1] in image pixels, optionally with detector scores.")
        var boxes: String?
        @Option(help: "Comma-separated class names.")
        var vocab: String?
        @Option(help: "File of class names, one per line.")
        var vocabFile: String?
        @Option(help: "Labels to report per box.")
        var topK: Int = 5
        @Flag(help: "Also output each box's SAM mask (COCO compressed RLE).")
        var masks = false
        @Option(help: "Milliseconds to wait for each attempt's reply; also the request's deadline at the daemon.")
        var timeoutMs: Int = 30_000
        @Option(help: "Attempts after the first when no reply comes.")
        var retries: Int = 2
        @Flag(help: "Print the daemon's health and readiness (JSON) instead of recognizing.")
        var health = false

        func validate() throws {
            guard timeoutMs >= 1 else { throw ValidationError("--timeout-ms must be at least 1, got \(timeoutMs)") }
            guard retries >= 0 else { throw ValidationError("--retries must be at least 0, got \(retries)") }
            if health { return }
            guard image != nil else { throw ValidationError("give an IMAGE (or --health)") }
            guard boxes != nil else { throw ValidationError("give --boxes") }
            guard (vocab == nil) != (vocabFile == nil) else { throw ValidationError("give exactly one of --vocab and --vocab-file") }
            guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
        }

        func run() throws {
            let client = try PipelineClient(endpoint: connect, timeoutMilliseconds: timeoutMs, retries: retries)
            if health {
                try printHealth(client)
                return
            }
            let vocabulary = try vocab.map(VocabularyInput.parse(commaSeparated:)) ?? VocabularyInput.read(URL(fileURLWithPath: vocabFile!))
            let request = try BoxesFile(contentsOf: URL(fileURLWithPath: boxes!))
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: image!)) } catch {
                throw ValidationError("\(image!): cannot read: \(error.localizedDescription)")
            }
            let result = try client.recognize(
                RecognitionRequest(image: .encoded(data, source: image!), boxes: request.boxes, boxScores: request.scores,
                                   vocabulary: vocabulary, topK: topK, masks: masks),
                deadlineMilliseconds: timeoutMs)
            let output = PredictionOutput(image: image!, width: result.imageWidth, height: result.imageHeight, recognition: result,
                                          vocabulary: vocabulary)
            print(String(decoding: try output.json(), as: UTF8.self))
        }

        private func printHealth(_ client: PipelineClient) throws {
            let health = try client.health(), readiness = try client.readiness()
            let report: [String: Any] = [
                "version": health.version, "uptime_s": health.uptimeS, "draining": health.draining,
                "ready": readiness.ready, "reason": readiness.reason,
                "stages": readiness.stages.map { ["stage": $0.stage, "workers": $0.workers, "queued": $0.queued, "queue_limit": $0.queueLimit] },
            ]
            let json = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: json, as: UTF8.self))
        }
    }
}
