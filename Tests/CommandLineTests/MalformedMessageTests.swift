import Foundation
import PipelineProtocol
import Testing
import TestSupport
import ZeroMQ

extension ServeTests {
    /// The labels and scores `predict` gives the fixture request, box by box.
    static func predicted(_ fixture: DaemonFixture, topK: Int = 3) throws -> [[PredictTests.Output.Region.Label]] {
        let result = try Executable.run(["predict", "--model", fixture.bundle.path, "--threads", "1", "--no-disk-cache", TinyBundle.image.path,
                                         "--boxes", fixture.boxes, "--vocab", fixture.vocabulary.joined(separator: ","), "--top-k", "\(topK)"])
        try #require(result.status == 0, "\(result.standardError)")
        return try JSONDecoder().decode(PredictTests.Output.self, from: Data(result.standardOutput.utf8)).regions.map(\.labels)
    }

    static func labels(_ reply: Regionspot_V1_RecognizeReply) -> [[PredictTests.Output.Region.Label]] {
        reply.regions.map { $0.labels.map { .init(name: $0.name, index: Int($0.index), score: $0.score) } }
    }

    /// 1,000 malformed messages of 18 kinds, with a valid request after every 20: each malformed
    /// one gets its code, each valid one predict's answer; the daemon lives on, its memory flat.
    @Test func malformedMessagesAreAnsweredAndChangeNothing() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline())
        let expected = try Self.predicted(fixture)
        let valid = try fixture.recognizeRequest()
        func edited(_ edit: (inout Regionspot_V1_RecognizeRequest) -> Void) throws -> [UInt8] {
            var request = valid
            edit(&request.recognize)
            return try request.serializedBytes()
        }
        let png = valid.recognize.image
        var ready = Regionspot_V1_WorkerMessage()
        ready.ready = .with { $0.stage = .fuse; $0.workerID = "intruder"; $0.credit = 5 }

        // (kind, frames after the delimiter, code, start of the message)
        let kinds: [(String, [[UInt8]], Regionspot_V1_Code, String)] = [
            ("not protobuf", [[0x0F, 0x01, 0xFF]], .invalidArgument, "request:"),
            ("empty envelope", [[]], .invalidArgument, "request: no kind"),
            // Parsed as a Request, a worker's Ready is a recognition whose image is the worker id, with no boxes.
            ("a worker's message", [try ready.serializedBytes()], .invalidArgument, "boxes: empty"),
            ("two frames", [try valid.serializedBytes(), [1]], .invalidArgument, "message:"),
            ("no image", [try edited { $0.imageSource = nil }], .invalidArgument, "image: missing"),
            ("not an image", [try edited { $0.image = Data("GIF89a, or so it says".utf8) }], .invalidArgument, "image:"),
            ("truncated image", [try edited { $0.image = png.prefix(png.count / 2) }], .invalidArgument, "image:"),
            ("decompression bomb", [try edited { $0.image = DecompressionBomb.png(from: png) }], .invalidArgument, "image:"),
            ("image path", [try edited { $0.imagePath = "/etc/passwd" }], .permissionDenied, "image_path:"),
            ("no boxes", [try edited { $0.boxes = [] }], .invalidArgument, "boxes: empty"),
            ("too many boxes", [try edited { $0.boxes = Array(repeating: $0.boxes[0], count: 101) }], .invalidArgument, "boxes: 101"),
            ("NaN box", [try edited { $0.boxes[1].y0 = .nan }], .invalidArgument, "boxes[1]:"),
            ("infinite box", [try edited { $0.boxes[2].x1 = .infinity }], .invalidArgument, "boxes[2]:"),
            ("box outside the image", [try edited { $0.boxes[0].x1 = 81 }], .invalidArgument, "boxes[0]:"),
            ("empty vocabulary", [try edited { $0.vocabulary = [] }], .invalidArgument, "vocabulary: empty"),
            ("oversized vocabulary", [try edited { $0.vocabulary = (0..<501).map { "c\($0)" } }], .invalidArgument, "vocabulary: 501"),
            ("class name too long for CLIP", [try edited { $0.vocabulary = ["cat", String(repeating: "very ", count: 80) + "long"] }],
             .invalidArgument, "vocabulary: class \"very"),
            ("unknown vocabulary name", [try edited { $0.vocabulary = []; $0.vocabularyName = "lvis" }], .notFound, "vocabulary_name:"),
        ]
        let socket = try ZMQSocket(context: fixture.context, type: .dealer)
        try socket.set(.receiveTimeout, 30_000)
        try socket.connect(fixture.frontend)
        func exchange(_ frames: [[UInt8]]) throws -> Regionspot_V1_Reply {
            try socket.send([[]] + frames)
            let reply = try socket.receive()
            return try Regionspot_V1_Reply(serializedBytes: reply.last!)
        }
        var memoryAfterWarmUp = 0, validAnswered = 0, counts: [String: Int] = [:]
        let start = Date()
        for index in 0..<1000 {
            if index % 20 == 0 {
                let reply = try exchange([try valid.serializedBytes()]).recognize
                #expect(reply.status.code == .ok && Self.labels(reply) == expected, "valid request \(index / 20): \(reply.status)")
                validAnswered += 1
            }
            let (kind, frames, code, prefix) = kinds[index % kinds.count]
            let reply = try exchange(frames)
            let status = reply.recognize.hasStatus ? reply.recognize.status : reply.error.status
            #expect(status.code == code && status.message.hasPrefix(prefix), "\(kind): \(status)")
            counts[kind, default: 0] += 1
            if index == 99 { memoryAfterWarmUp = fixture.daemon!.residentKilobytes() ?? 0 }
        }
        // A frame over max_message_size (1 MiB) cuts off its sender only.
        let oversized = try ZMQSocket(context: fixture.context, type: .dealer)
        try oversized.connect(fixture.frontend)
        try oversized.send([[], [UInt8](repeating: 7, count: 2 << 20)])
        let silence = try poll([(oversized, .readable)], timeoutMilliseconds: 500)
        #expect(!silence[0].contains(.readable))
        let after = try exchange([try valid.serializedBytes()]).recognize
        #expect(after.status.code == .ok && Self.labels(after) == expected)
        let memoryAtEnd = fixture.daemon!.residentKilobytes() ?? 0
        print("malformed: 1000 of \(counts.count) kinds and \(validAnswered + 1) valid in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; "
              + "VmRSS \(memoryAfterWarmUp / 1024) MB after 100, \(memoryAtEnd / 1024) MB at the end")
        #expect(counts.count >= 12 && counts.values.reduce(0, +) == 1000)
        #expect(memoryAtEnd - memoryAfterWarmUp < 32 * 1024, "VmRSS grew from \(memoryAfterWarmUp) kB to \(memoryAtEnd) kB")
        #expect(try fixture.call(.with { $0.health = .init() }).health.status.code == .ok)
    }
}
