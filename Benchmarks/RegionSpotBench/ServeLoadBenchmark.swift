import ArgumentParser
import Foundation
import Imaging
import PipelineProtocol
import RegionSpot
import Synchronization
import ZeroMQ

/// A running `regionspot serve` under load, beside the in-process engine on the same requests in
/// the same run (timed before and after each load run): requests/s and p50/p99 latency at each
/// client count (each client one request in flight at a time; the largest count is a burst, one
/// request per client at once), status codes counted, and an image seen before with new boxes
/// against a cold one. Benchmarks/serve.sh runs it.
struct ServeLoadBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-load", abstract: "Daemon throughput and latency against the in-process Recognizer.")

    @Option(help: "The daemon's client endpoint.")
    var connect: String
    @Option(help: "Bundle directory: the in-process engine's (the daemon's own --model).")
    var bundle = "Benchmarks/out/pipeline/bundle"
    @Option(help: "Image file; every request sends its own copy (one pixel changed), so no image is cached unless asked.")
    var image = "Benchmarks/out/pipeline/image.png"
    @Option(parsing: .upToNextOption, help: "Box files, one load run each.")
    var boxes = ["Benchmarks/out/pipeline/boxes_10.json", "Benchmarks/out/pipeline/boxes_100.json"]
    @Option(help: "Class names, one per line.")
    var vocabFile = "Benchmarks/out/pipeline/vocabulary.txt"
    @Option(parsing: .upToNextOption, help: "Concurrent clients per run; the last is a burst of one request each.")
    var clients = [1, 8, 64]
    @Option(help: "Requests each client sends one after the other (but in the burst).")
    var rounds = 2
    @Option(help: "Load runs at each client count but the burst, each timed against the in-process engine just before and after it.")
    var repeats = 3
    @Option(help: "Requests timed in process before and after each load run.")
    var inProcessRequests = 4
    @Option(help: "Threads of the in-process engine (the daemon's come from its pipeline file).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats: at least 1, got \(repeats)") }
        guard inProcessRequests >= 1 else { throw ValidationError("--in-process-requests: at least 1, got \(inProcessRequests)") }
    }

    func run() throws {
        let vocabulary = try VocabularyInput.read(URL(fileURLWithPath: vocabFile))
        let picture = try RGBImage(contentsOf: URL(fileURLWithPath: image))
        var variants = Variants(picture)
        let recognizer = try Recognizer(bundle: ModelBundle(directory: URL(fileURLWithPath: bundle)), threads: threads)
        _ = try recognizer.recognize(image: picture, boxes: [Box(x0: 0, y0: 0, x1: 10, y1: 10)], vocabulary: vocabulary)  // caches the vocabulary
        let context = try ZMQContext()
        let warm = try Self.send(request(variants.next(), [Box(x0: 0, y0: 0, x1: 10, y1: 10)], vocabulary), to: connect, context: context)
        guard warm.code == .ok else { throw ValidationError("the daemon refused the warm-up request: \(warm.code) \(warm.message)") }

        for file in boxes {
            let boxSet = try BoxesFile(contentsOf: URL(fileURLWithPath: file)).boxes
            // The host's speed drifts over minutes (shared machines), so the in-process rate is
            // timed before and after every load run and each run is compared with their mean.
            func timeInProcess() throws -> Double {
                let images = try (0..<inProcessRequests).map { _ in try variants.next() }
                let start = Date()
                for (index, bytes) in images.enumerated() {
                    _ = try recognizer.recognize(RecognitionRequest(image: .encoded(bytes, source: "variant \(index)"), boxes: boxSet,
                                                                    vocabulary: vocabulary, topK: 5))
                }
                let rate = Double(inProcessRequests) / Date().timeIntervalSince(start)
                print(String(format: "in-process %d boxes: %.3f requests/s (%.3f s each, %d threads)", boxSet.count, rate, 1 / rate, threads))
                return rate
            }
            var before = try timeInProcess()
            for (level, count) in clients.enumerated() {
                let burst = level == clients.count - 1
                let perClient = burst ? 1 : rounds
                // Each run is compared with the in-process rate timed just before and after it; the
                // pooled figure sets all runs' requests and seconds against all those timings.
                var pooled = (answered: 0, seconds: 0.0, inProcessRates: [before])
                for _ in 0..<(burst ? 1 : repeats) {
                    let images = try (0..<count * perClient).map { _ in try variants.next() }  // none seen before
                    let start = Date()
                    let outcomes = try load(clients: count, perClient: perClient, images: images, boxes: boxSet, vocabulary: vocabulary, context: context)
                    let seconds = Date().timeIntervalSince(start)
                    let after = try timeInProcess()
                    let inProcess = (before + after) / 2
                    before = after
                    let answered = outcomes.filter { $0.code == .ok }
                    let latencies = answered.map(\.seconds).sorted()
                    let codes = Dictionary(grouping: outcomes, by: \.code).map { "\($0.key)=\($0.value.count)" }.sorted().joined(separator: " ")
                    let rate = Double(answered.count) / seconds
                    print(String(format: "serve %d boxes, %d clients: %.3f requests/s (%.3f× in-process, timed before and after) | p50 %.3f s p99 %.3f s | %d sent, %d answered: %@",
                                 boxSet.count, count, rate, rate / inProcess, Self.percentile(latencies, 0.5), Self.percentile(latencies, 0.99),
                                 count * perClient, outcomes.count, codes))
                    pooled.answered += answered.count
                    pooled.seconds += seconds
                    pooled.inProcessRates.append(after)
                }
                if !burst && repeats > 1 {
                    let inProcess = pooled.inProcessRates.reduce(0, +) / Double(pooled.inProcessRates.count)
                    let rate = Double(pooled.answered) / pooled.seconds
                    print(String(format: "serve %d boxes, %d clients, %d runs pooled: %.3f requests/s against %.3f in process (%.3f×)",
                                 boxSet.count, count, repeats, rate, inProcess, rate / inProcess))
                }
            }
        }
        let first = try BoxesFile(contentsOf: URL(fileURLWithPath: boxes[0])).boxes
        try cachedAgainstCold(boxes: Array(first.prefix(10)), variants: &variants, vocabulary: vocabulary, context: context)
    }

    /// Cold: an image never sent with `first` boxes; cached: the same image again with other boxes
    /// (each shrunk by a pixel a side). Median of three.
    func cachedAgainstCold(boxes first: [Box], variants: inout Variants, vocabulary: [String], context: ZMQContext) throws {
        let second = first.map { box in
            box.x1 - box.x0 > 2 && box.y1 - box.y0 > 2 ? Box(x0: box.x0 + 1, y0: box.y0 + 1, x1: box.x1 - 1, y1: box.y1 - 1) : box
        }
        var cold: [Double] = [], cached: [Double] = []
        for _ in 0..<3 {
            let bytes = try variants.next()
            let a = try Self.send(request(bytes, first, vocabulary), to: connect, context: context)
            let b = try Self.send(request(bytes, second, vocabulary), to: connect, context: context)
            guard a.code == .ok, b.code == .ok else { throw ValidationError("cached/cold requests failed: \(a.code) \(b.code)") }
            cold.append(a.seconds)
            cached.append(b.seconds)
        }
        let (c, w) = (cold.sorted()[1], cached.sorted()[1])
        print(String(format: "serve cached image + %d new boxes: %.3f s against %.3f s cold (%.1f%%)", first.count, w, c, 100 * w / c))
    }

    struct Outcome: Sendable {
        let code: Regionspot_V1_Code
        let message: String
        let seconds: Double
    }

    /// `clients` threads, each sending `perClient` requests one after the other; every outcome.
    func load(clients: Int, perClient: Int, images: [Data], boxes: [Box], vocabulary: [String], context: ZMQContext) throws -> [Outcome] {
        let outcomes = Mutex<[Outcome]>([])
        let group = DispatchGroup()
        let connect = connect
        for client in 0..<clients {
            let messages = (0..<perClient).map { request(images[client * perClient + $0], boxes, vocabulary) }
            group.enter()
            Thread {
                for message in messages {
                    let outcome = (try? Self.send(message, to: connect, context: context)) ?? Outcome(code: .unknown, message: "no reply", seconds: 0)
                    outcomes.withLock { $0.append(outcome) }
                }
                group.leave()
            }.start()
        }
        group.wait()
        return outcomes.withLock { $0 }
    }

    func request(_ image: Data, _ boxes: [Box], _ vocabulary: [String]) -> Regionspot_V1_Request {
        .with {
            $0.recognize = .with {
                $0.requestID = UUID().uuidString
                $0.image = image
                $0.boxes = boxes.map { box in .with { $0.x0 = box.x0; $0.y0 = box.y0; $0.x1 = box.x1; $0.y1 = box.y1 } }
                $0.vocabulary = vocabulary
                $0.topK = 5
                $0.deadlineMs = 3_600_000  // a burst waits in the queues for minutes: measure it, do not expire it
            }
        }
    }

    /// One request over a REQ socket of its own, timed from send to reply.
    static func send(_ request: Regionspot_V1_Request, to endpoint: String, context: ZMQContext) throws -> Outcome {
        let socket = try ZMQSocket(context: context, type: .req)
        try socket.set(.linger, 0)
        try socket.set(.receiveTimeout, 3_600_000)
        try socket.connect(endpoint)
        let start = Date()
        try socket.send([request.serializedBytes()])
        let reply = try Regionspot_V1_Reply(serializedBytes: socket.receive()[0])
        let seconds = Date().timeIntervalSince(start)
        switch reply.kind {
        case .recognize(let answer)?: return Outcome(code: answer.status.code, message: answer.status.message, seconds: seconds)
        case .error(let error)?: return Outcome(code: error.status.code, message: error.status.message, seconds: seconds)
        default: return Outcome(code: .unknown, message: "a reply of another kind", seconds: seconds)
        }
    }

    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction + 0.5))]
    }

    /// Copies of one image, each with its first pixel changed and PNG-encoded: different bytes,
    /// so different cache keys, and the same work.
    struct Variants {
        let image: RGBImage
        var count = 0

        init(_ image: RGBImage) { self.image = image }

        mutating func next() throws -> Data {
            count += 1
            var pixels = image.pixels
            (pixels[0], pixels[1], pixels[2]) = (UInt8(count & 255), UInt8((count >> 8) & 255), UInt8((count >> 16) & 255))
            return try RGBImage(width: image.width, height: image.height, pixels: pixels).encoded(as: .png)
        }
    }
}
