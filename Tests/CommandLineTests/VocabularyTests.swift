import Foundation
import PipelineProtocol
import Testing
import TestSupport
import ZeroMQ

/// `RegisterVocabulary`: class embeddings computed once, on disk across restarts, named by later
/// requests; a long registration blocks no request and reports its progress.
@Suite(.serialized) struct VocabularyTests {
    static func register(_ name: String, _ classNames: [String], templates: [String] = []) -> Regionspot_V1_Request {
        .with {
            $0.registerVocabulary = .with {
                $0.requestID = "register-\(name)"
                $0.name = name
                $0.classNames = classNames
                $0.templates = templates
            }
        }
    }

    static func named(_ fixture: DaemonFixture, _ name: String) throws -> Regionspot_V1_RecognizeReply {
        var request = try fixture.recognizeRequest()
        request.recognize.vocabulary = []
        request.recognize.vocabularyName = name
        return try fixture.call(request).recognize
    }

    @Test func aRegisteredVocabularyOutlivesARestartAndGivesWhatItsNamesGive() throws {
        let fixture = try DaemonFixture()
        let cache = fixture.directory.appendingPathComponent("cache")
        let pipeline = try fixture.pipeline()
        try fixture.serve(pipeline: pipeline, cacheDirectory: cache)
        let registered = try fixture.call(Self.register("tiny.v1", fixture.vocabulary)).registerVocabulary
        #expect(registered.status.code == .ok, "\(registered.status)")
        #expect(registered.name == "tiny.v1" && registered.classes == UInt32(fixture.vocabulary.count) && registered.requestID == "register-tiny.v1")
        let inline = try fixture.call(fixture.recognizeRequest()).recognize
        let byName = try Self.named(fixture, "tiny.v1")
        try fixture.expectOK(inline)
        try fixture.expectOK(byName)
        #expect(byName.regions == inline.regions)
        #expect(byName.timings.classEmbeddingsCacheHit)

        try fixture.serve(pipeline: pipeline, cacheDirectory: cache)  // a restart
        let afterRestart = try Self.named(fixture, "tiny.v1")
        try fixture.expectOK(afterRestart)
        #expect(afterRestart.regions == inline.regions)
        #expect(try Self.named(fixture, "tiny.v2").status.code == .notFound)

        let templated = try fixture.call(Self.register("templated", fixture.vocabulary, templates: ["a photo of a {}.", "a {}"])).registerVocabulary
        #expect(templated.status.code == .ok, "\(templated.status)")
        try fixture.expectOK(Self.named(fixture, "templated"))
        for (request, field) in [(Self.register("../escape", ["cat"]), "name:"), (Self.register("", ["cat"]), "name:"),
                                 (Self.register("x", []), "class_names:"), (Self.register("x", ["cat", "cat"]), "class_names[1]:"),
                                 (Self.register("x", ["cat"], templates: ["no placeholder"]), "templates[0]:")] {
            let refused = try fixture.call(request).registerVocabulary
            #expect(refused.status.code == .invalidArgument && refused.status.message.hasPrefix(field), "\(refused.status)")
        }
    }

    @Test func aLongRegistrationBlocksNoRequestAndLogsItsProgress() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline(maxClasses: 2000))
        try fixture.expectOK(fixture.call(fixture.recognizeRequest()).recognize)  // the fixture's vocabulary is cached now
        _ = try fixture.slowVocabulary(seconds: 0)  // measures the cost per class
        let names = fixture.freshNames(min(2000, max(300, Int(4000 / fixture.millisecondsPerClass!))))
        let socket = try ZMQSocket(context: fixture.context, type: .dealer)
        try socket.set(.receiveTimeout, 120_000)
        try socket.connect(fixture.frontend)
        try socket.send([[], Self.register("long", names).serializedBytes()])
        try socket.send([[], fixture.recognizeRequest(id: "meanwhile").serializedBytes()])
        let replies = try (0..<2).map { _ in try Regionspot_V1_Reply(serializedBytes: socket.receive()[1]) }
        #expect(replies[0].recognize.requestID == "meanwhile" && replies[0].recognize.status.code == .ok, "\(replies[0])")
        #expect(replies[1].registerVocabulary.status.code == .ok && replies[1].registerVocabulary.classes == UInt32(names.count),
                "\(replies[1])")
        print("registered \(names.count) classes in \(Int(replies[1].registerVocabulary.elapsedMs)) ms; a request meanwhile took "
              + "\(Int(replies[0].recognize.timings.totalMs)) ms")
        #expect(fixture.daemon!.standardError.contains("classes embedded"), "\(fixture.daemon!.standardError.suffix(2000))")
        try fixture.expectOK(VocabularyTests.named(fixture, "long"))
    }
}
