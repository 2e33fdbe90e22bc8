import Foundation
import PipelineProtocol
import Testing
import TestSupport

/// `regionspot serve` and `regionspot client` as processes on 127.0.0.1: the client prints what
/// predict prints, the README's Python client gets the same labels, and the daemon's limits hold.
@Suite(.serialized) struct ServeTests {
    @Test func clientPrintsWhatPredictPrints() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline())
        let common = [TinyBundle.image.path, "--boxes", fixture.boxes, "--vocab", fixture.vocabulary.joined(separator: ","), "--top-k", "3", "--masks"]
        let predicted = try Executable.run(["predict", "--model", fixture.bundle.path, "--threads", "1", "--no-disk-cache"] + common)
        try #require(predicted.status == 0, "\(predicted.standardError)")
        let served = try Executable.run(["client", "--connect", fixture.frontend] + common)
        try #require(served.status == 0, "\(served.standardError)")
        #expect(served.standardOutput == predicted.standardOutput)

        let health = try Executable.run(["client", "--connect", fixture.frontend, "--health"])
        #expect(health.status == 0, "\(health.standardError)")
        let report = try JSONSerialization.jsonObject(with: Data(health.standardOutput.utf8)) as! [String: Any]
        #expect(report["ready"] as? Bool == true && report["draining"] as? Bool == false)
        #expect((report["stages"] as? [[String: Any]])?.map { $0["workers"] as? Int } == [1, 1, 1])
    }
}

extension ServeTests {
    /// A request with a 300 ms deadline behind two slow ones gets DEADLINE_EXCEEDED on time; the
    /// slow ones are answered.
    @Test func aTightDeadlineBehindSlowRequestsIsExceededOnTime() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline())
        try fixture.expectOK(fixture.call(fixture.recognizeRequest()).recognize)  // the fixture's vocabulary is cached now
        let client = try AsyncClient(fixture)
        let slow = try (0..<2).map { _ in try fixture.recognizeRequest(vocabulary: fixture.slowVocabulary(seconds: 1.5)) }
        for request in slow { try client.send(request) }
        let tight = try fixture.recognizeRequest(deadlineMilliseconds: 300)
        try client.send(tight)
        let replies = try client.receive(3)
        let expired = try #require(replies[tight.recognize.requestID])
        print("deadline 300 ms: DEADLINE_EXCEEDED after \(Int(expired.seconds * 1000)) ms")
        #expect(expired.reply.status.code == .deadlineExceeded, "\(expired.reply.status)")
        #expect(expired.reply.status.message.contains("semantic"), "\(expired.reply.status.message)")
        #expect(expired.seconds >= 0.29 && expired.seconds < 0.8)
        for request in slow { #expect(replies[request.recognize.requestID]?.reply.status.code == .ok) }
    }

    /// With room for two waiting items per stage, a burst behind a slow request is partly refused at
    /// once (requests still decoding count against the queues they are about to join).
    @Test func aFullQueueRefusesAtOnce() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline(queueLimit: 2))
        try fixture.expectOK(fixture.call(fixture.recognizeRequest()).recognize)
        let client = try AsyncClient(fixture)
        try client.send(fixture.recognizeRequest(vocabulary: fixture.slowVocabulary(seconds: 1.5)))
        let burst = try (0..<6).map { _ in try fixture.recognizeRequest() }
        for request in burst { try client.send(request) }
        let replies = try client.receive(7)
        let codes = replies.values.map(\.reply.status.code)
        let refused = replies.values.filter { $0.reply.status.code == .resourceExhausted }
        print("queue limit 2: \(refused.count) of 7 refused, after at most \(Int((refused.map(\.seconds).max() ?? 0) * 1000)) ms")
        #expect(refused.count >= 1 && codes.allSatisfy { $0 == .ok || $0 == .resourceExhausted })
        #expect(refused.allSatisfy { $0.seconds < 0.5 && $0.reply.status.message.contains("queue full") })
        #expect(codes.filter { $0 == .ok }.count >= 2)
    }

    /// SIGTERM: requests in flight are answered, new ones get UNAVAILABLE, and the daemon exits 0.
    @Test func sigtermDrains() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline())
        let client = try AsyncClient(fixture)
        let slow = try (0..<2).map { _ in try fixture.recognizeRequest(vocabulary: fixture.slowVocabulary(seconds: 1)) }
        for request in slow { try client.send(request) }
        try fixture.waitFor("both requests in flight") { try fixture.call(.with { $0.stats = .init() }).stats.inFlight == 2 }
        fixture.daemon!.signal(SIGTERM)
        // Health answers while draining, and says so once the signal has arrived.
        try fixture.waitFor("draining") { try fixture.call(.with { $0.health = .init() }).health.draining }
        let refused = try fixture.call(fixture.recognizeRequest()).recognize
        #expect(refused.status.code == .unavailable && refused.status.message.contains("shutting down"))
        let replies = try client.receive(2)
        for request in slow { #expect(replies[request.recognize.requestID]?.reply.status.code == .ok) }
        #expect(fixture.daemon!.exitStatus(within: 10) == 0, "\(fixture.daemon!.standardError)")
    }
}

extension ServeTests {
    /// The pipeline file's class-embedding cache size is the daemon's: 0 keeps none.
    @Test(arguments: [("16MiB", true), ("0", false)])
    func theClassEmbeddingCacheIsThePipelineFiles(size: String, hit: Bool) throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline(classEmbeddings: size))
        try fixture.expectOK(fixture.call(fixture.recognizeRequest()).recognize)
        let again = try fixture.call(fixture.recognizeRequest()).recognize
        try fixture.expectOK(again)
        #expect(again.timings.classEmbeddingsCacheHit == hit)
    }
}
