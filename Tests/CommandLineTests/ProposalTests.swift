import Foundation
import PipelineProtocol
import Testing
import TestSupport

/// Requests without boxes (PROPOSALS_SAM): the daemon, in process or with a localize worker of its
/// own, and `watch` without a sidecar label the regions SAM's generator proposes exactly as
/// `predict --proposals sam` does with the same generator parameters.
@Suite(.serialized) struct ProposalTests {
    /// Lowered so that the tiny bundle's SAM keeps some masks (as PredictTests' proposals test).
    static let generator: KeyValuePairs<String, String> = [
        "points_per_side": "4", "pred_iou_thresh": "0", "stability_score_thresh": "0.01",
        "stability_score_offset": "0.05", "box_nms_thresh": "1",
    ]
    /// predict's options for a pipeline file's `proposals` section (`--points-per-side 4`…).
    static func options(_ section: KeyValuePairs<String, String>) -> [String] {
        section.flatMap { ["--" + $0.key.replacingOccurrences(of: "_", with: "-"), $0.value] }
    }

    static func predicted(_ fixture: DaemonFixture, _ common: [String], generator: KeyValuePairs<String, String> = generator) throws -> String {
        let predicted = try Executable.run(["predict", "--model", fixture.bundle.path, "--threads", "1", "--no-disk-cache",
                                            "--proposals", "sam"] + options(generator) + common)
        try #require(predicted.status == 0, "\(predicted.standardError)")
        return predicted.standardOutput
    }

    @Test(arguments: [[], ["localize"]])
    func clientPrintsWhatPredictPrints(remote: [String]) throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline(remote: remote, proposals: Self.generator))
        for stage in remote { try fixture.startWorker(stage) }
        try fixture.waitUntilReady()
        let common = [TinyBundle.image.path, "--vocab", fixture.vocabulary.joined(separator: ","), "--top-k", "3", "--masks"]
        let predicted = try Self.predicted(fixture, common)
        let regions = try #require((try JSONSerialization.jsonObject(with: Data(predicted.utf8)) as? [String: Any])?["regions"] as? [Any])
        #expect(regions.count > 1)
        let served = try Executable.run(["client", "--connect", fixture.frontend, "--proposals", "sam"] + common)
        try #require(served.status == 0, "\(served.standardError)")
        #expect(served.standardOutput == predicted)
    }

    /// A second request about the same image has the generator run on the cached SAM embedding,
    /// with the same regions: proposed boxes scored by predicted IoU.
    @Test func theImageEmbeddingCacheServesProposals() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline(imageEmbeddings: "64MiB", proposals: Self.generator))
        var request = try fixture.recognizeRequest(boxes: [])
        request.recognize.proposals = .sam
        let first = try fixture.call(request).recognize
        try fixture.expectOK(first)
        request.recognize.requestID = UUID().uuidString
        let second = try fixture.call(request).recognize
        try fixture.expectOK(second)
        #expect(!first.timings.imageEmbeddingCacheHit && second.timings.imageEmbeddingCacheHit)
        #expect(first.regions.count > 1 && second.regions == first.regions)
        #expect(first.regions.allSatisfy { $0.box.hasScore })
    }

    /// With localize batching, a proposals request sent together with a boxes request is computed
    /// in a batch of its own, and both get the regions they get alone.
    @Test func batchingKeepsProposalsApart() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline(batching: (maxBoxes: 8, maxWaitMilliseconds: 50), proposals: Self.generator))
        var proposals = try fixture.recognizeRequest(boxes: [])
        proposals.recognize.proposals = .sam
        let boxes = try fixture.recognizeRequest()
        let client = try AsyncClient(fixture)
        try client.send(proposals)
        try client.send(boxes)
        let together = try client.receive(2)
        for request in [proposals, boxes] {
            var alone = request
            alone.recognize.requestID = UUID().uuidString
            let reply = try fixture.call(alone).recognize
            try fixture.expectOK(reply)
            let batched = try #require(together[request.recognize.requestID]?.reply)
            #expect(batched.status.code == .ok && batched.regions == reply.regions && !reply.regions.isEmpty)
        }
    }

    /// A generator that keeps no mask: an OK reply without regions, as predict prints none.
    @Test func noProposalIsAnAnswerWithoutRegions() throws {
        let fixture = try DaemonFixture()
        let keepsNone: KeyValuePairs<String, String> = ["points_per_side": "4", "pred_iou_thresh": "1"]
        try fixture.serve(pipeline: fixture.pipeline(proposals: keepsNone))
        let common = [TinyBundle.image.path, "--vocab", fixture.vocabulary.joined(separator: ",")]
        let predicted = try Self.predicted(fixture, common, generator: keepsNone)
        #expect(try JSONDecoder().decode(PredictTests.Output.self, from: Data(predicted.utf8)).regions.isEmpty)
        let served = try Executable.run(["client", "--connect", fixture.frontend, "--proposals", "sam"] + common)
        #expect(served.status == 0 && served.standardOutput == predicted, "\(served.standardError)")
    }

    /// Boxes with PROPOSALS_SAM, or neither: INVALID_ARGUMENT naming `boxes`.
    @Test func boxesWithProposalsAreRefused() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline(proposals: Self.generator))
        var both = try fixture.recognizeRequest()
        both.recognize.proposals = .sam
        let refused = try fixture.call(both).recognize
        #expect(refused.status.code == .invalidArgument)
        #expect(refused.status.message.hasPrefix("boxes: \(both.recognize.boxes.count) given with proposals PROPOSALS_SAM"), "\(refused.status.message)")
        var neither = try fixture.recognizeRequest(boxes: [])
        neither.recognize.proposals = .none
        let empty = try fixture.call(neither).recognize
        #expect(empty.status.code == .invalidArgument && empty.status.message.hasPrefix("boxes: empty"), "\(empty.status.message)")
        let client = try Executable.run(["client", "--connect", fixture.frontend, TinyBundle.image.path, "--vocab", "a",
                                         "--proposals", "sam", "--boxes", fixture.boxes])
        #expect(client.status != 0 && client.standardError.contains("give --boxes or --proposals, not both"), "\(client.standardError)")
    }

    /// Past `max_boxes`, the proposals of highest predicted IoU are kept, in the generator's order.
    @Test func proposalsBeyondMaxBoxesKeepTheBest() throws {
        let fixture = try DaemonFixture()
        let common = [TinyBundle.image.path, "--vocab", fixture.vocabulary.joined(separator: ",")]
        let all = try JSONDecoder().decode(PredictTests.Output.self, from: Data(Self.predicted(fixture, common).utf8)).regions
        let limit = 3
        try #require(all.count > limit)
        try fixture.serve(pipeline: fixture.pipeline(maxBoxes: limit, proposals: Self.generator))
        let served = try Executable.run(["client", "--connect", fixture.frontend, "--proposals", "sam"] + common)
        try #require(served.status == 0, "\(served.standardError)")
        let kept = try JSONDecoder().decode(PredictTests.Output.self, from: Data(served.standardOutput.utf8)).regions
        // The fusion module attends across an image's regions, so only boxes and scores are comparable.
        let best = all.indices.sorted { (all[$0].box_score!, $1) > (all[$1].box_score!, $0) }.prefix(limit).sorted()
        #expect(kept.map(\.box) == best.map { all[$0].box })
        #expect(kept.map(\.box_score) == best.map { all[$0].box_score })
        #expect(waitUntil(timeout: 10) { fixture.daemon!.standardError.contains("proposals capped at max_boxes") })
    }

    /// `watch --proposals sam` on an image without a sidecar writes predict's regions, in process
    /// and through a daemon whose pipeline file has the same generator parameters.
    @Test func watchWithoutASidecarWritesWhatPredictPrints() throws {
        let scene = try WatchTests.Scene()
        defer { scene.cleanUp() }
        let fixture = try DaemonFixture()
        let vocabulary = WatchTests.vocabulary.joined(separator: ",")
        let expected = try WatchTests.Scene.regions(Data(Self.predicted(fixture, [TinyBundle.image.path, "--vocab", vocabulary]).utf8))
        try FileManager.default.copyItem(at: TinyBundle.image, to: scene.inbox.appendingPathComponent("local.png"))
        let local = try scene.watch(["--once", "--proposals", "sam"] + Self.options(Self.generator))
        #expect(local.exitStatus(within: 120) == 0, "\(local.standardError)")
        let written = try WatchTests.Scene.regions(Data(contentsOf: scene.out.appendingPathComponent("local.regions.json")))
        #expect(written.count > 1 && written == expected)

        try fixture.serve(pipeline: fixture.pipeline(proposals: Self.generator))
        try FileManager.default.copyItem(at: TinyBundle.image, to: scene.inbox.appendingPathComponent("remote.png"))
        let remote = try RunningProcess(["watch", scene.inbox.path, "--out", scene.out.path, "--connect", fixture.frontend,
                                         "--vocab", vocabulary, "--once", "--proposals", "sam"])
        #expect(remote.exitStatus(within: 120) == 0, "\(remote.standardError)")
        #expect(try WatchTests.Scene.regions(Data(contentsOf: scene.out.appendingPathComponent("remote.regions.json"))) == expected)
    }
}
