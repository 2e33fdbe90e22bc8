import Foundation
import PipelineProtocol
import TestSupport
import ZeroMQ

/// A tiny bundle, the fixture request as files, and `regionspot serve` (and workers) over it, on
/// free 127.0.0.1 ports; everything it started is killed when it is released.
final class DaemonFixture: @unchecked Sendable {
    let bundle: URL
    let directory: URL
    let boxes: String
    let vocabulary: [String]
    let context = try! ZMQContext()
    private(set) var daemon: RunningProcess?
    private(set) var workers: [RunningProcess] = []
    /// The client endpoint, and each stage's worker endpoint, from the ready line.
    private(set) var frontend = ""
    private(set) var stageEndpoints: [String: String] = [:]
    /// The text encoder's cost per class on this build and machine (see `slowVocabulary`).
    var millisecondsPerClass: Double?

    init() throws {
        bundle = try TinyBundle.make()
        let request = try PredictTests.request()
        (boxes, vocabulary, directory) = (request.boxes, request.vocabulary, request.directory)
    }

    deinit {
        workers.removeAll()
        daemon = nil
        for url in [bundle, directory] { try? FileManager.default.removeItem(at: url) }
    }

    /// A pipeline file: one worker per stage in process unless `remote`, all on one compute thread
    /// (as `predict --threads 1`, so results are bit for bit the same).
    /// `endpoints` fixes the frontend's and stages' endpoints (by stage name, "frontend"); in-process stages default to inproc.
    /// `batching` (max boxes, max wait) applies to localize and fuse; `proposals` are the generator's
    /// parameters (the `proposals` section's keys and values).
    func pipeline(queueLimit: Int = 64, heartbeatMilliseconds: Int = 1000, liveness: Int = 3, remote: [String] = [],
                  endpoints: [String: String] = [:], classEmbeddings: String = "16MiB", imageEmbeddings: String = "0",
                  maxBoxes: Int = 100, maxClasses: Int = 500, batching: (maxBoxes: Int, maxWaitMilliseconds: Int)? = nil,
                  proposals: KeyValuePairs<String, String> = [:]) throws -> String {
        var lines = [
            "frontend:", "  bind: \(endpoints["frontend"] ?? "tcp://127.0.0.1:*")", "  default_deadline_ms: 30000",
            "heartbeat:", "  interval_ms: \(heartbeatMilliseconds)", "  liveness: \(liveness)",
            "limits:", "  max_message_size: 1MiB", "  max_image_pixels: 1000000", "  max_boxes: \(maxBoxes)", "  max_classes: \(maxClasses)",
            "stages:",
        ]
        for name in ["localize", "semantic", "fuse"] {
            let isRemote = remote.contains(name)
            lines += ["  \(name):", "    workers: \(isRemote ? 0 : 1)", "    threads: 1",
                      "    endpoint: \(endpoints[name] ?? (isRemote ? "tcp://127.0.0.1:*" : "inproc://test.\(name)"))", "    queue_limit: \(queueLimit)"]
            if let batching, name != "semantic" {
                lines += ["    batching:", "      max_boxes: \(batching.maxBoxes)", "      max_wait_ms: \(batching.maxWaitMilliseconds)"]
            }
        }
        lines += ["caches:", "  image_embeddings: \(imageEmbeddings)", "  class_embeddings: \(classEmbeddings)"]
        if !proposals.isEmpty { lines += ["proposals:"] + proposals.map { "  \($0): \($1)" } }
        lines.append("")
        let url = directory.appendingPathComponent("pipeline-\(UUID().uuidString).yaml")
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Starts `regionspot serve` (in place of one that ran before) and waits for its ready line;
    /// with `cacheDirectory` it keeps class embeddings and registered vocabularies there.
    func serve(pipeline: String, extra: [String] = [], cacheDirectory: URL? = nil) throws {
        daemon = nil
        let cache = cacheDirectory.map { ["--cache-dir", $0.path] } ?? ["--no-disk-cache"]
        let process = try RunningProcess(["serve", "--model", bundle.path, "--pipeline", pipeline] + cache + extra)
        daemon = process
        let line = try process.line(containing: "ready on")
        // "regionspot serve: ready on tcp://127.0.0.1:P (localize E1, semantic E2, fuse E3)"
        let words = line.split(separator: " ").map(String.init)
        frontend = words[words.firstIndex(of: "on")! + 1]
        for name in ["localize", "semantic", "fuse"] {
            if let index = words.firstIndex(of: "(\(name)") ?? words.firstIndex(of: name) {
                stageEndpoints[name] = words[index + 1].trimmingCharacters(in: CharacterSet(charactersIn: ",)"))
            }
        }
    }

    /// Starts `regionspot worker` for `stage` and waits for its ready line.
    @discardableResult
    func startWorker(_ stage: String, heartbeatMilliseconds: Int = 1000, liveness: Int = 3, extra: [String] = []) throws -> RunningProcess {
        let process = try RunningProcess(["worker", "--stage", stage, "--connect", stageEndpoints[stage]!, "--model", bundle.path,
                                          "--threads", "1", "--no-disk-cache", "--heartbeat-ms", "\(heartbeatMilliseconds)",
                                          "--liveness", "\(liveness)"] + extra)
        workers.append(process)
        _ = try process.line(containing: "ready")
        return process
    }

    /// Asks for readiness until every stage has `workers` live workers, up to `timeout` seconds.
    func waitUntilReady(workers count: UInt32 = 1, timeout: Double = 30) throws {
        try waitFor("ready with \(count) workers per stage", timeout: timeout) {
            let reply = try call(.with { $0.readiness = .init() })
            return reply.readiness.ready && reply.readiness.stages.allSatisfy { $0.workers >= count }
        }
    }

    /// One request and its reply over a fresh REQ socket.
    func call(_ request: Regionspot_V1_Request, timeoutMilliseconds: Int32 = 20_000) throws -> Regionspot_V1_Reply {
        try call(bytes: request.serializedBytes(), timeoutMilliseconds: timeoutMilliseconds)
    }

    func call(bytes: [UInt8], timeoutMilliseconds: Int32 = 20_000) throws -> Regionspot_V1_Reply {
        let socket = try ZMQSocket(context: context, type: .req)
        try socket.set(.receiveTimeout, timeoutMilliseconds)
        try socket.connect(frontend)
        try socket.send([bytes])
        return try Regionspot_V1_Reply(serializedBytes: socket.receive()[0])
    }

    /// The fixture's recognition request (`image` in place of the fixture's encoded image, `boxes`
    /// of the fixture's box indices).
    func recognizeRequest(id: String = UUID().uuidString, vocabulary: [String]? = nil, deadlineMilliseconds: UInt32 = 0,
                          image: Data? = nil, boxes indices: [Int]? = nil) throws -> Regionspot_V1_Request {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: boxes))) as! [String: Any]
        let corners = json["boxes"] as! [[Double]], scores = json["scores"] as! [Double]
        let image = try image ?? Data(contentsOf: TinyBundle.image)
        let chosen = (indices ?? Array(corners.indices)).map { (corners[$0], scores[$0]) }
        return .with {
            $0.recognize = .with {
                $0.requestID = id
                $0.image = image
                $0.boxes = chosen.map { box, score in
                    .with { $0.x0 = Float(box[0]); $0.y0 = Float(box[1]); $0.x1 = Float(box[2]); $0.y1 = Float(box[3]); $0.score = Float(score) }
                }
                $0.vocabulary = vocabulary ?? self.vocabulary
                $0.topK = 3
                $0.deadlineMs = deadlineMilliseconds
            }
        }
    }
}

/// A DEALER client with several requests in flight, each reply matched by its request id.
final class AsyncClient {
    let socket: ZMQSocket
    /// When each request was sent (seconds since 1970), by id.
    private(set) var sentAt: [String: Double] = [:]

    init(_ fixture: DaemonFixture) throws {
        socket = try ZMQSocket(context: fixture.context, type: .dealer)
        try socket.set(.receiveTimeout, 60_000)
        try socket.connect(fixture.frontend)
    }

    func send(_ request: Regionspot_V1_Request) throws {
        sentAt[request.recognize.requestID] = Date().timeIntervalSince1970
        try socket.send([[], request.serializedBytes()])
    }

    /// The next reply, with the seconds since its request was sent.
    func receive() throws -> (reply: Regionspot_V1_RecognizeReply, seconds: Double) {
        let frames = try socket.receive()
        guard frames.count == 2, frames[0].isEmpty else { throw ProcessFailure("reply of \(frames.count) frames") }
        let reply = try Regionspot_V1_Reply(serializedBytes: frames[1]).recognize
        return (reply, Date().timeIntervalSince1970 - (sentAt[reply.requestID] ?? 0))
    }

    /// Replies to `count` requests, by id.
    func receive(_ count: Int) throws -> [String: (reply: Regionspot_V1_RecognizeReply, seconds: Double)] {
        var replies: [String: (reply: Regionspot_V1_RecognizeReply, seconds: Double)] = [:]
        for _ in 0..<count {
            let answer = try receive()
            replies[answer.reply.requestID] = answer
        }
        return replies
    }
}

extension DaemonFixture {
    /// Class names never asked for before, so that embedding them costs the text encoder; `seconds`
    /// sizes the list from the daemon's own measured cost per class (debug and release builds differ
    /// by 50×). The first call measures it.
    func slowVocabulary(seconds: Double) throws -> [String] {
        if millisecondsPerClass == nil {
            let probe = try call(recognizeRequest(vocabulary: freshNames(3)))
            try expectOK(probe.recognize)
            millisecondsPerClass = max(0.01, probe.recognize.timings.classEmbeddingsMs / 3)
        }
        return freshNames(min(480, max(2, Int(seconds * 1000 / millisecondsPerClass!))))
    }

    /// Asks `condition` (a round trip to the daemon) until it holds, up to `timeout` seconds.
    func waitFor(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
        }
        throw ProcessFailure("not \(what) within \(timeout) s")
    }

    func freshNames(_ count: Int) -> [String] {
        let tag = UUID().uuidString.prefix(8)
        return (0..<count).map { "thing \(tag) \($0)" }
    }

    func expectOK(_ reply: Regionspot_V1_RecognizeReply) throws {
        guard reply.status.code == .ok else { throw ProcessFailure("\(reply.status.code): \(reply.status.message)") }
    }
}
