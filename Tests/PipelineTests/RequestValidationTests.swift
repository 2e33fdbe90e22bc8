import Foundation
import Imaging
import PipelineProtocol
import Testing
import TestSupport
@testable import Pipeline

/// Every malformed request is refused with the right code and a message naming the field.
@Suite struct RequestValidationTests {
    static let limits = PipelineConfiguration.Limits(maxMessageBytes: 1 << 20, maxImagePixels: 10_000, maxBoxes: 3, maxClasses: 4)

    static func valid() throws -> Regionspot_V1_RecognizeRequest {
        var request = Regionspot_V1_RecognizeRequest()
        request.requestID = "r"
        request.image = try RGBImage(width: 40, height: 30, color: RGB(1, 2, 3)).encoded(as: .png)
        request.boxes = [.with { $0.x0 = 1; $0.y0 = 2; $0.x1 = 40; $0.y1 = 30 }]
        request.vocabulary = ["cat", "dog"]
        return request
    }

    func refusal(_ edit: (inout Regionspot_V1_RecognizeRequest) -> Void) throws -> RequestRefusal? {
        var request = try Self.valid()
        edit(&request)
        if let refusal = RequestValidation.check(request, limits: Self.limits) { return refusal }
        if case .failure(let refusal) = RequestValidation.decode(request, maxPixels: Self.limits.maxImagePixels) { return refusal }
        return nil
    }

    @Test func aValidRequestPasses() throws {
        #expect(try refusal { _ in } == nil)
    }

    /// No boxes with PROPOSALS_SAM: SAM's generator proposes them.
    @Test func aRequestForProposalsPasses() throws {
        #expect(try refusal { $0.boxes = []; $0.proposals = .sam } == nil)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let field: String
        let code: Regionspot_V1_Code
        let edit: @Sendable (inout Regionspot_V1_RecognizeRequest) -> Void
        init(_ field: String, _ code: Regionspot_V1_Code, edit: @escaping @Sendable (inout Regionspot_V1_RecognizeRequest) -> Void) {
            (self.field, self.code, self.edit) = (field, code, edit)
        }
        var testDescription: String { field }
    }

    static let cases: [Case] = [
        Case("image", .invalidArgument) { $0.imageSource = nil },
        Case("image: empty", .invalidArgument) { $0.image = Data() },
        Case("image_path", .permissionDenied) { $0.imagePath = "/etc/passwd" },
        Case("image:", .invalidArgument) { $0.image = Data("not an image".utf8) },
        Case("image:", .invalidArgument) { $0.image = $0.image.prefix(40) },
        Case("boxes: empty", .invalidArgument) { $0.boxes = [] },
        Case("boxes: 4 boxes", .invalidArgument) { $0.boxes = Array(repeating: $0.boxes[0], count: 4) },
        Case("boxes[0]: corners must be finite", .invalidArgument) { $0.boxes[0].x1 = .nan },
        Case("boxes[0]: expected x0 ≤ x1", .invalidArgument) { $0.boxes[0].x0 = 50 },
        Case("boxes[0]: [1.0, 2.0, 41.0, 30.0] lies outside", .invalidArgument) { $0.boxes[0].x1 = 41 },
        Case("boxes[0].score", .invalidArgument) { $0.boxes[0].score = 2 },
        Case("vocabulary: empty", .invalidArgument) { $0.vocabulary = [] },
        Case("vocabulary: 5 classes", .invalidArgument) { $0.vocabulary = ["a", "b", "c", "d", "e"] },
        Case("vocabulary[1]: empty", .invalidArgument) { $0.vocabulary = ["a", " "] },
        Case("vocabulary[1]: 'a' repeats vocabulary[0]", .invalidArgument) { $0.vocabulary = ["a", "a"] },
        Case("vocabulary, vocabulary_name", .invalidArgument) { $0.vocabularyName = "lvis" },
        Case("vocabulary_name: no vocabulary named 'lvis'", .notFound) { $0.vocabulary = []; $0.vocabularyName = "lvis" },
        Case("boxes: 1 given with proposals PROPOSALS_SAM", .invalidArgument) { $0.proposals = .sam },
        Case("proposals: unknown value 7", .invalidArgument) { $0.proposals = .UNRECOGNIZED(7); $0.boxes = [] },
        Case("request_id", .invalidArgument) { $0.requestID = String(repeating: "x", count: 300) },
    ]

    @Test(arguments: cases)
    func malformedRequestsAreRefused(_ test: Case) throws {
        let refused = try #require(try refusal(test.edit))
        #expect(refused.code == test.code)
        #expect(refused.message.hasPrefix(test.field), "\(refused.message)")
    }

    /// A PNG whose header claims 100,000 × 100,000 pixels is refused from the header alone.
    @Test func aDecompressionBombIsRefusedBeforeDecoding() throws {
        var request = try Self.valid()
        request.image = DecompressionBomb.png(from: request.image)
        guard case .failure(let refusal) = RequestValidation.decode(request, maxPixels: Self.limits.maxImagePixels) else {
            Issue.record("a bomb was decoded")
            return
        }
        #expect(refusal.code == .invalidArgument && refusal.message.contains("decompression bomb"), "\(refusal.message)")
    }
}
