import Foundation
import PipelineProtocol
import Testing
import TestSupport

/// `batching` on localize and fuse: concurrent requests computed together get, bit for bit, the
/// replies they get alone.
@Suite(.serialized) struct BatchingTests {
    @Test func batchedRepliesEqualUnbatchedOnes() throws {
        let fixture = try DaemonFixture()
        let other = try ImageCacheTests.otherImage()
        // Three requests on the fixture image, two on another, with different boxes.
        let requests = try [[0, 1], [2, 3, 4], [1, 2], [0, 4], [3]].enumerated().map { index, boxes in
            try fixture.recognizeRequest(id: "r\(index)", image: index >= 3 ? other : nil, boxes: boxes)
        }
        try fixture.serve(pipeline: fixture.pipeline())
        var alone: [String: Regionspot_V1_RecognizeReply] = [:]
        for request in requests {
            let reply = try fixture.call(request).recognize
            try fixture.expectOK(reply)
            alone[reply.requestID] = reply
        }

        try fixture.serve(pipeline: fixture.pipeline(batching: (maxBoxes: 100, maxWaitMilliseconds: 400)))
        let client = try AsyncClient(fixture)
        for request in requests { try client.send(request) }
        let together = try client.receive(requests.count)
        for request in requests {
            let id = request.recognize.requestID
            try fixture.expectOK(try #require(together[id]).reply)
            #expect(together[id]?.reply.regions == alone[id]?.regions, "\(id)")
        }
        // Fuse items computed in one pass report its time, and localize items on one image its one
        // encoding (no cache here): fewer distinct times than requests.
        let fusionTimes = Set(together.values.map(\.reply.timings.fusionMs))
        let encoderTimes = Set(together.values.map(\.reply.timings.samEncoderMs))
        print("batching: \(requests.count) requests in \(fusionTimes.count) fusion passes, \(encoderTimes.count) SAM encodings")
        #expect(fusionTimes.count < requests.count && encoderTimes.count < requests.count)
    }
}
