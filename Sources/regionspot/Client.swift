import ArgumentParser
import Foundation
import Imaging
import Pipeline
import PipelineProtocol
import RegionSpot
import SAM

extension RegionSpotCommand {
    struct Client: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask a running daemon (regionspot serve) what is in each box of an image; prints the JSON predict prints.",
            discussion: """
                Without an answer within --timeout-ms it retries with a new socket and the same request id, \
                --retries times. With --proposals sam (and no --boxes) the daemon's SAM proposes the regions, \
                with the generator parameters of its pipeline file's `proposals` section. With --health it prints \
                the daemon's health and readiness instead.
                """)

        @Option(help: "The daemon's endpoint (tcp://HOST:PORT).")
        var connect: String
        @Argument(help: "The image (JPEG, PNG, WebP, BMP), sent as it is.")
        var image: String?
        @OptionGroup var recognition: RecognitionOptions
        @Option(help: "sam: instead of --boxes, the regions SAM's automatic mask generator proposes at the daemon.")
        var proposals: ProposalSource?
        @Option(help: "Milliseconds to wait for each attempt's reply; also the request's deadline at the daemon.")
        var timeoutMs: Int = 30_000
        @Option(help: "Attempts after the first when no reply comes.")
        var retries: Int = 2
        @Flag(help: "Print the daemon's health and readiness (JSON) instead of recognizing.")
        var health = false
        @Option(help: "The daemon's CURVE public key file, for a daemon started with --curve-secret; needs --curve-secret.")
        var curveServerKey: String?
        @Option(help: "This client's CURVE secret key file; its public key must be in the daemon's --curve-allow directory.")
        var curveSecret: String?

        func validate() throws {
            guard timeoutMs >= 1 else { throw ValidationError("--timeout-ms must be at least 1, got \(timeoutMs)") }
            guard retries >= 0 else { throw ValidationError("--retries must be at least 0, got \(retries)") }
            if health { return }
            guard image != nil else { throw ValidationError("give an IMAGE (or --health)") }
            guard proposals == nil || recognition.boxes == nil else { throw ValidationError("give --boxes or --proposals, not both") }
            guard proposals != nil || recognition.boxes != nil else { throw ValidationError("give --boxes or --proposals sam") }
            try recognition.check(boxesRequired: false)
        }

        func run() throws {
            let client = try PipelineClient(endpoint: connect, timeoutMilliseconds: timeoutMs, retries: retries,
                                            curve: curveClient(serverKeyFile: curveServerKey, secretFile: curveSecret))
            if health {
                try printHealth(client)
                return
            }
            let vocabulary = try recognition.vocabulary()
            let boxes = try recognition.boxes == nil ? BoxesFile(boxes: []) : recognition.boxesFile()
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: image!)) } catch {
                throw ImageError(.io, source: image!, detail: error.localizedDescription)  // as predict says it
            }
            let result = try client.recognize(
                RecognitionRequest(image: .encoded(data, source: image!), boxes: boxes.boxes, boxScores: boxes.scores,
                                   vocabulary: vocabulary, topK: recognition.topK, masks: recognition.masks || recognition.visualize != nil,
                                   proposals: proposals.map { _ in AutomaticMaskGenerator.Options() }),
                deadlineMilliseconds: timeoutMs)
            let output = PredictionOutput(image: image!, width: result.imageWidth, height: result.imageHeight, recognition: result,
                                          vocabulary: vocabulary)
            try recognition.show(output, result, vocabulary: vocabulary, picture: RGBImage(decoding: data, source: image!))
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
