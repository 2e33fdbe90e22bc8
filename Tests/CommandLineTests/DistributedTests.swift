import Foundation
import Imaging
import Pipeline
import PipelineProtocol
import RegionSpot
import Testing
import TestSupport

extension ServeTests {
    /// Broker and every stage as separate processes over tcp. While 8 clients send 100 requests,
    /// one of two localize workers is killed (kill -9) mid-stream and another started; before the
    /// second half of the stream the other original one is killed too, leaving only the new one.
    /// Every request is answered, with predict's labels.
    @Test func killingWorkersMidStreamLosesNoRequest() throws {
        let fixture = try DaemonFixture()
        let heartbeat = 200
        try fixture.serve(pipeline: fixture.pipeline(heartbeatMilliseconds: heartbeat, remote: ["localize", "semantic", "fuse"]))
        var localize = try (0..<2).map { _ in try fixture.startWorker("localize", heartbeatMilliseconds: heartbeat) }
        for stage in ["semantic", "fuse"] { try fixture.startWorker(stage, heartbeatMilliseconds: heartbeat) }
        try fixture.waitUntilReady()
        let expected = try Self.predicted(fixture)

        let request = try fixture.recognizeRequest().recognize
        let recognition = RecognitionRequest(image: .encoded(request.image, source: "image.png"), boxes: request.boxes.map {
            Box(x0: $0.x0, y0: $0.y0, x1: $0.x1, y1: $0.y1)
        }, boxScores: request.boxes.map(\.score), vocabulary: fixture.vocabulary, topK: 3)
        let total = 100, clients = 8
        let answered = Counter(), failures = Failures()
        let secondHalf = DispatchSemaphore(value: 0)  // each client waits here before its first request ≥ 50
        let start = Date()
        let group = DispatchGroup()
        for client in 0..<clients {
            group.enter()
            Thread {
                defer { group.leave() }
                guard let pipeline = try? PipelineClient(endpoint: fixture.frontend, timeoutMilliseconds: 20_000, retries: 2) else { return }
                var waited = false
                for index in stride(from: client, to: total, by: clients) {
                    if index >= total / 2 && !waited {
                        secondHalf.wait()
                        waited = true
                    }
                    do {
                        let result = try pipeline.recognize(recognition)
                        let labels = result.regions.map { region in
                            region.labels.map { PredictTests.Output.Region.Label(name: fixture.vocabulary[$0.classIndex], index: $0.classIndex, score: $0.score) }
                        }
                        if labels != expected { failures.add("request \(index): labels differ") }
                    } catch {
                        failures.add("request \(index): \(error)")
                    }
                    answered.increment()
                }
            }.start()
        }
        func waitForAnswers(_ count: Int) throws {
            try fixture.waitFor("\(count) answers", timeout: 120) {
                if answered.value < count { _ = try? fixture.call(.with { $0.health = .init() }) }
                return answered.value >= count
            }
        }
        try waitForAnswers(25)
        localize[0].signal(SIGKILL)
        localize.append(try fixture.startWorker("localize", heartbeatMilliseconds: heartbeat))
        try fixture.waitFor("the killed worker dead and the new one registered") {
            try fixture.call(.with { $0.readiness = .init() }).readiness.stages[0].workers == 2 && localize[0].exitStatus(within: 0) != nil
        }
        try waitForAnswers(total / 2)
        localize[1].signal(SIGKILL)
        for _ in 0..<clients { secondHalf.signal() }
        group.wait()
        let stats = try fixture.call(.with { $0.stats = .init() }).stats
        print("distributed: \(answered.value) of \(total) answered in \(String(format: "%.1f", Date().timeIntervalSince(start))) s, "
              + "localize items retried \(stats.stages[0].retried), completed \(stats.stages[0].completed); failures: \(failures.all.prefix(3))")
        #expect(answered.value == total && failures.all.isEmpty)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}

final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    var all: [String] { lock.withLock { messages } }
    func add(_ message: String) { lock.withLock { messages.append(message) } }
}

extension ServeTests {
    /// kill -9 of the broker while a client waits: started again on the same ports, it gets its
    /// workers back (they reconnect when it falls silent) and the client's retries get the answer.
    @Test func workersAndClientsSurviveABrokerRestart() throws {
        let fixture = try DaemonFixture()
        let heartbeat = 200
        let stages = ["localize", "semantic", "fuse"]
        try fixture.serve(pipeline: fixture.pipeline(heartbeatMilliseconds: heartbeat, remote: stages))
        for stage in stages { try fixture.startWorker(stage, heartbeatMilliseconds: heartbeat) }
        try fixture.waitUntilReady()
        let expected = try Self.predicted(fixture)
        let endpoints = fixture.stageEndpoints.merging(["frontend": fixture.frontend]) { $1 }

        fixture.daemon!.signal(SIGKILL)
        #expect(fixture.daemon!.exitStatus(within: 10) != nil)
        let request = try fixture.recognizeRequest()
        let answer = Failures()
        let finished = DispatchSemaphore(value: 0)
        let frontend = fixture.frontend
        Thread {
            defer { finished.signal() }
            do {
                let client = try PipelineClient(endpoint: frontend, timeoutMilliseconds: 2000, retries: 15)
                let reply = try client.call(request)
                answer.add(reply.recognize.status.code == .ok && Self.labels(reply.recognize) == expected ? "ok" : "\(reply.recognize.status)")
            } catch {
                answer.add("\(error)")
            }
        }.start()
        let restart = Date()
        try fixture.serve(pipeline: fixture.pipeline(heartbeatMilliseconds: heartbeat, remote: stages, endpoints: endpoints))
        try fixture.waitUntilReady()
        finished.wait()
        print("broker restart: workers back and the waiting client answered \(String(format: "%.1f", Date().timeIntervalSince(restart))) s after the restart began")
        #expect(answer.all == ["ok"])
    }
}

extension ServeTests {
    /// SIGTERM stops a worker with exit status 0, and its `Disconnect` makes the broker forget it
    /// at once rather than after its liveness (3 s here).
    @Test func aWorkerStoppedBySigtermLeavesAtOnce() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline(remote: ["fuse"]))
        let worker = try fixture.startWorker("fuse")
        try fixture.waitUntilReady()
        worker.signal(SIGTERM)
        let stopped = Date()
        try fixture.waitFor("the fuse worker forgotten", timeout: 2.5) {
            try fixture.call(.with { $0.readiness = .init() }).readiness.stages[2].workers == 0
        }
        print("worker SIGTERM: forgotten by the broker after \(Int(Date().timeIntervalSince(stopped) * 1000)) ms")
        #expect(worker.exitStatus(within: 10) == 0, "\(worker.standardError)")
        let readiness = try fixture.call(.with { $0.readiness = .init() }).readiness
        #expect(!readiness.ready && readiness.reason == "no live fuse worker")
    }
}
